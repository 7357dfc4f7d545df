"""Staff side of 预约办事 and 帮办代办 (`/api/v1/agent/appointments`): who is coming, when, for what, and for
帮办代办 the phone to ring and the address to visit. Agents see their windows' bookings; supervisors all.
"""

from __future__ import annotations

from datetime import timedelta
from typing import get_args

from aiohttp import web

from bot.api_staff import current_staff
from bot.http import json_response, query_date
from bot.typedefs import APPOINTMENTS
from core.clock import today_local
from core.errors import InvalidInput
from handoff.appointments import Kind
from handoff.staff import StaffMember
from handoff.windows import ALL_WINDOWS

routes = web.RouteTableDef()
DEFAULT_DAYS = 14  # without `to`: two weeks from `from`
MAX_DAYS = 92  # one quarter at most per request


def _windows(staff: StaffMember) -> list[str]:
    return list(ALL_WINDOWS) if staff.is_supervisor else list(staff.windows)


@routes.get("/api/v1/agent/appointments")
async def list_appointments(request: web.Request) -> web.Response:
    """Bookings from `from` (default today) to `to` (default two weeks on), soonest first; `window` and `kind`
    (appointment or assisted) narrow them, `cancelled=1` includes cancelled ones.
    """
    staff = await current_staff(request)
    first = query_date(request, "from") or today_local()
    last = query_date(request, "to") or first + timedelta(days=DEFAULT_DAYS - 1)
    if last < first or (last - first).days >= MAX_DAYS:
        raise InvalidInput(f"日期范围须从 from 到 to，最多 {MAX_DAYS} 天。", code="invalid_query")
    kind = request.query.get("kind") or None
    if kind is not None and kind not in get_args(Kind):
        raise InvalidInput("kind 只能是 appointment（预约办事）或 assisted（帮办代办）。", code="invalid_query")
    windows = _windows(staff)
    wanted = request.query.get("window")
    if wanted:
        windows = [wanted] if wanted in windows else []
    bookings = await request.app[APPOINTMENTS].for_windows(
        windows, first, last, kind=kind,  # type: ignore[arg-type]
        include_cancelled=request.query.get("cancelled") in ("1", "true"))
    return json_response({"from": first.isoformat(), "to": last.isoformat(),
                          "appointments": [b.to_staff_json() for b in bookings]})
