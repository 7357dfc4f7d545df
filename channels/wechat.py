"""WeChat official account channel (`GET|POST /wechat`): URL verification, plaintext and safe (AES) modes,
messages and events → Inbound, replies passively within a budget or later as customer-service messages.

WeChat retries a message three times within 15 s when no answer comes in 5 s. A retry on this worker joins
the run already in progress; on another worker it waits for the engine's per-user lock and gets the first
run's result (the engine de-duplicates by msg_id). Whichever request finishes first decides, once, in Redis
whether the reply goes out passively or pushed, so a reply is never delivered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from aiohttp import web
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.replies import TextReply

from bot.engine import Engine, TurnResult
from bot.http import client_address, parse_uint
from bot.messages import Inbound, Reply
from bot.models import OutboundMessage
from bot.outbox import REDELIVER_AFTER, Outbox
from bot.texts import Texts
from bot.typedefs import BACKGROUND_TASKS, DB, ENGINE, HTTP_CLIENT, OUTBOX, REDIS, SETTINGS, TICKETS
from channels.wechat_api import RECIPIENT_REFUSED, WINDOW_CLOSED, WeChatApi, WeChatApiError
from core.errors import ConfigError, Forbidden, InvalidInput, NotFound, PayloadTooLarge, YichuangError
from core.keys import Prefix, key
from core.settings import Settings
from core.yamlfile import load_yaml
from handoff.tickets import TicketService
from policy_kb.prechecks import PrecheckStore

CHANNEL = "wechat"
log = logging.getLogger("channels.wechat")

MENU_FILE = Path(__file__).parent / "data" / "wechat_menu.yml"
TEXT_LIMIT_BYTES = 2048  # WeChat's limit for a text message (passive reply and customer-service message)
MAX_BODY_BYTES = 32 * 1024  # a WeChat push is a few KB; an encrypted one about 4/3 of that
MAX_CLOCK_SKEW_SECONDS = 300  # a request signed longer ago (or ahead) than this is refused as stale
SUCCESS = "success"  # "received, nothing to say now": WeChat does not retry and shows nothing
THING_CHARS = 20  # template fields of type thing* hold at most 20 characters
TEMPLATE_CHARS = 200
DRAIN_SECONDS = 5.0  # shutdown waits this long for pushed messages still queued for WeChat
PRECHECK_ATTACH_WINDOW = timedelta(hours=24)  # an image joins the user's pre-check made this recently


# ---------------------------------------------------------------- menu file


@dataclass(frozen=True)
class WeChatMenu:
    """The custom menu (`channels/data/wechat_menu.yml`) and what its CLICK keys say to the assistant."""

    subscribe_text: str
    menu: dict[str, Any]
    payloads: dict[str, str]

    @classmethod
    def load(cls, path: Path = MENU_FILE) -> WeChatMenu:
        """Read and check the file against WeChat's limits; a bad file fails start-up with its reason."""
        data = load_yaml(path) or {}
        buttons = (data.get("menu") or {}).get("button") or []
        if not 1 <= len(buttons) <= 3:
            raise ConfigError(f"{path}: the menu needs 1 to 3 top-level buttons")
        payloads: dict[str, str] = {}

        def check(button: Mapping[str, Any], limit: int) -> None:
            name = str(button.get("name", ""))
            if not name or len(name.encode()) > limit:
                raise ConfigError(f"{path}: button name {name!r} must be 1 to {limit} bytes")
            kind = button.get("type")
            if kind == "click":
                button_key, payload = str(button.get("key", "")), str(button.get("payload", ""))
                if not button_key or len(button_key.encode()) > 128 or not payload:
                    raise ConfigError(f"{path}: click button {name!r} needs a key (≤128 bytes) and a payload")
                if button_key in payloads:
                    raise ConfigError(f"{path}: key {button_key!r} is used twice")
                payloads[button_key] = payload
            elif kind == "view":
                if not str(button.get("url", "")).startswith(("http://", "https://")):
                    raise ConfigError(f"{path}: view button {name!r} needs an http(s) url")
            elif kind is not None:
                raise ConfigError(f"{path}: button {name!r} has an unsupported type {kind!r}")

        for top in buttons:
            subs = top.get("sub_button")
            if subs:
                if len(subs) > 5 or len(str(top.get("name", "")).encode()) > 16:
                    raise ConfigError(f"{path}: {top.get('name')!r} may have at most 5 sub-buttons and 16 bytes")
                for sub in subs:
                    check(sub, 60)
            else:
                check(top, 16)
        return cls(str(data.get("subscribe_text") or "你好"), {"button": buttons}, payloads)

    def wire(self) -> dict[str, Any]:
        """The menu as WeChat's `menu/create` takes it (our `payload` fields removed)."""
        def strip(button: Mapping[str, Any]) -> dict[str, Any]:
            out = {k: v for k, v in button.items() if k not in ("payload", "sub_button")}
            if button.get("sub_button"):
                out["sub_button"] = [strip(sub) for sub in button["sub_button"]]
            return out

        return {"button": [strip(b) for b in self.menu["button"]]}


