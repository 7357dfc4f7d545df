"""Staff side of 转人工 tickets (`/api/v1/agent/…`): queues, the ticket list, a ticket's conversation,
claim, reply, internal note, transfer, release, close, canned replies and the console's heartbeat.
Agents see the tickets of their windows; supervisors see all and may act on any.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.api_staff import audit_note, current_staff
from bot.http import json_response, parse_uint, read_json_object, require_str
from bot.typedefs import TICKETS
from core.errors import InvalidInput, NotFound
from handoff.staff import StaffMember
from handoff.tickets import MAX_TEXT, Ticket, TicketService
from handoff.windows import ALL_WINDOWS

routes = web.RouteTableDef()



def _windows(staff: StaffMember) -> list[str]:
    return list(ALL_WINDOWS) if staff.is_supervisor else list(staff.windows)


async def _visible(request: web.Request, staff: StaffMember) -> Ticket:
    ticket_id = parse_uint(request.match_info["ticket_id"])
    if ticket_id is None:
        raise NotFound("没有找到这个工单。")
    ticket = await request.app[TICKETS].get(ticket_id)
    if not staff.can_see_window(ticket.window):
        raise NotFound("没有找到这个工单。")
    return ticket


async def _ticket_json(service: TicketService, ticket: Ticket) -> dict[str, Any]:
    return ticket.to_json(position=await service.position(ticket))


@routes.get("/api/v1/agent/queues")
async def queues(request: web.Request) -> web.Response:
    """Each visible window: how many wait, the longest wait in seconds, how many are being served."""
    staff = await current_staff(request)
    return json_response({"queues": await request.app[TICKETS].queues(_windows(staff))})


@routes.get("/api/v1/agent/tickets")
async def list_tickets(request: web.Request) -> web.Response:
    """Tickets: status waiting (first come first), serving or closed; `mine=1` only the caller's."""
    staff = await current_staff(request)
    status = request.query.get("status") or None
    if status not in (None, "waiting", "serving", "closed"):
        raise InvalidInput("status 只能是 waiting、serving 或 closed。", code="invalid_query")
    windows = _windows(staff)
    wanted = request.query.get("window")
    if wanted:
        windows = [wanted] if wanted in windows else []
    mine = request.query.get("mine") in ("1", "true")
    service = request.app[TICKETS]
    rows = await service.find(windows=windows, status=status, staff=staff.username if mine else None)
    return json_response({"tickets": [await _ticket_json(service, t) for t in rows]})


@routes.get("/api/v1/agent/tickets/{ticket_id}")
async def get_ticket(request: web.Request) -> web.Response:
    """A ticket with its whole conversation: the bot's part before the handoff, notes included."""
    staff = await current_staff(request)
    ticket = await _visible(request, staff)
    service = request.app[TICKETS]
    messages = [m.to_json() for m in await service.messages(ticket)]
    return json_response({**await _ticket_json(service, ticket), "messages": messages})


Action = Callable[[TicketService, Ticket, StaffMember, dict[str, Any]], Awaitable[Any]]


def _text(body: dict[str, Any], name: str, required: bool = True) -> str:
    return require_str(body, name, max_chars=MAX_TEXT, required=required) or ""


ACTIONS: dict[str, Action] = {
    "claim": lambda s, t, staff, b: s.claim(t.id or 0, staff.username),
    "reply": lambda s, t, staff, b: s.reply(t.id or 0, staff.username, _text(b, "text")),
    "note": lambda s, t, staff, b: s.note(t.id or 0, staff.username, _text(b, "text")),
    "transfer": lambda s, t, staff, b: s.transfer(t.id or 0, staff.username, _text(b, "window"),
                                                  _text(b, "note", required=False)),
    "release": lambda s, t, staff, b: s.release(t.id or 0, staff.username),
    "close": lambda s, t, staff, b: s.close(t.id or 0, staff.username, _text(b, "note", required=False)),
}


def _action_handler(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        staff = await current_staff(request)
        ticket = await _visible(request, staff)
        body = await read_json_object(request) if request.can_read_body else {}
        audit_note(request, target=ticket.number)
        service = request.app[TICKETS]
        result = await ACTIONS[name](service, ticket, staff, body)
        if isinstance(result, Ticket):
            return json_response(await _ticket_json(service, result))
        return json_response(result.to_json())

    handler.__doc__ = f"Ticket action `{name}`."
    return handler


for _name in ACTIONS:
    routes.post(f"/api/v1/agent/tickets/{{ticket_id}}/{_name}")(_action_handler(_name))


@routes.get("/api/v1/agent/canned")
async def canned(request: web.Request) -> web.Response:
    """Canned replies of a window (default: the caller's first window)."""
    staff = await current_staff(request)
    window = request.query.get("window") or (staff.windows[0] if staff.windows else "综合")
    if window not in ALL_WINDOWS:
        raise InvalidInput(f"没有“{window}”这个窗口。", code="unknown_window")
    return json_response({"replies": request.app[TICKETS].rules.canned_for(window)})


@routes.post("/api/v1/agent/presence")
async def presence(request: web.Request) -> web.Response:
    """The console is open (send every 30 s): tickets claimed by someone silent for 90 s go back to the queue."""
    staff = await current_staff(request)
    await request.app[TICKETS].heartbeat(staff.username, _windows(staff))
    return web.Response(status=204)
