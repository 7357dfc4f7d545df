"""Fixtures of the handoff tests: a frozen clock and a case service on the app's own storage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient

from bot.typedefs import CALENDAR, DB, REDIS
from handoff.calendar import SHANGHAI
from handoff.case_rules import CaseRules
from handoff.cases import CaseDraft, CaseService
from handoff.evaluations import EvaluationStore


class FrozenClock:
    """A clock the test moves by hand."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment

    def set(self, year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> None:
        """Jump to a local (Asia/Shanghai) time."""
        self.moment = datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def make_service(client: TestClient, clock: FrozenClock) -> CaseService:
    """A case service on the app's own database, Redis and calendar, with a frozen clock."""
    app = client.app
    return CaseService(app[DB], app[REDIS], app[CALENDAR], CaseRules.load(), EvaluationStore(app[DB]),
                       clock=clock)


def draft(**fields: object) -> CaseDraft:
    """A complaint as the chat collects it."""
    base: dict[str, object] = {"channel": "web", "user_id": "web:abc", "phone": "139 1234 5678",
                               "happened": "跑了三趟，公积金还是取不出来，说租房合同没备案",
                               "item_name": "住房公积金提取（租房）"}
    return CaseDraft(**{**base, **fields})  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FrozenClock:
    """Sunday 2026-11-22, 10:00 in Shanghai: the day of the example conversations."""
    frozen = FrozenClock(datetime.now(UTC))
    frozen.set(2026, 11, 22)
    return frozen


