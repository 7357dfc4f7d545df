"""Random input never crashes anything (issue 9): the WeChat XML entry and the chat entry, with random
Unicode, emoji, control characters, 10 KB texts and full-width digits."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import create_app
from channels.wechat import parse_wechat_message, safe_xml
from core.errors import InvalidInput
from core.settings import Settings
from tests.conftest import Visitor, new_visitor

# Bounded: a fixed number of examples, no deadline flakiness on a busy CI machine.
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TEXTS = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1F), max_size=50),  # control characters
    st.text(alphabet="０１２３４５６７８９ 　-手机号是我的😀🚀", max_size=60),  # full-width digits, emoji
    st.just("办" * 1999),
)


@FUZZ
@given(body=st.binary(max_size=2048))
def test_random_bytes_to_the_xml_entry_are_refused_cleanly(body: bytes) -> None:
    try:
        parse_wechat_message(safe_xml(body))
    except InvalidInput as exc:
        assert exc.status == 400 and exc.message
    # anything else raised here fails the test


@FUZZ
@given(content=TEXTS)
def test_random_text_in_a_wechat_message_parses_or_is_refused(content: str) -> None:
    xml = ("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>"
           f"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]>"
           "</Content><MsgId>1</MsgId></xml>")
    try:
        parse_wechat_message(safe_xml(xml.encode("utf-8", errors="surrogatepass")))
    except InvalidInput as exc:
        assert exc.status == 400


ODD = ["", " ", "\x00\x01\x02", "😀" * 500, "１３９１２３４５６７８", "\u202e\u200b", "办" * 2000]


@pytest.mark.parametrize("text", ODD)
async def test_odd_chat_messages_get_a_polite_answer(visitor: Visitor, text: str) -> None:
    reply = await visitor.say(text)
    assert reply["replies"] and all(r["text"] for r in reply["replies"])


async def test_random_chat_messages_never_fail(aiohttp_client: Any, settings: Settings) -> None:
    """Many random texts through the real API: 200 with replies, or 413 for the over-long ones."""
    client = await aiohttp_client(create_app(settings.model_copy(update={"messages_per_user_minute": 10_000})))
    visitor = await new_visitor(client)

    @FUZZ
    @given(text=st.one_of(TEXTS, st.text(min_size=2001, max_size=2100)))
    def one(text: str) -> None:
        samples.append(text)

    samples: list[str] = []
    one()
    for text in samples:
        resp = await client.post("/api/v1/messages", json={"text": text, "msg_id": uuid.uuid4().hex},
                                 headers=visitor.headers)
        body = await resp.json()
        if len(text) > 2000:
            assert resp.status == 413 and body["error"]["code"] == "field_too_long"
        else:
            assert resp.status == 200, body
            assert body["replies"]