# ---------------------------------------------------------------- signatures, XML, rendering


def signature(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the parts sorted and joined."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signature_ok(given: str, *parts: str) -> bool:
    """Compare a signature in constant time."""
    return hmac.compare_digest(given.encode(), signature(*parts).encode())


def safe_xml(raw: bytes) -> str:
    """The body as text once it is known to be plain, well-formed XML: no DTD, no entities, root `<xml>`."""
    return checked_xml(raw)[0]


def checked_xml(raw: bytes) -> tuple[str, Element]:
    """`safe_xml`'s text and the parsed root element, for a caller that reads the XML itself."""
    lowered = raw[:MAX_BODY_BYTES].lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise InvalidInput("不接受带 DTD 或实体声明的 XML。", code="xml_dtd_forbidden")
    try:
        text = raw.decode("utf-8")
        root = safe_fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (UnicodeDecodeError, ParseError, DefusedXmlException):
        raise InvalidInput("请求体不是合法的微信 XML 消息。", code="invalid_xml") from None
    if root.tag != "xml":
        raise InvalidInput("请求体不是合法的微信 XML 消息。", code="invalid_xml")
    return text, root


def parse_wechat_message(text: str) -> Any:
    """wechatpy's message or event object for a checked XML text."""
    try:
        message = parse_message(text)
    except (KeyError, TypeError, ValueError, AttributeError):
        message = None
    if message is None or not getattr(message, "source", None):
        raise InvalidInput("微信消息缺少必需字段。", code="invalid_xml")
    return message


def split_text(text: str, limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """Pieces of at most `limit` UTF-8 bytes, cut at line ends where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode()) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        current = ""
        while len(line.encode()) > limit:  # one line over the limit: cut between characters
            cut = len(line.encode()[:limit].decode(errors="ignore"))
            pieces.append(line[:cut])
            line = line[cut:]
        current = line
    if current:
        pieces.append(current)
    return pieces


def pack(texts: Sequence[str], limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """Reply texts as few WeChat messages as possible: joined by a blank line while they fit, split when too long."""
    messages: list[str] = []
    for text in texts:
        for piece in split_text(text, limit):
            if messages and len(f"{messages[-1]}\n\n{piece}".encode()) <= limit:
                messages[-1] = f"{messages[-1]}\n\n{piece}"
            else:
                messages.append(piece)
    return messages


def render_turn(replies: Sequence[Reply]) -> list[str]:
    """A turn's or a push's replies as WeChat texts: buttons as numbered lines. The user's next message chooses
    from them by number ("1"): the session remembers a turn's, `Prefix.PUSHED_MENU` a push's.
    """
    return pack([r.as_plain_text() for r in replies])


# ---------------------------------------------------------------- sending


class WeChatSender:
    """Sends texts to a follower as customer-service messages, falling back to a template message once the
    customer-service window has closed (errcode 45015 or 45047). One instance per worker.
    """

    def __init__(self, api: WeChatApi, settings: Settings, texts: Texts) -> None:
        self.api = api
        self._settings = settings
        self._texts = texts

    async def send(self, openid: str, messages: Sequence[str], source: str) -> bool:
        """Send in order; when the window has closed, send one template message instead (when configured).
        True when done with the messages: sent, or refused for a reason a resend cannot fix (logged); False when
        worth trying again later (network, WeChat busy or over quota, a configuration error).
        """
        for message in messages:
            try:
                await self.api.send_text(openid, message)
            except WeChatApiError as exc:
                if exc.errcode in WINDOW_CLOSED:
                    return await self._template(openid, "\n".join(messages), source)
                if exc.errcode in RECIPIENT_REFUSED:
                    log.warning("WeChat refused a %s message to a follower for good: errcode %s", source,
                                exc.errcode)
                    return True
                log.error("WeChat message (%s) to a follower not delivered: errcode %s", source, exc.errcode)
                return False
        return True

    async def _template(self, openid: str, text: str, source: str) -> bool:
        settings = self._settings
        if not settings.wechat_template_id:
            log.warning("a follower is outside the 48-hour window and no template is configured: %s notice kept "
                        "in the outbox only", source)
            return True
        data = template_data(settings.wechat_template_fields, text, source, self._texts, settings.timezone)
        try:
            await self.api.send_template(openid, settings.wechat_template_id, data, settings.wechat_template_url)
        except WeChatApiError as exc:
            log.error("WeChat template message (%s) not delivered: errcode %s", source, exc.errcode)
            return exc.errcode in RECIPIENT_REFUSED
        return True


SOURCES = frozenset({"staff", "case", "system", "turn"})


def template_data(fields: Mapping[str, str], text: str, source: str, texts: Texts, timezone: str) -> dict[str, str]:
    """Template (or subscription) message fields filled from a pushed text: `fields` maps each field to `text`,
    `title` (first line), `source` (who sends it, in words) or `time`; `thing*` fields hold 20 characters.
    """
    values = {"text": text, "title": text.split("\n", 1)[0],
              "source": texts.get(f"wechat_source_{source}") if source in SOURCES else source,
              "time": datetime.now(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")}
    data = {}
    for field, what in fields.items():
        limit = THING_CHARS if field.startswith("thing") else TEMPLATE_CHARS
        value = values[what]
        data[field] = value if len(value) <= limit else value[: limit - 1] + "…"
    return data


# Sends one push (openid, replies, source); True when done with its rows (see WeChatSender.send), False to retry.
PushSend = Callable[[str, Sequence[Reply], str], Awaitable[bool]]


class OutboxDispatcher:
    """An OutboxListener for one channel: messages pushed to its users (staff replies, case notices) are sent by
    `send(openid, replies, source)`, in order, from one queue per worker, and their rows marked delivered.
    `redeliver` (the SLA leader's chore) sends again what stayed undelivered: at least once, in order per user.
    """

    def __init__(self, channel: str, send: PushSend, outbox: Outbox) -> None:
        self._channel = channel
        self._send = send
        self._outbox = outbox
        self._queue: asyncio.Queue[tuple[str, list[Reply], str, list[int]]] = asyncio.Queue()

    async def pushed(self, user_id: str, replies: Sequence[Reply], source: str, ids: Sequence[int]) -> None:
        """Queue the messages of one of this channel's users; others are not ours."""
        channel, _, openid = user_id.partition(":")
        if channel == self._channel and openid:
            self._queue.put_nowait((openid, list(replies), source, list(ids)))

    async def _deliver(self, openid: str, replies: Sequence[Reply], source: str, ids: Sequence[int]) -> bool:
        """Send one push and mark its rows; False when it should be tried again later."""
        try:
            done = await self._send(openid, replies, source)
        except Exception:
            log.exception("sending a pushed %s message to %s failed", source, self._channel)
            return False
        if done:
            await self._outbox.mark_delivered(ids)
        return done

    async def run(self) -> None:
        """Send queued messages one after another until cancelled."""
        while True:
            openid, replies, source, ids = await self._queue.get()
            try:
                await self._deliver(openid, replies, source, ids)
            except Exception:
                log.exception("marking pushed %s messages delivered failed (they may be sent again)", self._channel)
            finally:
                self._queue.task_done()

    async def redeliver(self, now: datetime | None = None, *, min_age: timedelta = REDELIVER_AFTER) -> int:
        """Send this channel's rows still undelivered `min_age` after they were pushed (and within 48 hours), in
        order per user; a user whose send fails keeps the rest for the next round. Returns the rows delivered.
        """
        rows = await self._outbox.undelivered([self._channel], now=now, min_age=min_age)
        by_user: dict[str, list[OutboundMessage]] = {}
        for row in rows:
            by_user.setdefault(row.user_id, []).append(row)
        delivered = 0
        for user_id, user_rows in by_user.items():
            openid = user_id.partition(":")[2]
            for _, group in itertools.groupby(user_rows, key=lambda row: row.source):  # one send per run of a source
                batch = list(group)
                ids = [row.id for row in batch if row.id is not None]
                if not await self._deliver(openid, [Reply.from_json(row.reply) for row in batch], batch[0].source,
                                           ids):
                    break
                delivered += len(ids)
        return delivered

    async def drain(self) -> None:
        """Wait until everything queued has been sent (tests, shutdown)."""
        await self._queue.join()

    @contextlib.asynccontextmanager
    async def running(self, drain_seconds: float = DRAIN_SECONDS) -> AsyncIterator[None]:
        """Run the queue for the duration of the block (a cleanup_ctx); on the way out, give what is queued a
        few seconds to go out (what does not stays undelivered in the outbox for `redeliver`), then stop.
        """
        runner = asyncio.create_task(self.run(), name=f"{self._channel}-outbox")
        try:
            yield
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.drain(), drain_seconds)
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)


# ---------------------------------------------------------------- the channel


class WeChatChannel:
    """Turns WeChat pushes into turns and answers, within the reply budget or later through the API."""

    def __init__(self, settings: Settings, engine: Engine, redis: aioredis.Redis, sender: WeChatSender,
                 texts: Texts, menu: WeChatMenu, background: set[asyncio.Task[None]],
                 tickets: TicketService | None = None, prechecks: PrecheckStore | None = None) -> None:
        self._settings = settings
        self._engine = engine
        self._redis = redis
        self.sender = sender
        self._texts = texts
        self.menu = menu
        self._background = background
        self._tickets = tickets
        self._prechecks = prechecks
        self._inflight: dict[str, asyncio.Task[TurnResult]] = {}
        self._crypto = (WeChatCrypto(settings.wechat_token, settings.wechat_aes_key, settings.wechat_app_id)
                        if settings.wechat_aes_key else None)

    # ---- request checks

    def check_signature(self, query: Mapping[str, str], *extra: str, name: str = "signature") -> None:
        """Refuse (403) a request whose signature is wrong or whose timestamp is stale."""
        token = self._settings.wechat_token or ""
        timestamp, nonce, given = query.get("timestamp", ""), query.get("nonce", ""), query.get(name, "")
        stamp = parse_uint(timestamp, maximum=2**40)  # unix seconds; "²" passes isdigit() but not int()
        if stamp is None or not (nonce and given) or not signature_ok(given, token, timestamp, nonce, *extra):
            raise Forbidden("签名校验失败。", code="invalid_signature")
        if abs(time.time() - stamp) > MAX_CLOCK_SKEW_SECONDS:
            raise Forbidden("请求已过期。", code="stale_request")

    def open_body(self, query: Mapping[str, str], raw: bytes) -> tuple[str, bool]:
        """The message XML (decrypted in safe mode) and whether the request was encrypted."""
        self.check_signature(query)
        text, root = checked_xml(raw)
        if query.get("encrypt_type", "raw") != "aes":
            return text, False
        if self._crypto is None:
            raise InvalidInput("收到加密消息，但没有配置 EncodingAESKey。", code="aes_not_configured")
        encrypted = (root.findtext("Encrypt") or "").strip()
        if not encrypted:
            raise InvalidInput("加密消息缺少 Encrypt 字段。", code="invalid_xml")
        self.check_signature(query, encrypted, name="msg_signature")
        try:
            plain = PrpCrypto(self._crypto.key).decrypt(encrypted, self._settings.wechat_app_id)
        except Exception:  # wrong app id, bad padding, not base64: the message is not for us
            raise InvalidInput("无法解密的微信消息。", code="invalid_ciphertext") from None
        return safe_xml(plain.encode() if isinstance(plain, str) else plain), True

    def reply_body(self, message: Any, text: str | None, query: Mapping[str, str], encrypted: bool) -> str:
        """A passive text reply as XML (encrypted when the request was), or "success" for none."""
        if not text:
            return SUCCESS
        xml = TextReply(source=message.target, target=message.source, content=text, time=int(time.time())).render()
        if encrypted and self._crypto is not None:
            return str(self._crypto.encrypt_message(xml, query.get("nonce", ""), str(int(time.time()))))
        return str(xml)

    # ---- messages

    async def answer(self, message: Any) -> str | None:
        """The text to reply passively to one message or event; None to answer "success"."""
        openid = str(message.source)
        user_id = f"{CHANNEL}:{openid}"
        kind = str(message.type)
        msg_id = str(message.id or f"{message.time}:{kind}")  # MsgId is WeChat's de-duplication key
        if kind == "text":
            text = str(message.content or "")[: self._settings.max_text_chars]
            return await self._turn(Inbound(CHANNEL, user_id, text, msg_id))
        if kind == "voice":
            recognised = str(message.recognition or "").strip()
            if not recognised:
                return self._texts.get("wechat_voice_unrecognised")
            return await self._turn(Inbound(CHANNEL, user_id, recognised, msg_id, kind="voice"))
        if kind == "image":
            return await self._image(user_id, msg_id, str(message.image or ""), str(message.media_id or ""))
        if kind == "location":
            return self._texts.get("wechat_location_received", label=str(message.label or "").strip() or "—")
        if kind == "event":
            return await self._event(message, user_id)
        return self._texts.get("unsupported_message")

    async def _image(self, user_id: str, msg_id: str, url: str, media_id: str) -> str:
        """An image goes to the staff member of an open 转人工 ticket; without one, it is stored as an attachment
        of the user's pre-check (材料预审) of the last 24 hours; otherwise it is only acknowledged. Once, whatever
        the retries.
        """
        if not url.startswith(("http://", "https://")):
            return self._texts.get("wechat_image_received")
        inbound = Inbound(CHANNEL, user_id, "", msg_id, kind="image")
        tickets = self._tickets
        ticket = await tickets.open_ticket_of(user_id) if tickets is not None else None
        if tickets is not None and ticket is not None:
            if await self._claim(inbound, "passive"):
                await tickets.citizen_says(ticket, self._texts.get("wechat_image_for_staff", url=url))
            return self._texts.get("wechat_image_relayed")
        prechecks = self._prechecks
        since = datetime.now(UTC) - PRECHECK_ATTACH_WINDOW
        precheck = await prechecks.latest_since(user_id, since) if prechecks is not None else None
        if prechecks is None or precheck is None or precheck.id is None:
            return self._texts.get("wechat_image_received")
        if await self._claim(inbound, "passive"):
            # Two pictures sent together arrive as two requests: one at a time reads and extends the list.
            async with self._redis.lock(key(Prefix.USER_LOCK, user_id, "attachments"), timeout=10,
                                        blocking_timeout=5):
                await prechecks.attach(precheck.id, url, media_id)
        return self._texts.get("wechat_image_attached", number=precheck.number)

    async def _event(self, message: Any, user_id: str) -> str | None:
        event = str(message.event)
        msg_id = f"event:{message.time}:{event}"  # WeChat: de-duplicate events by FromUserName + CreateTime
        if event in ("subscribe", "subscribe_scan"):
            log.info("new follower %s", user_id)
            inbound = Inbound(CHANNEL, user_id, self.menu.subscribe_text, msg_id, kind="event",
                              payload={"event": event})
            return await self._turn(inbound)
        if event == "click":
            payload = self.menu.payloads.get(str(message.key))
            if payload is None:
                log.warning("menu click with an unknown key %r", message.key)
                payload = "帮助"
            return await self._turn(Inbound(CHANNEL, user_id, payload, msg_id, kind="event",
                                            payload={"event": event, "key": str(message.key)}))
        if event == "unsubscribe":
            log.info("follower %s left", user_id)
        elif event == "templatesendjobfinish":
            log.info("template message %s: %s", message.id, message.status)
        return None  # view, location reports and others need no answer

    # ---- turns within the budget, or later

    async def _turn(self, inbound: Inbound) -> str | None:
        task = self._run(inbound)
        try:
            result = await asyncio.wait_for(asyncio.shield(task), self._settings.wechat_reply_budget_seconds)
        except TimeoutError:
            if await self._claim(inbound, "push"):
                self._spawn(self._deliver_later(inbound, task))
            return None
        except YichuangError as exc:
            return exc.message
        except Exception:
            log.exception("WeChat turn failed")
            return self._texts.get("internal_error")
        messages = render_turn(result.replies)
        if not messages:
            await self._claim(inbound, "passive")
            return None
        if len(messages) == 1:
            if await self._claim(inbound, "passive") or await self._claimed(inbound) == "passive":
                return messages[0]
            return None
        # More than one message fits no passive reply: all go out through the API, in order.
        if await self._claim(inbound, "push"):
            self._spawn(self.sender.send(inbound.user_id.partition(":")[2], messages, "turn"))
        return None

    def _run(self, inbound: Inbound) -> asyncio.Task[TurnResult]:
        """The engine run for this message: a retry on this worker joins the one in progress."""
        slot = f"{inbound.user_id}\n{inbound.msg_id}"
        task = self._inflight.get(slot)
        if task is None:
            task = asyncio.create_task(self._engine.handle(inbound), name=f"wechat-turn-{inbound.msg_id}")
            self._inflight[slot] = task
            task.add_done_callback(lambda done: self._finished(slot, done))
        return task

    def _finished(self, slot: str, task: asyncio.Task[TurnResult]) -> None:
        self._inflight.pop(slot, None)
        if not task.cancelled() and (exc := task.exception()) is not None and not isinstance(exc, YichuangError):
            log.warning("WeChat turn of message %s failed: %s", slot.partition("\n")[2], type(exc).__name__)

    async def _claim(self, inbound: Inbound, how: str) -> bool:
        """Decide once, across workers, how this message's reply goes out. True when this call decided."""
        return bool(await self._redis.set(key(Prefix.WECHAT_DELIVERY, inbound.user_id, inbound.msg_id), how,
                                          nx=True, ex=self._settings.dedupe_ttl_seconds))

    async def _claimed(self, inbound: Inbound) -> str | None:
        value = await self._redis.get(key(Prefix.WECHAT_DELIVERY, inbound.user_id, inbound.msg_id))
        return str(value) if value is not None else None

    async def _deliver_later(self, inbound: Inbound, task: asyncio.Task[TurnResult]) -> None:
        """A slow turn: send its replies as customer-service messages once it is done."""
        try:
            messages = render_turn((await task).replies)
        except YichuangError as exc:
            messages = [exc.message]
        except Exception:
            log.exception("WeChat turn failed")
            messages = [self._texts.get("internal_error")]
        if messages:
            await self.sender.send(inbound.user_id.partition(":")[2], messages, "turn")

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        """Cancel turns still running (shutdown)."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


WECHAT = web.AppKey("wechat", WeChatChannel)
WECHAT_OUTBOX = web.AppKey("wechat_outbox", OutboxDispatcher)

routes = web.RouteTableDef()


def _channel(request: web.Request) -> WeChatChannel:
    channel = request.app.get(WECHAT)
    if channel is None:
        raise NotFound("微信公众号渠道未启用。", code="channel_disabled")
    return channel


def _refused(request: web.Request, exc: YichuangError) -> None:
    """Log a refused request: who and why, never the body."""
    log.warning("WeChat request refused (%s) from %s", exc.code, client_address(request))


@routes.get("/wechat")
async def verify_url(request: web.Request) -> web.Response:
    """Server URL verification: echo `echostr` when the signature is WeChat's."""
    channel = _channel(request)
    try:
        channel.check_signature(request.query)
    except Forbidden as exc:
        _refused(request, exc)
        raise
    return web.Response(text=request.query.get("echostr", ""))


@routes.post("/wechat")
async def receive(request: web.Request) -> web.Response:
    """A message or event pushed by WeChat; the answer is a passive reply or "success"."""
    channel = _channel(request)
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise PayloadTooLarge("请求体过大。")
    raw = await request.read()
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge("请求体过大。")
    try:
        text, encrypted = channel.open_body(request.query, raw)
        message = parse_wechat_message(text)
    except (Forbidden, InvalidInput) as exc:
        _refused(request, exc)
        raise
    answer = await channel.answer(message)
    body = channel.reply_body(message, answer, request.query, encrypted)
    return web.Response(text=body, content_type="text/plain" if body == SUCCESS else "application/xml")


async def wechat_ctx(app: web.Application) -> AsyncIterator[None]:
    """The channel, its API client and the outbox dispatcher, when a WeChat token is configured."""
    settings = app[SETTINGS]
    if not settings.wechat_token:
        yield
        return
    texts = Texts.from_yaml()
    api = WeChatApi(app[HTTP_CLIENT], app[REDIS], base_url=settings.wechat_api_base,
                    app_id=settings.wechat_app_id or "", app_secret=settings.wechat_app_secret or "")
    sender = WeChatSender(api, settings, texts)
    channel = WeChatChannel(settings, app[ENGINE], app[REDIS], sender, texts, WeChatMenu.load(),
                            app[BACKGROUND_TASKS], app[TICKETS], PrecheckStore(app[DB]))

    async def send_pushed(openid: str, replies: Sequence[Reply], source: str) -> bool:
        return await sender.send(openid, render_turn(replies), source)

    dispatcher = OutboxDispatcher(CHANNEL, send_pushed, app[OUTBOX])
    app[OUTBOX].add_listener(dispatcher)
    app[WECHAT] = channel
    app[WECHAT_OUTBOX] = dispatcher
    async with dispatcher.running():
        yield
    await channel.close()


def setup(app: web.Application) -> None:
    """Register the routes (404 while no token is set) and the channel's lifetime; call after the engine's."""
    app.router.add_routes(routes)
    app.cleanup_ctx.append(wechat_ctx)
