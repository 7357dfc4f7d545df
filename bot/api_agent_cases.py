"""Staff side of 办不成事 cases (`/api/v1/agent/cases…`): the list with 黄灯/红灯, a case with its whole
trail, the lifecycle actions, the live event stream for the console, reports and bad-review follow-ups.
Agents see the cases of their windows (the complaint window sees all); supervisors see everything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.api_staff import audit_note, current_staff, require_role
from bot.http import json_response, parse_uint, query_date, read_json_object, require_str
from bot.streams import LIVE_STREAMS
from bot.typedefs import CASE_REPORTS, CASES, EVALUATIONS, PUBSUB
from core import jsoncodec
from core.errors import InvalidInput, NotFound
from core.keys import Prefix, key
from core.pubsub import MissedMessages
from handoff.calendar import date_in_words
from handoff.case_models import Case
from handoff.cases import CaseService
from handoff.staff import StaffMember

routes = web.RouteTableDef()
SSE_WAIT_SECONDS = 15.0
SUPERVISORS = ("supervisor", "admin")



def _sees_all(staff: StaffMember, service: CaseService) -> bool:
    return staff.is_supervisor or service.rules.routing.complaint_window in staff.windows


def _case_json(case: Case, service: CaseService) -> dict[str, Any]:
    return {**case.staff_json(), "light": service.light(case), "due_in_words": date_in_words(case.due_date)}


async def _visible_case(request: web.Request, staff: StaffMember) -> Case:
    service = request.app[CASES]
    case = await service.get(request.match_info["case_no"])
    if not (_sees_all(staff, service) or staff.can_see_window(case.window)):
        raise NotFound("没有找到这个案件编号。")  # another window's case: not even its existence
    return case


@routes.get("/api/v1/agent/cases")
async def list_cases(request: web.Request) -> web.Response:
    """Cases newest first; filters: status (open, accepted, classified, transferred, resolved, closed),
    light (green, yellow, red), window, q (number, item, text or department).
    """
    staff = await current_staff(request)
    service = request.app[CASES]
    windows: list[str] | None = None if _sees_all(staff, service) else list(staff.windows)
    wanted = request.query.get("window")
    if wanted:
        windows = [wanted] if windows is None or wanted in windows else []
    status = request.query.get("status") or None
    if status not in (None, "open", *service.rules.status_names):
        raise InvalidInput("status 只能是 open 或 " + "、".join(service.rules.status_names), code="invalid_query")
    light = request.query.get("light") or None
    if light not in (None, "green", "yellow", "red"):
        raise InvalidInput("light 只能是 green、yellow 或 red。", code="invalid_query")
    text = (request.query.get("q") or "")[:100] or None
    cases = await service.search(windows=windows, status=status, text=text)
    rows = [_case_json(c, service) for c in cases]
    if light:
        rows = [r for r in rows if r["light"] == light]
    return json_response({"cases": rows})


@routes.get("/api/v1/agent/cases/{case_no}")
async def get_case(request: web.Request) -> web.Response:
    """A case with its full trail, internal notes included."""
    staff = await current_staff(request)
    case = await _visible_case(request, staff)
    service = request.app[CASES]
    events = await service.events(case, public_only=False)
    return json_response({**_case_json(case, service), "events": [e.to_json() for e in events]})


Action = Callable[[CaseService, str, str, dict[str, Any]], Awaitable[Case]]


def _text(body: dict[str, Any], name: str, required: bool = True) -> str:
    return require_str(body, name, max_chars=2000, required=required) or ""


ACTIONS: dict[str, Action] = {
    "classify": lambda s, no, actor, b: s.reclassify(no, actor, category=_text(b, "category"),
                                                     complexity=_text(b, "complexity"), reason=_text(b, "reason")),
    "pause": lambda s, no, actor, b: s.pause(no, actor, reason=_text(b, "reason")),
    "resume": lambda s, no, actor, b: s.resume(no, actor, note=_text(b, "note", required=False)),
    "transfer": lambda s, no, actor, b: s.transfer(no, actor, window=_text(b, "window"),
                                                   department=_text(b, "department"),
                                                   note=_text(b, "note", required=False)),
    "resolve": lambda s, no, actor, b: s.resolve(no, actor, result=_text(b, "result")),
    "note": lambda s, no, actor, b: s.add_note(no, actor, note=_text(b, "note")),
}


def _action_handler(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        staff = await current_staff(request)
        case = await _visible_case(request, staff)
        body = await read_json_object(request)
        audit_note(request, target=case.case_no)
        service = request.app[CASES]
        updated = await ACTIONS[name](service, case.case_no, f"staff:{staff.username}", body)
        return json_response(_case_json(updated, service))

    handler.__doc__ = f"Case action `{name}`."
    return handler


for _name in ACTIONS:
    routes.post(f"/api/v1/agent/cases/{{case_no}}/{_name}")(_action_handler(_name))


@routes.get("/api/v1/agent/events")
async def staff_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events for the console: every case change the staff member may see."""
    staff = await current_staff(request)
    service = request.app[CASES]
    sees_all = _sees_all(staff, service)
    streams = request.app[LIVE_STREAMS]
    # A console tab closed while we waited: the next write fails, and that is the end, not an outage.
    # A shutdown ends the stream too, and so do missed events (Redis was away): the console reconnects, to a
    # worker still running, and reloads what it shows.
    async with request.app[PUBSUB].listen(key(Prefix.STAFF_EVENTS)) as inbox, streams.open(request) as stream:
        with contextlib.suppress(ConnectionResetError, MissedMessages):
            while stream.is_connected() and not streams.closing:
                data = await streams.idle(inbox.get(SSE_WAIT_SECONDS))
                if streams.closing:
                    break
                if data is None:
                    await stream.send("", event="ping")
                    continue
                event = jsoncodec.loads(data)
                if sees_all or staff.can_see_window(event.get("window", "")):
                    await stream.send(jsoncodec.dumps(event), event=event.get("type", "case"))
    return stream


