"""The public case API (DESIGN §3): file a complaint from a form, and let its owner look it up by phone."""

from __future__ import annotations

import re

from aiohttp import web

from bot.http import client_address, json_response, read_json_object, require_str
from bot.typedefs import CASES, KB, RATE_LIMITER, TOKENS
from core.errors import InvalidInput, NotFound
from handoff.calendar import date_in_words
from handoff.case_models import Case
from handoff.cases import MAX_FIELD_CHARS, CaseDraft

routes = web.RouteTableDef()

_CASE_NO = re.compile(r"^BBC[0-9]{8}-[0-9]{4}$", re.IGNORECASE)
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")
# Wrong phones and unknown numbers both count: guessing someone's case is slow and noisy.
LOOKUP_LIMIT_PER_IP = 20
LOOKUP_LIMIT_PER_CASE = 5
LOOKUP_WINDOW_SECONDS = 600



def _case_summary(case: Case) -> dict[str, object]:
    return {"case_no": case.case_no, "status": case.status, "due_date": case.due_date.isoformat(),
            "due_in_words": date_in_words(case.due_date), "provisional": case.provisional,
            "category": case.category, "complexity": case.complexity, "days": case.days,
            "window": case.window, "department": case.department}


@routes.post("/api/v1/cases")
async def file_case(request: web.Request) -> web.Response:
    """File a 办不成事 complaint from a form. 201 when filed, 200 with the same case when it is a repeat."""
    body = await read_json_object(request)
    fields = {name: require_str(body, name, max_chars=limit, required=False) or ""
              for name, limit in MAX_FIELD_CHARS.items()}
    phone = require_str(body, "phone", max_chars=32) or ""
    item_code = require_str(body, "item_code", max_chars=64, required=False)
    user_id = None
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        user_id = request.app[TOKENS].verify(request.headers["Authorization"][7:].strip())
    request_key = request.headers.get("Idempotency-Key")
    if request_key is not None and not _IDEMPOTENCY_KEY.match(request_key):
        raise InvalidInput("Idempotency-Key 须为 8–100 位字母、数字或 _ . : -。", code="invalid_header")
    kb = request.app[KB].current
    item = None
    if item_code:
        item = kb.items.get(item_code)
        if item is None:
            raise InvalidInput(f"没有编码为 {item_code} 的事项。", code="unknown_item")
    elif fields["item_name"]:
        hit = kb.best(fields["item_name"], kinds=["item"])
        item = kb.items[hit.key] if hit else None
    draft = CaseDraft(channel="form", user_id=user_id, phone=phone, happened=fields["happened"],
                      item_name=item.name if item else fields["item_name"], item_code=item.code if item else None,
                      item_window=item.window if item else None, item_department=item.department if item else None,
                      where_when=fields["where_when"], wants=fields["wants"], name=fields["name"] or None,
                      request_key=f"form:{request_key}" if request_key else None)
    case, created = await request.app[CASES].file(draft)
    return json_response(_case_summary(case), status=201 if created else 200)


@routes.get("/api/v1/cases/{case_no}")
async def get_case(request: web.Request) -> web.Response:
    """A case and its public history, for whoever gives the phone it was filed with. A wrong phone and an
    unknown number get the same 404, and both count against a rate limit.
    """
    case_no = request.match_info["case_no"].upper()
    phone = request.query.get("phone", "")
    if not phone:
        raise InvalidInput("请在 phone 参数中提供提交时留的手机号。", code="missing_field")
    limiter = request.app[RATE_LIMITER]
    ip = client_address(request)
    await limiter.check("case-lookup-ip", ip, LOOKUP_LIMIT_PER_IP, LOOKUP_WINDOW_SECONDS, message="查询次数过多")
    await limiter.check("case-lookup-no", case_no, LOOKUP_LIMIT_PER_CASE, LOOKUP_WINDOW_SECONDS,
                        message="查询次数过多")
    service = request.app[CASES]
    try:
        if not _CASE_NO.match(case_no):
            raise NotFound("没有找到与该手机号对应的案件，请核对编号和手机号。")
        case = await service.for_owner(case_no, phone)
    except NotFound:
        await limiter.hit("case-lookup-ip", ip, LOOKUP_LIMIT_PER_IP, LOOKUP_WINDOW_SECONDS, message="查询次数过多")
        await limiter.hit("case-lookup-no", case_no, LOOKUP_LIMIT_PER_CASE, LOOKUP_WINDOW_SECONDS,
                          message="查询次数过多")
        raise
    events = await service.events(case, public_only=True)
    body = {**case.public_json(), "due_in_words": date_in_words(case.due_date),
            "events": [e.to_json() for e in events]}
    return json_response(body)
