"""The SLA monitor: 黄灯/红灯 by working days (holidays and 调休 included), 督办 on red, one leader only."""

from __future__ import annotations

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from bot.typedefs import REDIS
from handoff.sla import SlaMonitor, SweepReport
from tests.handoff.conftest import FrozenClock, draft, make_service


async def test_lights_follow_working_days_across_national_day(client: TestClient, clock: FrozenClock) -> None:
    service = make_service(client, clock)
    monitor = SlaMonitor(service, client.app[REDIS])
    clock.set(2026, 9, 30, 10)  # Wednesday before the National Day holiday (10-01 … 10-07, 10-10 a 调休 workday)
    case, _ = await service.file(draft())
    assert case.due_date.isoformat() == "2026-10-10"

    clock.set(2026, 10, 5, 12)  # five calendar days later, but still inside the holiday: nothing is late
    assert await monitor.sweep() == SweepReport()
    clock.set(2026, 10, 9, 17, 31)  # one working day (Saturday 10-10) left
    report = await monitor.sweep()
    assert report.yellow == (case.case_no,) and not report.red
    assert (await monitor.sweep()).yellow == ()  # a light is recorded once, not every round
    clock.set(2026, 10, 10, 17, 31)  # the 调休 Saturday has closed: overdue
    report = await monitor.sweep()
    assert report.red == (case.case_no,)
    case = await service.get(case.case_no)
    assert (case.light, case.escalated) == ("red", True)
    trail = [(e.kind, e.public) for e in await service.events(case, public_only=False)]
    assert ("light_yellow", False) in trail
    assert ("escalated", False) in trail  # 督办 is for supervisors, not shown to the citizen


async def test_resolved_cases_close_after_three_working_days_without_a_rating(client: TestClient,
                                                                              clock: FrozenClock) -> None:
    service = make_service(client, clock)
    monitor = SlaMonitor(service, client.app[REDIS])
    case, _ = await service.file(draft())
    clock.set(2026, 11, 23, 11)
    await service.resolve(case.case_no, "staff:li", result="已办结")
    clock.set(2026, 11, 26, 17, 0)
    assert (await monitor.sweep()).closed == ()
    clock.set(2026, 11, 26, 17, 31)
    assert (await monitor.sweep()).closed == (case.case_no,)
    assert (await service.get(case.case_no)).status == "closed"


async def test_only_one_worker_leads_and_another_takes_over(client: TestClient, clock: FrozenClock) -> None:
    service = make_service(client, clock)
    redis: aioredis.Redis = client.app[REDIS]
    first, second = SlaMonitor(service, redis, lock_seconds=30), SlaMonitor(service, redis, lock_seconds=30)
    assert await first.lead()
    assert not await second.lead()
    assert await first.lead()  # the leader keeps its lock on the next round
    assert not await second.lead()
    await first.step_down()
    assert await second.lead()
    assert not await first.lead()


async def test_a_sweep_reads_only_the_cases_whose_light_must_change(client: TestClient, clock: FrozenClock) -> None:
    """Asked every minute with thousands of cases open: the comparison is made in SQL, and what it returns is
    exactly what light() would change (a paused case keeps its light; a longer deadline turns it green again).
    """
    service = make_service(client, clock)
    monitor = SlaMonitor(service, client.app[REDIS])
    clock.set(2026, 11, 23, 10)  # Monday
    cases = [(await service.file(draft(phone=f"139 1234 56{n:02d}")))[0] for n in range(6)]
    clock.set(2026, 11, 24, 10)
    assert await service.lights_to_change(service.now()) == []  # all still green
    await service.pause(cases[0].case_no, "staff:li", reason="请补交租房合同")
    clock.set(2026, 11, 30, 10)  # past every deadline
    late = [c.case_no for c in await service.lights_to_change(service.now())]
    assert late == [c.case_no for c in cases[1:]]  # the paused one keeps its clock stopped
    assert set((await monitor.sweep()).red) == set(late)
    assert await service.lights_to_change(service.now()) == []
    await service.reclassify(cases[1].case_no, "staff:li", category=cases[1].category, complexity="complex",
                             reason="需多部门会商")  # 7 working days from acceptance: not late any more
    assert [c.case_no for c in await service.lights_to_change(service.now())] == [cases[1].case_no]
    await monitor.sweep()
    assert (await service.get(cases[1].case_no)).light == "green"
