"""The SLA monitor: one leader across all workers (a Redis lock) sweeps open cases, turns them 黄灯 when
one working day or less is left and 红灯 when overdue (escalating red ones to supervisors: 督办), and
closes resolved cases whose rating never came. Other periodic chores that must run once per service
(not once per worker) ride along (`also`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

from core.keys import Prefix, key
from handoff.cases import CaseService

log = logging.getLogger("handoff.sla")


@dataclass(frozen=True)
class SweepReport:
    """What one sweep changed."""

    yellow: tuple[str, ...] = ()
    red: tuple[str, ...] = ()
    closed: tuple[str, ...] = ()


class SlaMonitor:
    """Runs `sweep()` every `interval` seconds while it holds the leader lock; other workers wait."""

    def __init__(self, cases: CaseService, redis: aioredis.Redis, *, interval: float = 60.0,
                 lock_seconds: float = 90.0, also: Sequence[Callable[[], Awaitable[object]]] = ()) -> None:
        self._cases = cases
        self._also = tuple(also)
        self._interval = interval
        self._lock: Lock = redis.lock(key(Prefix.SLA_LEADER), timeout=lock_seconds, blocking=False)
        self.is_leader = False

    async def sweep(self) -> SweepReport:
        """Bring every open case's light up to date and close resolved cases that waited long enough."""
        now = self._cases.now()
        yellow: list[str] = []
        red: list[str] = []
        for case in await self._cases.lights_to_change(now):
            light = self._cases.light(case, now)
            if light != case.light:  # still so: staff may have changed the case since the query
                await self._cases.update_light(case, light)
                if light == "red":
                    red.append(case.case_no)
                elif light == "yellow":
                    yellow.append(case.case_no)
        closed = [case.case_no for case in await self._cases.resolved_unrated()
                  if await self._cases.close_unrated(case) is not None]
        return SweepReport(tuple(yellow), tuple(red), tuple(closed))

    async def lead(self) -> bool:
        """Take or keep the leader lock; True while this worker is the leader."""
        try:
            if self.is_leader:
                self.is_leader = bool(await self._lock.reacquire())
            else:
                self.is_leader = bool(await self._lock.acquire())
        except LockError:
            self.is_leader = False  # the lock expired and another worker took it
        return self.is_leader

    async def round(self) -> SweepReport | None:
        """One round: when this worker is (or becomes) the leader, sweep and run the `also` chores; None otherwise."""
        if not await self.lead():
            return None
        report = await self.sweep()
        for chore in self._also:  # e.g. tickets whose staff went offline go back to the queue
            await chore()
        return report

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep every interval while leader, until `stop` is set; survive Redis or database trouble and try
        again next round. Stopping waits for a sweep in progress rather than cancelling it half-way (a
        cancelled Redis or SQLite call can leave its connection unusable for the shutdown that follows).
        """
        while not stop.is_set():
            try:
                report = await self.round()
                if report is not None and (report.red or report.yellow or report.closed):
                    log.info("SLA sweep: %d yellow, %d red, %d closed", len(report.yellow), len(report.red),
                             len(report.closed))
            except (RedisError, OSError) as exc:
                self.is_leader = False
                log.warning("SLA monitor: backing service unavailable (%s); retrying", type(exc).__name__)
            except Exception:
                log.exception("SLA sweep failed; retrying next round")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)
        await self.step_down()

    async def step_down(self) -> None:
        """Release the lock on shutdown so another worker takes over at once."""
        if self.is_leader:
            with contextlib.suppress(LockError, RedisError):
                await self._lock.release()
            self.is_leader = False
