"""Read-only HTTP API of the knowledge base: `/api/v1/kb/...` (DESIGN §3)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.http import json_response, parse_uint
from bot.typedefs import KB
from core.clock import today_local
from core.errors import InvalidInput, NotFound
from policy_kb.kb import KnowledgeBase
from policy_kb.schema import DOMAINS, NEEDS, SCALES, WINDOWS, Policy, Profile, ServiceItem

routes = web.RouteTableDef()
MAX_LIMIT = 100


def _json(data: Any) -> web.Response:
    return json_response(data, default=str)


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    if value not in allowed:
        raise InvalidInput(f"参数 {name} 只能是：{'、'.join(allowed)}。", code="invalid_parameter")
    return value


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    value = parse_uint(request.query.get(name, str(default)), maximum=high)
    if value is None or value < low:
        raise InvalidInput(f"参数 {name} 必须是 {low}–{high} 之间的整数。", code="invalid_parameter")
    return value


def _query(request: web.Request) -> str | None:
    q = request.query.get("q", "").strip()
    if len(q) > 200:
        raise InvalidInput("参数 q 不能超过 200 个字符。", code="invalid_parameter")
    return q or None


def item_summary(item: ServiceItem) -> dict[str, Any]:
    """The short form of an item used in lists."""
    return {"code": item.code, "name": item.name, "window": item.window, "department": item.department,
            "promised_days": item.promised_days, "cross_province": item.cross_province}


def policy_json(policy: Policy, *, full: bool = False) -> dict[str, Any]:
    """A policy with its current status; the short form for lists."""
    today = today_local()
    status = "expired" if policy.expired(today) else "not_yet_valid" if policy.not_yet_valid(today) else "current"
    if full:
        return {**policy.model_dump(mode="json"), "status": status}
    return {"id": policy.id, "title": policy.title, "doc_no": policy.doc_no, "domain": policy.domain,
            "benefit": policy.benefit, "valid_until": policy.valid_until, "status": status, "sample": policy.sample}


@routes.get("/api/v1/kb/items")
async def list_items(request: web.Request) -> web.Response:
    """Items matching `q` (best first, with scores) or all items of a window, paged."""
    kb: KnowledgeBase = request.app[KB].current
    q, window = _query(request), _choice(request, "window", WINDOWS)
    limit, offset = _int(request, "limit", 20, 1, MAX_LIMIT), _int(request, "offset", 0, 0, 10**6)
    if q:
        hits = kb.search(q, kinds=["item"], limit=limit, facets={"window": window} if window else None)
        return _json({"items": [{**item_summary(kb.items[h.key]), "score": h.score, "confident": h.confident}
                                for h in hits], "total": len(hits)})
    items = [i for i in kb.items.values() if window is None or i.window == window]
    return _json({"items": [item_summary(i) for i in items[offset:offset + limit]], "total": len(items)})


@routes.get("/api/v1/kb/items/{code}")
async def get_item(request: web.Request) -> web.Response:
    """One item's complete 办事指南."""
    item = request.app[KB].current.items.get(request.match_info["code"])
    if item is None:
        raise NotFound("没有这个事项编码。")
    return _json(item.model_dump(mode="json"))


@routes.get("/api/v1/kb/bundles")
async def list_bundles(request: web.Request) -> web.Response:
    """Every bundle (一件事)."""
    kb: KnowledgeBase = request.app[KB].current
    return _json({"bundles": [{"code": b.code, "name": b.name, "items": list(b.items)} for b in kb.bundles.values()]})


@routes.get("/api/v1/kb/bundles/{code}")
async def get_bundle(request: web.Request) -> web.Response:
    """A bundle with its items and its merged material list (each document once)."""
    kb: KnowledgeBase = request.app[KB].current
    bundle = kb.bundles.get(request.match_info["code"])
    if bundle is None:
        raise NotFound("没有这个一件事编码。")
    materials = [m.__dict__ for m in kb.bundle_materials(bundle.code)]
    return _json({**bundle.model_dump(mode="json"), "item_names": [kb.items[c].name for c in bundle.items],
                  "materials": materials})


@routes.get("/api/v1/kb/policies")
async def list_policies(request: web.Request) -> web.Response:
    """Policies by text, domain and enterprise profile. With a profile, only current eligible ones, best first."""
    kb: KnowledgeBase = request.app[KB].current
    q, domain = _query(request), _choice(request, "domain", DOMAINS)
    scale = _choice(request, "scale", SCALES)
    taxpayer = _choice(request, "taxpayer_type", ("小规模纳税人", "一般纳税人"))
    need = _choice(request, "need", NEEDS)
    industry = request.query.get("industry") or None
    limit = _int(request, "limit", 20, 1, MAX_LIMIT)
    if q:
        hits = kb.search(q, kinds=["policy"], limit=limit, facets={"domain": domain} if domain else None)
        policies = [kb.policies[h.key] for h in hits]
    elif scale or taxpayer or need or industry:
        profile = Profile.model_validate({"scale": scale, "taxpayer_type": taxpayer, "industry": industry,
                                          "needs": (need,) if need else ()})
        policies = [p for p in kb.eligible(profile, today_local()) if domain is None or p.domain == domain]
    else:
        policies = [p for p in kb.policies.values() if domain is None or p.domain == domain]
    return _json({"policies": [policy_json(p) for p in policies[:limit]], "total": len(policies)})


@routes.get("/api/v1/kb/policies/{id}")
async def get_policy(request: web.Request) -> web.Response:
    """One policy with its status (current, expired, not_yet_valid)."""
    policy = request.app[KB].current.policies.get(request.match_info["id"])
    if policy is None:
        raise NotFound("没有这个政策编号。")
    return _json(policy_json(policy, full=True))