@routes.get("/api/v1/agent/reports/cases")
async def case_report(request: web.Request) -> web.Response:
    """Statistics of cases accepted between `from` and `to` (both optional, YYYY-MM-DD), supervisors only."""
    require_role(await current_staff(request), *SUPERVISORS)
    reports = request.app[CASE_REPORTS]
    cases = await reports.cases(query_date(request, "from"), query_date(request, "to"))
    return json_response(reports.summary(cases, request.app[CASES].now()))


@routes.get("/api/v1/agent/reports/cases.xlsx")
async def case_report_xlsx(request: web.Request) -> web.Response:
    """The same statistics and every case as an Excel workbook."""
    require_role(await current_staff(request), *SUPERVISORS)
    reports = request.app[CASE_REPORTS]
    start, end = query_date(request, "from"), query_date(request, "to")
    cases = await reports.cases(start, end)
    body = reports.workbook(reports.summary(cases, request.app[CASES].now()), cases)
    name = f"cases-{start or 'all'}-{end or 'now'}.xlsx"
    return web.Response(body=body, headers={"Content-Disposition": f'attachment; filename="{name}"'},
                        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@routes.get("/api/v1/agent/evaluations")
async def list_follow_ups(request: web.Request) -> web.Response:
    """Bad reviews (不满意 or worse) waiting for a supervisor; `all=1` includes those followed up."""
    require_role(await current_staff(request), *SUPERVISORS)
    pending_only = request.query.get("all") not in ("1", "true")
    rows = await request.app[EVALUATIONS].follow_ups(pending_only=pending_only)
    return json_response({"evaluations": [r.to_json() for r in rows]})


@routes.post("/api/v1/agent/evaluations/{evaluation_id}/follow-up")
async def follow_up(request: web.Request) -> web.Response:
    """A supervisor records what was done about a bad review."""
    staff = await current_staff(request)
    require_role(staff, *SUPERVISORS)
    raw = request.match_info["evaluation_id"]
    evaluation_id = parse_uint(raw)
    if evaluation_id is None:
        raise NotFound("没有这条待回访的评价。")
    body = await read_json_object(request)
    note = require_str(body, "note", max_chars=2000) or ""
    if not note.strip():
        raise InvalidInput("缺少字段 note。", code="missing_field")
    audit_note(request, target=f"evaluation:{raw}")
    row = await request.app[EVALUATIONS].mark_followed_up(evaluation_id, f"staff:{staff.username}", note.strip())
    return json_response(row.to_json())
