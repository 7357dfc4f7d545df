"""Working days and deadlines: holidays, 调休 Saturdays and Sundays, year ends, and years beyond the data."""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from handoff.calendar import WorkCalendar, date_in_words

CAL = WorkCalendar()


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (date(2026, 11, 22), 3, date(2026, 11, 25)),  # Sunday: Mon, Tue, Wed (the conversation example)
        (date(2026, 11, 22), 7, date(2026, 12, 1)),
        (date(2026, 2, 12), 3, date(2026, 2, 24)),  # Spring Festival: Fri 13, Sat 14 (调休 workday), then Tue 24
        (date(2026, 2, 26), 2, date(2026, 2, 28)),  # Fri 27, Sat 28 is a 调休 working Saturday
        (date(2025, 9, 26), 1, date(2025, 9, 28)),  # Sunday 28 September 2025 is a 调休 working day
        (date(2025, 9, 30), 1, date(2025, 10, 9)),  # National Day: 1–8 October off
        (date(2025, 10, 9), 1, date(2025, 10, 10)),
        (date(2025, 10, 10), 1, date(2025, 10, 11)),  # Saturday 11 October 2025 works
        (date(2025, 12, 30), 3, date(2026, 1, 5)),  # year end: 31 Dec, 1 Jan off, 4 Jan (Sun) works in 2026
        (date(2026, 11, 22), 0, date(2026, 11, 22)),
    ],
)
def test_deadlines(start: date, days: int, due: date) -> None:
    deadline = CAL.deadline(start, days)
    assert deadline.due_date == due
    assert deadline.due_at == datetime.combine(due, time(17, 30), tzinfo=CAL.tz)
    assert deadline.provisional is False


def test_a_year_beyond_the_data_is_provisional_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    cal = WorkCalendar()
    with caplog.at_level(logging.WARNING, logger="handoff.calendar"):
        first = cal.deadline(date(2027, 9, 29), 3)
        cal.deadline(date(2027, 3, 1), 3)
    assert first.provisional
    assert first.due_date == date(2027, 10, 11)  # 30 Sep; 1–7 Oct fixed-date holidays; 8 Oct; weekend; 11 Oct
    assert len([r for r in caplog.records if "2027" in r.getMessage()]) == 1


def test_override_file_covers_a_new_year(tmp_path: Path) -> None:
    path = tmp_path / "holidays.yml"
    path.write_text("2027:\n  holidays: [2027-02-05, 2027-02-08]\n  workdays: [2027-02-06]\n", encoding="utf-8")
    cal = WorkCalendar.from_file(path)
    assert cal.is_workday(date(2027, 2, 6))  # a 调休 Saturday
    assert not cal.is_workday(date(2027, 2, 5))
    deadline = cal.deadline(date(2027, 2, 4), 2)
    assert deadline.due_date == date(2027, 2, 9) and not deadline.provisional


def test_office_hours_and_dates_in_words() -> None:
    tz = CAL.tz
    assert CAL.next_opening(datetime(2026, 11, 22, 10, 0, tzinfo=tz)) == datetime(2026, 11, 23, 9, 0, tzinfo=tz)
    assert CAL.next_opening(datetime(2026, 11, 23, 12, 30, tzinfo=tz)) == datetime(2026, 11, 23, 13, 30, tzinfo=tz)
    assert CAL.next_opening(datetime(2026, 11, 23, 18, 0, tzinfo=tz)) == datetime(2026, 11, 24, 9, 0, tzinfo=tz)
    now = datetime(2026, 11, 23, 10, 0, tzinfo=tz)
    assert CAL.next_opening(now) == now
    assert date_in_words(date(2026, 11, 25)) == "11月25日（周三）"


async def test_due_api(client: TestClient) -> None:
    resp = await client.get("/api/v1/calendar/due?start=2026-11-22&days=3")
    body = await resp.json()
    assert body == {"start": "2026-11-22", "days": 3, "due_date": "2026-11-25", "due_at": "2026-11-25T17:30:00+08:00",
                    "due_in_words": "11月25日（周三）前", "provisional": False}
    for query in ("start=2026-13-01&days=3", "start=&days=3", "start=2026-11-22&days=-1", "start=2026-11-22&days=x",
                  "start=2026-11-22&days=400",
                  "start=0285-11-26&days=29",  # regression (schemathesis): 200 with due_at "…+08:05:43"
                  "start=9999-12-31&days=3"):  # ran past date.max
        resp = await client.get(f"/api/v1/calendar/due?{query}")
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_parameter"
