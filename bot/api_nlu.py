"""`POST /api/v1/nlu/parse`: the NLU on its own, in the same JSON shape as Rasa's `/model/parse`."""

from __future__ import annotations

from aiohttp import web

from bot.http import json_response, read_json_object, require_str
from bot.typedefs import NLU_BACKEND, SETTINGS
from core.errors import InvalidInput

routes = web.RouteTableDef()


@routes.post("/api/v1/nlu/parse")
async def parse(request: web.Request) -> web.Response:
    """Intent, entities and ranking of `text`."""
    body = await read_json_object(request)
    text = require_str(body, "text", max_chars=request.app[SETTINGS].max_text_chars) or ""
    if not text.strip():
        raise InvalidInput("字段 text 不能为空。", code="invalid_field")
    result = await request.app[NLU_BACKEND].parse(text)
    return json_response(result.to_json())
