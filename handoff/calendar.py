"""Working days (工作日) per the State Council holiday notices, 调休 included (chinese-calendar), with a YAML
override file for corrections and for years the package does not know yet. For a year known to neither,
weekends and the fixed-date holidays are used, a warning is logged once, and deadlines say "provisional".

Rule for deadlines (DESIGN §4): the day of acceptance is not counted; the deadline is the end of office
hours of the N-th working day after it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar

from core.clock import SHANGHAI
from core.errors import ConfigError
from core.yamlfile import load_yaml

log = logging.getLogger("handoff.calendar")

# Holidays fixed on the solar calendar; used only for years neither the package nor the override knows.
# Lunar holidays (春节, 清明, 端午, 中秋) move every year and need the override file.
FIXED_HOLIDAYS = ((1, 1), (5, 1), (5, 2), (5, 3), (10, 1), (10, 2), (10, 3), (10, 4), (10, 5), (10, 6), (10, 7))
MAX_DAYS = 366
# The day a statutory holiday starts on when its date is fixed, by chinese_calendar's Holiday name: what a year
# without official data can still be told (元旦 is 1 January whatever the 调休).
FIXED_HOLIDAY_STARTS = {"new_years_day": (1, 1), "labour_day": (5, 1), "national_day": (10, 1)}
HOLIDAY_SEARCH_DAYS = 400  # far enough to find every holiday's next period


@dataclass(frozen=True)
class OfficeHours:
    """When windows are open, in local time."""

    opens: time = time(9, 0)
    lunch_starts: time = time(12, 0)
    lunch_ends: time = time(13, 30)
    closes: time = time(17, 30)


@dataclass(frozen=True)
class Deadline:
    """A computed deadline: the date, the moment (end of office hours, local time) and whether any day on the
    way was guessed for a year without official data.
    """

    due_date: date
    due_at: datetime
    provisional: bool


class WorkCalendar:
    """Answers "is this a working day?" and computes deadlines in working days."""

    def __init__(self, overrides: dict[date, bool] | None = None, hours: OfficeHours | None = None,
                 tz: ZoneInfo = SHANGHAI) -> None:
        self._overrides = dict(overrides or {})
        self._override_years = {d.year for d in self._overrides}
        self.hours = hours or OfficeHours()
        self.tz = tz
        self._warned: set[int] = set()
        # Answers remembered: chinese_calendar validates its argument on every call, and a complaint's deadlines
        # ask about each day up to 7 working days ahead (a tenth of the 确认 turn's CPU). The data never changes.
        self._workdays: dict[date, bool] = {}
        self._known_years: dict[int, bool] = {}

    @classmethod
    def from_file(cls, path: Path | None, hours: OfficeHours | None = None) -> WorkCalendar:
        """Read overrides from YAML: `{2027: {holidays: [dates], workdays: [dates]}}`; a missing file is none."""
        overrides: dict[date, bool] = {}
        if path is not None and path.exists():
            data = load_yaml(path) or {}
            try:
                for _year, days in data.items():
                    for day in (days or {}).get("holidays", []) or []:
                        overrides[_as_date(day)] = False
                    for day in (days or {}).get("workdays", []) or []:
                        overrides[_as_date(day)] = True
            except (AttributeError, TypeError, ValueError) as exc:
                raise ConfigError(f"{path}: holidays and workdays must be lists of dates ({exc})") from None
        return cls(overrides, hours)

    def is_known(self, day: date) -> bool:
        """Whether official data (package or override) covers this day's year."""
        if day.year in self._override_years:
            return True
        known = self._known_years.get(day.year)
        if known is None:
            try:
                chinese_calendar.is_workday(day)
                known = True
            except NotImplementedError:
                known = False
            self._known_years[day.year] = known
        return known

    def is_workday(self, day: date) -> bool:
        """Whether windows are open on this day."""
        if day in self._overrides:
            return self._overrides[day]
        answer = self._workdays.get(day)
        if answer is None:
            answer = self._workdays[day] = self._looked_up(day)
        return answer

    def _looked_up(self, day: date) -> bool:
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self._warned and day.year not in self._override_years:
                self._warned.add(day.year)
                log.warning("no holiday data for %s: using weekends and fixed-date holidays; deadlines are "
                            "provisional until data/holidays.yml covers that year", day.year)
            return day.weekday() < 5 and (day.month, day.day) not in FIXED_HOLIDAYS

    def holiday_period(self, holiday: str, today: date) -> tuple[date, date, bool] | None:
        """The days off of a statutory holiday (a chinese_calendar Holiday name: "national_day") now or next:
        first and last day of the run of days off around it, and whether it is provisional (its year has no
        official data, so only a fixed-date holiday is found, with weekends for its length). None when not found.
        """
        name = chinese_calendar.Holiday[holiday].value
        for offset in range(HOLIDAY_SEARCH_DAYS):
            day = today + timedelta(days=offset)
            try:
                found = chinese_calendar.get_holiday_detail(day) == (True, name)
            except NotImplementedError:
                found = FIXED_HOLIDAY_STARTS.get(holiday) == (day.month, day.day) and not self.is_workday(day)
            if found:
                break
        else:
            return None
        first, last = day, day
        while not self.is_workday(first - timedelta(days=1)) and first > today:
            first -= timedelta(days=1)
        while not self.is_workday(last + timedelta(days=1)):
            last += timedelta(days=1)
        return first, last, not self.is_known(day)

    def add_working_days(self, start: date, days: int) -> tuple[date, bool]:
        """The N-th working day after `start` (start itself not counted), and whether it is provisional."""
        if not 0 <= days <= MAX_DAYS:
            raise ValueError(f"days must be between 0 and {MAX_DAYS}")
        day, provisional, counted = start, not self.is_known(start), 0
        while counted < days:
            day += timedelta(days=1)
            provisional = provisional or (day.year not in self._override_years and not self.is_known(day))
            if self.is_workday(day):
                counted += 1
        return day, provisional

    def working_days_between(self, start: date, end: date) -> int:
        """How many working days fall after `start` up to and including `end` (0 when end <= start)."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_workday(day)
        return count

    def deadline(self, accepted: date | datetime, days: int) -> Deadline:
        """The deadline of something accepted on `accepted` with `days` working days to answer."""
        start = accepted.astimezone(self.tz).date() if isinstance(accepted, datetime) else accepted
        due, provisional = self.add_working_days(start, days)
        return Deadline(due, datetime.combine(due, self.hours.closes, tzinfo=self.tz), provisional)

    def next_opening(self, moment: datetime) -> datetime:
        """When staff are next at their windows (now, if they are)."""
        local = moment.astimezone(self.tz)
        day, clock = local.date(), local.time()
        if self.is_workday(day):
            if clock < self.hours.opens:
                return datetime.combine(day, self.hours.opens, tzinfo=self.tz)
            if self.hours.lunch_starts <= clock < self.hours.lunch_ends:
                return datetime.combine(day, self.hours.lunch_ends, tzinfo=self.tz)
            if clock < self.hours.closes and not self.hours.lunch_starts <= clock < self.hours.lunch_ends:
                return local
        for _ in range(MAX_DAYS):
            day += timedelta(days=1)
            if self.is_workday(day):
                return datetime.combine(day, self.hours.opens, tzinfo=self.tz)
        raise ValueError("no working day within a year")


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


WEEKDAY_NAMES = "一二三四五六日"


def date_in_words(day: date) -> str:
    """"11月25日（周三）", as replies say dates."""
    return f"{day.month}月{day.day}日（周{WEEKDAY_NAMES[day.weekday()]}）"
