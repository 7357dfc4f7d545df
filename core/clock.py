"""Local time: everything is stored in UTC and shown and reasoned about in Asia/Shanghai (no DST)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now_local(tz: ZoneInfo = SHANGHAI) -> datetime:
    """The current time in the service's time zone."""
    return datetime.now(tz)


def today_local(tz: ZoneInfo = SHANGHAI) -> date:
    """Today's date in the service's time zone (what "expired" and deadlines are measured against)."""
    return now_local(tz).date()
