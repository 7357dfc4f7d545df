"""Time (issue 9, Faults): stored in UTC, shown in Asia/Shanghai (no DST), and clock jumps in either direction
neither move deadlines, repeat a 督办, reopen rate-limit windows nor forget a message id.
"""

from __future__ import annotations

import ast
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from bot.typedefs import DB_ENGINE, RATE_LIMITER, REDIS
from core.errors import RateLimited
from core.logging import MaskedTextFormatter
from handoff.sla import SlaMonitor
from tests.conftest import Visitor
from tests.handoff.conftest import FrozenClock, draft, make_service

ROOT = Path(__file__).parents[2]
PACKAGES = ("bot", "channels", "core", "handoff", "intents", "policy_kb")


@pytest.fixture
def clock() -> FrozenClock:
    """A clock the test sets and jumps by hand."""
    return FrozenClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))


# Calls that need at least this many arguments to be time-zone aware (the tz is the last one).
NEEDS_TZ = {("datetime", "now"): 1, ("datetime", "fromtimestamp"): 2}
# Calls that are naive or read the host's local time whatever their arguments.
ALWAYS_NAIVE = {("datetime", "utcnow"), ("datetime", "utcfromtimestamp"), ("datetime", "today"), ("date", "today"),
                ("time", "localtime"), ("time", "mktime"), ("time", "ctime"), ("time", "strftime")}


def naive_time_calls(source: str) -> list[tuple[int, str]]:
    """Calls that read the host's local time or build a naive timestamp: (line, call)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        target = node.func.value  # `datetime` in datetime.now(), or datetime.datetime
        owner = target.id if isinstance(target, ast.Name) else target.attr if isinstance(target, ast.Attribute) else ""
        call, given = (owner, node.func.attr), len(node.args) + len(node.keywords)
        if (given < NEEDS_TZ.get(call, 0) or call in ALWAYS_NAIVE
                or (call[1] == "astimezone" and given == 0)):  # converts to the host's zone
            found.append((node.lineno, ".".join(call)))
    return found


def test_the_checker_catches_naive_local_time() -> None:
    sample = ("datetime.now()\ndatetime.now(UTC)\ndate.today()\ntime.localtime()\nx.astimezone()\n"
              "x.astimezone(tz)\ndatetime.fromtimestamp(t)\ndatetime.fromtimestamp(t, UTC)\ndatetime.datetime.now()\n")
    assert [line for line, _ in naive_time_calls(sample)] == [1, 3, 4, 5, 7, 9]


def test_no_code_reads_naive_local_time() -> None:
    """The server's own time zone is whatever the host says; the service's is Asia/Shanghai, always explicit."""
    offenders = [f"{path.relative_to(ROOT)}:{line} {call}"
                 for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
                 for line, call in naive_time_calls(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_log_lines_are_stamped_in_shanghai_time_whatever_the_host_zone() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "x", None, None)
    record.created = datetime(2026, 11, 22, 20, 30, tzinfo=UTC).timestamp()
    assert MaskedTextFormatter("%(asctime)s").format(record) == "2026-11-23T04:30:00.000+08:00"


async def test_stored_in_utc_shown_in_shanghai(client: TestClient, visitor: Visitor, clock: FrozenClock) -> None:
    # 20:30 UTC on Sunday is 04:30 on Monday in Shanghai: the case belongs to Monday.
    clock.moment = datetime(2026, 11, 22, 20, 30, tzinfo=UTC)
    case, _ = await make_service(client, clock).file(draft(user_id=visitor.user_id, phone="13912345678"))
    assert case.case_no.startswith("BBC20261123-"), "numbered by the Shanghai day"
    # Monday counts as the day of acceptance; three working days after it end on Thursday, 17:30 local.
    assert case.due_date.isoformat() == "2026-11-26"
    assert case.due_at == datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    async with client.app[DB_ENGINE].connect() as conn:  # the raw column, past the UTCDateTime type
        raw = (await conn.execute(text('SELECT accepted_at FROM "case" WHERE id = :id'), {"id": case.id})).scalar_one()
    # What the database holds is the UTC moment: an aware datetime on PostgreSQL, UTC wall time on SQLite.
    stored = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
    assert stored.replace(tzinfo=stored.tzinfo or UTC) == clock.moment
    assert str(raw).startswith("2026-11-22 20:30")

    shown = await visitor.say(case.case_no)
    assert "11月23日 04:30" in "".join(r["text"] for r in shown["replies"]), shown


async def test_sla_after_clock_jumps_back_and_forth(client: TestClient, clock: FrozenClock) -> None:
    service = make_service(client, clock)
    monitor = SlaMonitor(service, client.app[REDIS])
    clock.set(2026, 11, 23, 10)  # Monday
    case, _ = await service.file(draft())
    due = (case.due_date, case.due_at)

    clock.set(2026, 12, 1, 10)  # the clock leaps a week ahead (NTP correcting a wrong clock): overdue
    assert (await monitor.sweep()).red == (case.case_no,)
    clock.set(2026, 11, 23, 11)  # and back again
    await monitor.sweep()
    clock.set(2026, 12, 2, 10)  # and ahead again: still overdue, but supervisors are not told twice
    await monitor.sweep()
    case = await service.get(case.case_no)
    assert (case.due_date, case.due_at) == due, "a deadline is fixed at acceptance, not derived from now"
    events = [e.kind for e in await service.events(case, public_only=False)]
    assert events.count("escalated") == 1 and case.light == "red"

    # Paused at one moment, resumed at an earlier one (the clock went back): the deadline does not move back.
    await service.pause(case.case_no, "staff:li", reason="请补充租房合同")
    clock.set(2026, 11, 30, 10)
    resumed = await service.resume(case.case_no, "staff:li")
    assert (resumed.due_date, resumed.paused_days) == (due[0], 0)


async def test_app_clock_jumps_do_not_reset_rate_limits_or_forget_message_ids(
        client: TestClient, visitor: Visitor, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows and TTLs live in Redis, so this process's wall clock leaping (a wrong host clock being
    corrected) neither reopens a spent rate-limit window nor makes a retried message run twice.
    """
    first = await visitor.say("营业执照怎么办", msg_id="before-the-jump")
    real = time.time
    for jump in (timedelta(hours=-1), timedelta(hours=3)):  # within the visitor token's lifetime
        monkeypatch.setattr(time, "time", lambda jump=jump: real() + jump.total_seconds())
        again = await visitor.say("营业执照怎么办", msg_id="before-the-jump")
        assert again["replies"] == first["replies"]

    ip = "203.0.113.9"
    limiter = client.app[RATE_LIMITER]
    for _ in range(3):
        await limiter.hit("clock-test", ip, 3, 60)
    for jump in (timedelta(minutes=5), timedelta(minutes=-5)):
        monkeypatch.setattr(time, "time", lambda jump=jump: real() + jump.total_seconds())
        with pytest.raises(RateLimited) as refused:
            await limiter.hit("clock-test", ip, 3, 60)
        assert 0 < refused.value.retry_after <= 60
