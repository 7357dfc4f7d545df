"""The Rasa backend: a Rasa server's `/model/parse`, called with aiohttp. When Rasa is down or slow, the
built-in NLU answers instead (and that is logged), so the bot keeps working.
"""

from __future__ import annotations

import logging
import time

import aiohttp

from intents.base import Entity, Parse
from intents.builtin import BuiltinNLU

log = logging.getLogger("intents.rasa")
WARN_EVERY_SECONDS = 60.0


class RasaNLU:
    """Parses with Rasa; regex entities (phone, case number, date, ID) come from the built-in extractor,
    which also fills in when Rasa cannot be reached.
    """

    def __init__(self, url: str, session: aiohttp.ClientSession, fallback: BuiltinNLU, timeout: float) -> None:
        self._url = url.rstrip("/") + "/model/parse"
        self._session = session
        self._fallback = fallback
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._last_warning = 0.0
        self.fallbacks = 0  # how many messages the built-in NLU answered instead

    async def parse(self, text: str) -> Parse:
        """Rasa's understanding of the text, or the built-in one when Rasa fails."""
        builtin = self._fallback.parse_sync(text)
        try:
            async with self._session.post(self._url, json={"text": text}, timeout=self._timeout) as resp:
                if resp.status != 200:
                    raise aiohttp.ClientResponseError(resp.request_info, resp.history, status=resp.status)
                data = await resp.json()
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            self.fallbacks += 1
            now = time.monotonic()
            if now - self._last_warning > WARN_EVERY_SECONDS:
                self._last_warning = now
                log.warning("Rasa at %s failed (%s); the built-in NLU answers instead", self._url,
                            type(exc).__name__)
            return builtin
        if builtin.confidence == 1.0 and builtin.ranking and builtin.ranking[0][1] == 1.0:
            return builtin  # an exact global command (取消, 转人工) never depends on a model
        intent = data.get("intent") or {}
        rasa_entities = [Entity(str(e["entity"]), str(e.get("value", "")), int(e["start"]), int(e["end"]),
                                str(e.get("extractor", "rasa"))) for e in data.get("entities") or []]
        taken = {i for e in rasa_entities for i in range(e.start, e.end)}
        merged = rasa_entities + [e for e in builtin.entities if not taken & set(range(e.start, e.end))]
        ranking = tuple((str(r["name"]), float(r["confidence"])) for r in data.get("intent_ranking") or [])
        return Parse(text, str(intent.get("name") or builtin.intent), float(intent.get("confidence") or 0.0),
                     tuple(sorted(merged, key=lambda e: e.start)), ranking)
