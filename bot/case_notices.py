"""Turns case changes into messages: to the citizen through the outbox of the channel they came from,
and to the staff console as an event on Redis pub/sub.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

from bot.flows.feedback import rating_buttons
from bot.messages import Button, Reply
from bot.outbox import Outbox
from bot.texts import Texts
from core import jsoncodec
from core.keys import Prefix, key
from handoff.calendar import date_in_words
from handoff.case_models import Case
from handoff.cases import CaseChange

log = logging.getLogger("bot.case_notices")

# Which change tells the citizen what, when the service says the citizen should be told.
CITIZEN_TEXTS = {"accepted": "case_notice_accepted", "transferred": "case_notice_transferred",
                 "paused": "case_notice_paused", "resumed": "case_notice_due_changed",
                 "reclassified": "case_notice_due_changed", "resolved": "case_notice_resolved"}


class CaseNotices:
    """A CaseListener: one message to the citizen (if they can be reached) and one staff-console event."""

    def __init__(self, outbox: Outbox, redis: aioredis.Redis, texts: Texts) -> None:
        self._outbox = outbox
        self._redis = redis
        self._texts = texts

    async def case_changed(self, case: Case, change: CaseChange) -> None:
        """Tell the citizen (when asked to) and the console (always)."""
        if change.citizen and change.kind in CITIZEN_TEXTS:
            # The chat it was filed from, and any other chat of the citizen's following it.
            for user_id in filter(None, (case.user_id, *change.followers)):
                await self._outbox.push(user_id, self.citizen_replies(case, change), source="case")
        event = {"type": "case", "case_no": case.case_no, "kind": change.kind, "status": case.status,
                 "light": case.light, "window": case.window, "due_date": case.due_date.isoformat()}
        await self._redis.publish(key(Prefix.STAFF_EVENTS), jsoncodec.dumps(event))

    def citizen_replies(self, case: Case, change: CaseChange) -> list[Reply]:
        """The message the citizen gets about this change."""
        text = self._texts.get(CITIZEN_TEXTS[change.kind], case_no=case.case_no, due=date_in_words(case.due_date),
                               department=case.department, note=change.note)
        if change.kind == "resolved":
            return [Reply(text), Reply(self._texts.get("case_notice_rate"), buttons=rating_buttons(case.case_no))]
        if change.kind == "paused":  # 补正 in the chat: the button's next message goes into the case
            return [Reply(text, buttons=(Button(self._texts.get("button_supplement"), f"补正 {case.case_no}"),
                                         Button(self._texts.get("button_progress"), case.case_no)))]
        return [Reply(text, buttons=(Button(self._texts.get("button_progress"), case.case_no),))]
