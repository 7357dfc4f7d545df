"""办不成事 cases: filing, deadlines, the lifecycle and its append-only trail, on the suite's database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from bot.typedefs import DB
from core.clock import SHANGHAI
from core.errors import Conflict, InvalidInput, NotFound
from core.phones import mask_phone, normalise_phone
from handoff.case_models import AppendOnlyError, CaseEvent
from handoff.case_rules import CaseRules
from handoff.evaluations import EvaluationStore
from tests.handoff.conftest import FrozenClock, draft, make_service


def test_phone_numbers_are_read_as_typed_and_masked_when_repeated() -> None:
    assert normalise_phone("１３９-1234-5678") == "13912345678"
    assert normalise_phone("+86 139 1234 5678") == "13912345678"
    assert normalise_phone("0756-1234567") == "07561234567"
    assert normalise_phone("12345") is None
    assert normalise_phone("23912345678") is None
    assert mask_phone("13912345678") == "139****5678"


def test_rules_classify_the_three_kinds_and_complexity() -> None:
    rules = CaseRules.load()
    assert rules.classify("符合条件，窗口就是拖着不给办") == ("不给办", "simple")
    assert rules.classify("跑了三趟还是办不成，材料太多") == ("很难办", "simple")
    assert rules.classify("说我不符合条件，政策不允许，办不了") == ("办不了", "impossible")
    assert rules.classify("涉及好几个部门，历史遗留问题，跑了好几次")[1] == "complex"
    assert rules.classify("说不清楚") == ("很难办", "simple")  # no signal: the default, for staff to check
    assert rules.route("社保卡补办不了", None)[0] == "社保医保"
    assert rules.days_for("simple") == 3 and rules.days_for("complex") == 7 and rules.days_for("impossible") == 3


async def test_filing_numbers_the_case_and_sets_the_due_date_in_working_days(client: TestClient,
                                                                              clock: FrozenClock) -> None:
    service = make_service(client, clock)
    case, created = await service.file(draft())
    assert created
    assert case.case_no == "BBC20261122-0001"
    assert case.phone == "13912345678"
    assert (case.category, case.complexity, case.days) == ("很难办", "simple", 3)
    # Accepted on Sunday: the day itself is not counted; Mon, Tue, Wed → Wednesday 17:30.
    assert case.due_date == date(2026, 11, 25)
    assert case.due_at == datetime(2026, 11, 25, 17, 30, tzinfo=SHANGHAI)
    assert case.warn_at == datetime(2026, 11, 24, 17, 30, tzinfo=SHANGHAI)
    second, _ = await service.file(draft(phone="13800000000", happened="窗口拖着不给办营业执照变更"))
    assert second.case_no == "BBC20261122-0002"
    assert second.category == "不给办"
    events = await service.events(case, public_only=True)
    assert [e.kind for e in events] == ["accepted", "classified"]


async def test_the_same_complaint_twice_within_minutes_files_one_case(client: TestClient,
                                                                      clock: FrozenClock) -> None:
    service = make_service(client, clock)
    first, created = await service.file(draft(request_key="web:abc:m1"))
    clock.moment += timedelta(minutes=3)
    again, created_again = await service.file(draft(request_key="web:abc:m2", phone="13912345678"))
    retried, created_retry = await service.file(draft(request_key="web:abc:m1", happened="重发的同一条消息"))
    assert created and not created_again and not created_retry
    assert again.case_no == retried.case_no == first.case_no
    clock.moment += timedelta(hours=2)
    later, created_later = await service.file(draft(request_key="web:abc:m3"))
    assert created_later and later.case_no != first.case_no  # hours later it is a new complaint


async def test_bad_drafts_are_refused_with_a_reason(client: TestClient, clock: FrozenClock) -> None:
    service = make_service(client, clock)
    with pytest.raises(InvalidInput, match="手机号"):
        await service.file(draft(phone="12345"))
    with pytest.raises(InvalidInput, match="happened"):
        await service.file(draft(happened="  "))
    with pytest.raises(InvalidInput, match="2000"):
        await service.file(draft(happened="很" * 2001))


async def test_reclassify_recomputes_the_deadline_from_acceptance(client: TestClient, clock: FrozenClock) -> None:
    service = make_service(client, clock)
    case, _ = await service.file(draft())
    clock.set(2026, 11, 24)
    with pytest.raises(InvalidInput):
        await service.reclassify(case.case_no, "staff:li", category="很难办", complexity="complex", reason="")
    case = await service.reclassify(case.case_no, "staff:li", category="不给办", complexity="complex",
                                    reason="涉及公积金中心和住建局两个部门")
    assert (case.category, case.days) == ("不给办", 7)
    assert case.due_date == date(2026, 12, 1)  # 7 working days from Sunday 11-22, not from today
    trail = await service.events(case, public_only=False)
    assert trail[-1].kind == "reclassified"
    assert trail[-1].actor == "staff:li"
    assert trail[-1].note == "涉及公积金中心和住建局两个部门"
    assert trail[-1].data["from"]["category"] == "很难办"


async def test_pausing_for_missing_papers_moves_the_deadline_by_the_paused_working_days(
        client: TestClient, clock: FrozenClock) -> None:
    service = make_service(client, clock)
    case, _ = await service.file(draft())
    clock.set(2026, 11, 23, 15)
    case = await service.pause(case.case_no, "staff:li", reason="请补交租房合同备案证明")
    with pytest.raises(Conflict):
        await service.pause(case.case_no, "staff:li", reason="again")
    assert service.light(case, datetime(2026, 12, 31, tzinfo=UTC)) == "green"  # paused: no light changes
    clock.set(2026, 11, 25, 9)  # Tue and Wed spent waiting
    case = await service.resume(case.case_no, "staff:li", note="已补交")
    assert case.paused_days == 2
    assert case.due_date == date(2026, 11, 27)
    with pytest.raises(Conflict):
        await service.resume(case.case_no, "staff:li")


async def test_lifecycle_transfer_resolve_rate_close(client: TestClient, clock: FrozenClock) -> None:
    service = make_service(client, clock)
    case, _ = await service.file(draft())
    case = await service.transfer(case.case_no, "staff:li", window="公积金", department="县住房公积金管理中心",
                                  note="请核实备案情况")
    assert case.status == "transferred"
    await service.add_note(case.case_no, "staff:li", note="已电话联系房东")
    clock.set(2026, 11, 24, 16)
    case = await service.resolve(case.case_no, "staff:wang", result="已协调，凭租房合同和承诺书即可提取")
    assert case.status == "resolved"
    with pytest.raises(Conflict):
        await service.transfer(case.case_no, "staff:li", window="综合", department="x")
    case = await service.rate(case.case_no, rating=2, comment="太慢了")
    assert case.status == "closed" and case.rating == 2
    with pytest.raises(Conflict):
        await service.rate(case.case_no, rating=5)
    follow_ups = await EvaluationStore(client.app[DB]).follow_ups()
    assert [(e.ref, e.rating, e.comment) for e in follow_ups] == [(case.case_no, 2, "太慢了")]
    public = [e.kind for e in await service.events(case, public_only=True)]
    everything = [e.kind for e in await service.events(case, public_only=False)]
    assert public == ["accepted", "classified", "transferred", "resolved", "feedback"]
    assert everything == ["accepted", "classified", "transferred", "note", "resolved", "feedback"]


async def test_unknown_number_and_wrong_phone_look_the_same(client: TestClient, clock: FrozenClock) -> None:
    service = make_service(client, clock)
    case, _ = await service.file(draft())
    assert (await service.for_owner(case.case_no.lower(), "139-1234-5678")).id == case.id
    with pytest.raises(NotFound) as wrong_phone:
        await service.for_owner(case.case_no, "13800000000")
    with pytest.raises(NotFound) as unknown:
        await service.for_owner("BBC20991231-0001", "13912345678")
    assert wrong_phone.value.message == unknown.value.message


async def test_case_events_cannot_be_edited(client: TestClient, clock: FrozenClock) -> None:
    service = make_service(client, clock)
    case, _ = await service.file(draft())
    async with client.app[DB]() as db:
        event = (await service.events(case, public_only=False))[0]
        event = await db.merge(event)
        event.note = "改写历史"
        db.add(event)
        with pytest.raises(AppendOnlyError):
            await db.commit()
    async with client.app[DB]() as db:
        with pytest.raises(Exception, match="append-only"):
            await db.exec(text("UPDATE case_event SET note = 'x'"))  # type: ignore[call-overload]
            await db.commit()
    assert (await service.events(case, public_only=False))[0].note != "改写历史"
    assert CaseEvent.__tablename__ == "case_event"
