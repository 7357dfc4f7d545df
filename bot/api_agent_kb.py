"""Staff side of the knowledge base: admins reload every worker's KB (optionally from the YAML seed
first); supervisors and admins list the questions the assistant could not answer (否定备案 / KB gaps).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.api_staff import audit_note, current_staff, require_role
from bot.http import json_response, parse_uint, read_json_object
from bot.typedefs import GAPS, KB
from core.errors import InvalidInput

routes = web.RouteTableDef()
RELOAD_WAIT_SECONDS = 30.0
GAP_KINDS = ("item", "policy", "chat", "out_of_scope")



@routes.post("/api/v1/agent/kb/reload")
async def reload_kb(request: web.Request) -> web.Response:
    """Every worker rebuilds its KB from the database (after loading the YAML seed when `seed` is true);
    answers once this worker has the new snapshot.
    """
    staff = await current_staff(request)
    require_role(staff, "admin")
    body = await read_json_object(request) if request.can_read_body else {}
    seed = body.get("seed", False)
    if not isinstance(seed, bool):
        raise InvalidInput("字段 seed 必须是 true 或 false。", code="invalid_field")
    service = request.app[KB]
    audit_note(request, target="kb", seed=seed)
    if seed:
        await service.load_seed()
    generation = service.generation
    workers = await service.announce_reload()
    async with asyncio.timeout(RELOAD_WAIT_SECONDS):
        await service.wait_for_generation(generation + 1)
    kb = service.current
    return json_response({"workers_notified": workers, "items": len(kb.items), "bundles": len(kb.bundles),
                              "policies": len(kb.policies)})


@routes.get("/api/v1/agent/kb/gaps")
async def kb_gaps(request: web.Request) -> web.Response:
    """Unanswered questions, most frequent first (personal data already masked when they were recorded)."""
    require_role(await current_staff(request), "supervisor", "admin")
    limit = parse_uint(request.query.get("limit", "50"), maximum=500)
    if not limit:
        raise InvalidInput("limit 须为 1–500 的整数。", code="invalid_query")
    kind = request.query.get("kind") or None
    if kind not in (None, *GAP_KINDS):
        raise InvalidInput("kind 只能是 " + "、".join(GAP_KINDS) + "。", code="invalid_query")
    rows = await request.app[GAPS].top(limit, kind)
    return json_response({"gaps": [{"query": g.query, "example": g.example, "kind": g.kind, "count": g.count,
                                        "first_seen": g.first_seen.isoformat(), "last_seen": g.last_seen.isoformat()}
                                       for g in rows]})
