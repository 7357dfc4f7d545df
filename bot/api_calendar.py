"""`GET /api/v1/calendar/due`: the working-day rule the cases use, for forms and integrators."""

from __future__ import annotations

from datetime import date

from aiohttp import web

from bot.http import json_response, parse_uint
from bot.typedefs import CALENDAR
from core.errors import InvalidInput
from handoff.calendar import MAX_DAYS, date_in_words

routes = web.RouteTableDef()
# Deadlines are for cases of this century. Far outside it the clock is local mean time ("+08:05:43", no valid
# RFC 3339 offset) and a year-9999 start runs off the end of the calendar.
FIRST_START, LAST_START = date(2000, 1, 1), date(2099, 12, 31)


@routes.get("/api/v1/calendar/due")
async def due(request: web.Request) -> web.Response:
    """The deadline of something accepted on `start` with `days` working days."""
    raw_start, raw_days = request.query.get("start", ""), request.query.get("days", "")
    try:
        start = date.fromisoformat(raw_start)
    except ValueError:
        raise InvalidInput("参数 start 必须是日期，格式 YYYY-MM-DD。", code="invalid_parameter") from None
    if not FIRST_START <= start <= LAST_START:
        raise InvalidInput(f"参数 start 须在 {FIRST_START} 至 {LAST_START} 之间。", code="invalid_parameter")
    days = parse_uint(raw_days, maximum=MAX_DAYS)
    if days is None:
        raise InvalidInput(f"参数 days 必须是 0–{MAX_DAYS} 之间的整数。", code="invalid_parameter")
    deadline = request.app[CALENDAR].deadline(start, days)
    body = {"start": start.isoformat(), "days": days, "due_date": deadline.due_date.isoformat(),
            "due_at": deadline.due_at.isoformat(), "due_in_words": date_in_words(deadline.due_date) + "前",
            "provisional": deadline.provisional}
    return json_response(body)
