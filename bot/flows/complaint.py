"""`complaint`: "办不成事" intake. Asks one thing at a time (the matter, what happened, where and when,
what they want, a name, a phone), skips what the first message already said, confirms a summary with
the phone masked, then files the case and answers with its number and due date in words.
"""

from __future__ import annotations

import re
from typing import Any

from bot.flows.base import (
    MAX_BARE_ANSWER_CHARS,
    POLICY_WINDOW,
    QUESTION_INTENTS,
    Flow,
    TurnContext,
    asks_question,
    menu_buttons,
)
from bot.messages import Button, Reply
from core.logging import drop_id_numbers, drop_phone_numbers
from core.phones import mask_phone, normalise_phone
from handoff.calendar import date_in_words
from handoff.case_models import Case
from handoff.cases import MAX_FIELD_CHARS, CaseDraft
from policy_kb.schema import ServiceItem

# The order questions are asked in; `optional` ones can be skipped.
FIELDS = ("happened", "item_name", "where_when", "wants", "name", "phone")
OPTIONAL = frozenset({"where_when", "wants", "name"})
SKIP = frozenset({"跳过", "不知道", "不清楚", "没有", "无", "不用", "算了吧", "不记得了", "不记得", "记不清了", "忘了",
                  "想不起来了", "不知道了",
                  # a name (or anything optional) not given: "称呼：不想说" is no name
                  "不想说", "不方便说", "不方便", "保密", "匿名", "不告诉你", "不用称呼", "不留名"})
CONFIRM = frozenset({"确认", "确定", "提交", "对", "是的", "没问题", "好的", "可以"})
EDIT = frozenset({"修改", "更改", "改", "不对", "改一下"})
# A short message the NLU reads as one of these ("确认", "好的", "进度", "不是", "你好") answers none of the open
# questions: filed as the matter or the account, it would make the case unreadable for staff.
# Not urge_case: "希望尽快提取" reads as one and is the commonest answer to "您希望怎么解决".
NOT_ANSWER_INTENTS = frozenset({"affirm", "deny", "ask_progress", "greet", "thanks", "goodbye"})
MAX_QUESTION_CHARS = 10  # "那要多久有结果": longer, a message read as ask_time_limit is likely an account
# A first message shorter than this that names no matter is just "I want to complain", not an account.
MIN_ACCOUNT_CHARS = 9
ITEM_MARGIN = 0.05
MAX_ITEM_CHOICES = 3
POLICY_NAMED = 0.9  # a policy's name, nearly word for word, in the account
WINDOW_WORD = "窗口"
MIN_ANSWER_CHARS = 2  # what is left of an answer without its phone number, to be an answer
# A name told before it is asked ("我叫李明 电话…"), and what else may go with it in the same message.
NAME_TOLD = re.compile(r"(?:我叫|我姓|本人姓|本人叫)\s*([\u4e00-\u9fa5]{1,4}?)(?=[\s，,。；;]|电话|手机|联系|$)")
# A name told again at the confirmation ("不对，我姓张，叫张四": the last one said).
NAME_PUT_RIGHT = re.compile(r"(?:我叫|我姓|本人姓|本人叫|叫|称呼改成|称呼是)\s*([\u4e00-\u9fa5]{1,4}?)"
                            r"(?=[\s，,。；;]|电话|手机|联系|$)")
CONTACT_WORDS = re.compile(r"[\s，,。；;：:]|电话|手机|号码|联系方式|是")
BARE_NAME = re.compile(r"^[\u4e00-\u9fa5]{2,4}$")  # a name alone beside a phone number ("赵大海 137…")
CANCEL_LEAD = re.compile(r"^(?:那|我|就|还是|要|想|帮我|给我|麻烦)*")  # "那我不反映了", "我要撤销"
MAX_CANCEL_CHARS = 6  # "不用了谢谢": short enough that a cancelling word anywhere in it cancels
WISH = re.compile(r"^(?:我)?(?:希望|要求|想要|想让|请求|盼望)")  # what they want, not a name
NAME_PREFIXES = ("我姓", "我叫", "我是", "叫我", "姓")
NAME_SAID = re.compile(r"(?:我姓|我叫|叫我|姓)\s*(\S{1,6})\s*$")  # the name at the end of a longer answer
NAME_TAIL = re.compile(r"(?:就行了?|就可以了?|就好了?|即可|吧|啊|呀)$")  # "王师傅就行"
# "窗口说我租房合同没备案不给提取": a first message that reports what the window said (or why) has answered
# "窗口说不能办的原因是什么", so that is not asked again. The reason must follow the word.
GIVES_REASON = re.compile(r"(?:说|因为|原因是|理由是)[^，,。！!？?]{4,}")
# "对了，护照要带什么材料", "你们几点下班": a question about something else, asked while the complaint waits for an
# answer, is answered by its own flow; the draft is kept and the citizen is told how to carry on.
# Where a matter is named in a complaint (the `marks` are the words a matter's name ends with), and the verb
# to take off its front ("办个", "申请").
MATTER_AT = r"(?:^|[，,。！!？?；;\s]|办理?|申请|补办|领取?)([\u4e00-\u9fff]{{1,8}}?(?:{marks}))"
MATTER_LEAD = re.compile(r"^(?:我|想|要|去|来|给|帮)*(?:办理|补办|申请|领取|办|领|换)?(?:个|了|一个|一张|一本|张|本)?")
NOT_IN_MATTER = re.compile(r"[说缺没要让给不带交拿问找跑]")
# Left of a when-or-where answer once its date, time and place words are taken out ("在三楼窗口", "上周三下午").
WHEN_WHERE_FILLER = re.compile(r"[\s，,。.！!、0-9一二三四五六七八九十两在就是了的吧啊呢去办我]")


class ComplaintFlow(Flow):
    """Collects a complaint into the session's slots and files it through the case service."""

    name = "complaint"
    intents = frozenset({"complain"})

    def window_hint(self, ctx: TurnContext) -> str | None:
        """A complaint goes to the 办不成事反映 window."""
        return ctx.services.cases.rules.routing.complaint_window

    def answers(self, ctx: TurnContext) -> bool:
        """"不知道" or "不记得了" to a pending question skips it (or is the answer): it cancels nothing. Nor is an
        answer the classifier reads as 帮助 ("希望一次告诉我要什么") a request for the menu ("帮助" itself is).
        """
        asking = bool(ctx.session.slots_of(self.name).get("asking"))
        if asking and ctx.parse.intent == "cancel" and ctx.parse.confidence < 1.0:
            # "希望能给办了" read as 取消: only a word that cancels ends the intake (it would lose the draft), and
            # only said as a command ("算了不反映了", "我要撤销"), not inside a wish ("希望取消登报这个要求")
            return not _cancels(ctx)
        return asking and (ctx.text in SKIP or ctx.parse.intent == "help")

    def wants(self, ctx: TurnContext) -> bool:
        """While a question or the confirmation is pending, the message is the answer."""
        slots = ctx.session.slots_of(self.name)
        return bool(slots.get("asking") or slots.get("confirming") or slots.get("choosing_field"))

    def owns(self, ctx: TurnContext) -> bool:
        """"继续登记" after a question set aside takes the complaint up where it was."""
        slots = ctx.session.slots_of(self.name)
        pending = bool(slots.get("set_aside") or slots.get("asking") or slots.get("confirming"))
        return pending and _asks_to_resume(ctx)  # also after 转人工 half-way, or typed in a sentence

    def sets_aside(self, ctx: TurnContext) -> bool:
        """A question put as one, that the classifier reads as a guide, policy or office-hours question and that
        names an item, bundle or policy (office hours name nothing), is not the answer to the pending question.
        "那要多久有结果" names nothing: it is about the complaint, and answered here.
        """
        slots = ctx.session.slots_of(self.name)
        if not (slots.get("asking") or slots.get("confirming")) or ctx.parse.intent not in QUESTION_INTENTS:
            return False
        if not asks_question(ctx.text) or GIVES_REASON.search(ctx.text):
            return False
        if ctx.parse.intent == "ask_office_hours":
            return True
        hits = ctx.search(ctx.text, ["item", "bundle", "policy"], limit=1)
        return bool(hits and hits[0].confident)

    async def resume_hint(self, ctx: TurnContext) -> list[Reply]:
        """Still the active flow (the answer took one turn): the pending question again. Otherwise a button to
        come back to it, since the other flow now holds the conversation.
        """
        slots = ctx.session.slots_of(self.name)
        if ctx.session.flow == self.name:
            return [Reply(ctx.texts.get("complaint_resumed")), *self._pending_question(ctx, slots)]
        slots["set_aside"] = True
        return [Reply(ctx.texts.get("complaint_set_aside"), buttons=menu_buttons(ctx.texts.menu("complaint_resume")))]

    async def handle(self, ctx: TurnContext) -> list[Reply]:
        """Take the answer to the pending question, then ask the next one or confirm or file."""
        slots = ctx.slots
        resuming = _asks_to_resume(ctx)
        if (slots.pop("set_aside", False) and (ctx.previous_flow != self.name or resuming)) or \
                (resuming and ctx.previous_flow != self.name and (slots.get("asking") or slots.get("confirming"))):
            # Back from a question set aside or a 转人工 half-way, by the button, by "继续登记" typed or by asking to
            # complain again: where it was.
            return [Reply(ctx.texts.get("complaint_resumed")), *self._pending_question(ctx, slots)]
        if resuming and ctx.previous_flow == self.name and (slots.get("asking") or slots.get("confirming")):
            return self._pending_question(ctx, slots)  # "继续登记" typed after a question answered in passing
        if ctx.previous_flow != self.name:
            slots.clear()  # a draft left behind (转人工 half-way) is not the start of this one
        draft: dict[str, Any] = slots.setdefault("draft", {})
        if slots.pop("choosing_field", False):
            if (phone := _phone_in(ctx)) is not None:  # the new number itself instead of a field
                return self._phone_changed(ctx, draft, phone)
            field = _field_named(ctx)
            if field is None:
                return self._summary(ctx, draft)
            draft.pop(field, None)
            slots["editing"] = True
            return self._ask(ctx, field)
        if slots.get("confirming"):
            return await self._confirmation(ctx, draft)
        asking = slots.pop("asking", None)
        if asking == "more":  # what "我要补充" announced: more of what happened; then the question it interrupted
            draft["happened"] = "；".join(filter(None, [draft.get("happened"), _free_text(ctx)]))
            return [Reply(ctx.texts.get("complaint_more_noted")), *self._ask(ctx, slots.pop("after_more"))]
        if asking is not None and any(ctx.text.startswith(w) for w in ctx.texts.words("adds_more")) \
                and len(ctx.text) <= MAX_BARE_ANSWER_CHARS:
            slots.update(asking="more", after_more=asking)  # "我要补充": not the answer to the question asked
            return [Reply(ctx.texts.get("complaint_say_more"))]
        if (asking is not None or slots.get("confirming")) and \
                any(word in ctx.text for word in ctx.texts.words("not_complaining")):
            # "不是 我不投诉" to a question: the intake ends, nothing filed (it was filed as the matter)
            ctx.session.end_flow()
            return [Reply(ctx.texts.get("complaint_declined"), buttons=menu_buttons(ctx.texts.menu("help")))]
        if (asking is not None or slots.get("confirming")) and _cancels(ctx):
            # "不反映了" read as something else than 取消: the intake is called off (it was filed as the answer)
            ctx.session.end_flow()
            return [Reply(ctx.texts.get("cancelled"))]
        if asking is not None and ctx.text in ctx.texts.words("asks_meaning"):
            # "啥意思" to a question: it said in other words, and asked again (it was filed as the answer)
            return [Reply(ctx.texts.get(f"complaint_explain_{asking}")), *self._ask(ctx, asking)]
        if asking is not None and "催" in ctx.text and len(ctx.text) <= MAX_BARE_ANSWER_CHARS:
            # "能催一下吗" (not "希望尽快办好", the classifier's 催办 too, which answers "您希望怎么解决")
            return [Reply(ctx.texts.get("complaint_urge_before_filing")), *self._ask(ctx, asking)]
        if asking is not None:
            early = _said_early(ctx, draft, asking)
            if early is not None:  # "我叫李明 电话138…" to "什么时候、在哪个窗口": kept; the question stands
                return [early, *self._ask(ctx, asking)]
            if asking not in ("wants", "phone") and not draft.get("wants") and WISH.match(_free_text(ctx)):
                # "希望能给办了" to "怎么称呼您" (or said early, to "什么时候办的"): what they want, kept as the 诉求
                # (the classifier may read it as 取消), and the question stands
                draft["wants"] = _free_text(ctx)[:MAX_FIELD_CHARS["wants"]]
                if (phone := _phone_in(ctx)) is not None:  # "希望尽快办 电话138…": the number is kept too
                    draft["phone"] = phone
                return [Reply(ctx.texts.get("complaint_wants_noted", value=draft["wants"])), *self._ask(ctx, asking)]
            if asking != "phone" and (phone := _phone_in(ctx)) is not None:
                # A phone number answers none of the other questions (it would be filed as the matter, the name
                # or the time and place): kept as the contact number, so it is not asked for again, and taken
                # out of the answer; a bare one asks the question once more.
                draft["phone"] = phone
                rest = CONTACT_WORDS.sub("", _free_text(ctx))
                if normalise_phone(ctx.inbound.text) is not None or len(_free_text(ctx)) < MIN_ANSWER_CHARS or \
                        any(word in rest for word in ctx.texts.words("phone_corrected")):
                    # "电话写错了，应该是139…" to "怎么称呼您": the number put right, not a name
                    noted = Reply(ctx.texts.get("complaint_phone_noted", phone=mask_phone(phone)))
                    return [noted, *self._ask(ctx, asking)]
            if asking != "phone" and ctx.parse.intent == "ask_time_limit" and len(ctx.text) <= MAX_QUESTION_CHARS \
                    and asks_question(ctx.text) and not WISH.match(ctx.text):
                # "那要多久有结果" is a question, not the answer: answered, and the question asked again.
                rules = ctx.services.cases.rules
                return [Reply(ctx.texts.get("complaint_when_answered", days=rules.days_for("simple"),
                                            days_complex=rules.days_for("complex"))), *self._ask(ctx, asking)]
            if asking != "phone" and not (asking in OPTIONAL and ctx.text in SKIP) and _not_an_answer(ctx):
                hint = "complaint_not_an_answer_progress" if ctx.parse.intent == "ask_progress" else \
                    "complaint_not_an_answer"
                return [Reply(ctx.texts.get(hint)), *self._ask(ctx, asking)]
            if asking in ("item_name", "happened") and _only_when_where(ctx):
                # "上周三" or "在三楼窗口" to "想办理什么事": kept as the time and place, and the question stands
                said = _free_text(ctx)[:MAX_FIELD_CHARS["where_when"]]
                draft["where_when"] = "，".join(filter(None, [draft.get("where_when"), said]))
                return [Reply(ctx.texts.get("complaint_when_where_noted", value=said)), *self._ask(ctx, asking)]
            if asking == "where_when" and len(_free_text(ctx)) >= MIN_ACCOUNT_CHARS and not _says_when_where(ctx):
                # "窗口说我材料不对，每次说的都不一样" to "什么时候、在哪个窗口": more of what happened, kept there
                said = _free_text(ctx)
                draft["happened"] = "；".join(filter(None, [draft.get("happened"), said]))
                draft["where_when"] = ""
                return [Reply(ctx.texts.get("complaint_more_noted")), *self._next(ctx, draft)]
            if asking == "happened" and not draft.get("item_code") and (item := self._item_alone(ctx)) is not None:
                # "社保卡补办" to "原因是什么": the matter, not the reason, which is still asked
                draft.update(_item_fields(item), item_chosen=True)
                return [Reply(ctx.texts.get("complaint_item_noted", item=item.name)), *self._ask(ctx, asking)]
            problem = self._take(ctx, draft, asking)
            if problem is not None:
                slots["asking"] = asking
                return [problem]
        else:
            replies = [Reply(ctx.texts.get("complaint_intro"))]
            self._first_message(ctx, draft)
            return replies + self._next(ctx, draft)
        return self._next(ctx, draft)

    @staticmethod
    def _item_alone(ctx: TurnContext) -> ServiceItem | None:
        """The item a message does nothing but name ("社保卡补办"), when that is all it says."""
        kb = ctx.services.kb.current
        hit = ctx.best(ctx.text, ["item"])
        return kb.items.get(hit.key) if hit is not None and kb.names_only(ctx.text, hit) else None

    def _first_message(self, ctx: TurnContext, draft: dict[str, Any]) -> None:
        if (phone := _phone_in(ctx)) is not None:  # "我要投诉，电话139…，…": not asked for again
            draft["phone"] = phone
        account = _free_text(ctx)
        if (told := NAME_TOLD.search(account)) is not None:  # "我叫张三 不动产登记办不了…": nor the name
            draft["name"] = told.group(1)
            account = account.replace(told.group(0), "").strip(" ，,；;、")
        found = self._matter_in_context(ctx) or self._find_item(ctx, drop_id_numbers(ctx.text, keep_problem=False))
        if found:
            draft.update(found)
        if found or len(ctx.text) >= MIN_ACCOUNT_CHARS:
            draft["account"] = account
            if GIVES_REASON.search(draft["account"]):
                draft["happened"] = ""  # told already: the account says it

    @staticmethod
    def _matter_in_context(ctx: TurnContext) -> dict[str, Any]:
        """The item or policy the conversation was about just before the complaint, when the complaint names no
        other once materials are taken out ("社保卡补办要带什么" then "窗口不给办，说身份证信息对不上": 社保卡, not the
        身份证 item; "稳岗返还" then "一直没到账，去问也不给办": 稳岗返还).
        """
        kb = ctx.services.kb.current
        if len(ctx.text) < MIN_ACCOUNT_CHARS:
            return {}  # "我要投诉" alone: which matter is asked, not assumed
        if ctx.previous_flow == "guide":
            item = kb.items.get(str(ctx.session.slots_of("guide").get("target", "")).removeprefix("item:"))
            named = ctx.best(kb.without_material_names(ctx.text), ["item", "bundle"])
            return _item_fields(item) if item is not None and (named is None or named.key == item.code) else {}
        if ctx.previous_flow == "policy":
            policy = kb.policies.get(str(ctx.session.slots_of("policy").get("policy", "")))
            named = ctx.best(ctx.text, ["item", "bundle", "policy"])
            if policy is not None and (named is None or named.key == policy.id):
                return {"item_name": policy.title, "item_code": None, "item_window": POLICY_WINDOW,
                        "item_department": policy.issuer}
        return {}

    def _find_item(self, ctx: TurnContext, text: str) -> dict[str, Any]:
        """The service item the text names, else a policy it names ("申请稳岗返还跑了两趟"), or, when it names
        neither, the matter in its own words ("出租车营运证一直办不下来" → 出租车营运证), so that it is not asked
        for again.
        """
        kb = ctx.services.kb.current
        hits = ctx.search(text, ["item"], limit=MAX_ITEM_CHOICES)
        if not hits or not hits[0].confident:
            policy = ctx.best(text, ["policy"])
            if policy is not None and policy.score >= POLICY_NAMED:
                return {"item_name": policy.title, "item_code": None, "item_window": POLICY_WINDOW,
                        "item_department": kb.policies[policy.key].issuer if policy.key in kb.policies else None}
            named = _matter_named(ctx, text)
            return {"item_name": named, "item_code": None, "item_window": None, "item_department": None} \
                if named else {}
        # Two items about as likely ("公积金取不出来": buying or renting?) is no answer yet: the next reply
        # usually settles it.
        if len(hits) > 1 and hits[0].score - hits[1].score < ITEM_MARGIN:
            # offered as buttons when the matter is asked for
            ctx.slots["item_choices"] = [kb.items[h.key].name for h in hits if h.confident and h.key in kb.items]
            return {}
        return _item_fields(kb.items[hits[0].key])

    def _take(self, ctx: TurnContext, draft: dict[str, Any], field: str) -> Reply | None:
        """Store the answer to `field`; a Reply when it cannot be accepted. Free text is kept as the citizen
        wrote it (not normalised), since staff read it.
        """
        text = _free_text(ctx)  # 身份证号 is never kept nor repeated; a phone has its own field
        if field == "phone":
            phone = next((normalise_phone(e.value) for e in ctx.parse.entities if e.entity == "phone"), None)
            phone = phone or normalise_phone(ctx.inbound.text)
            if phone is None:  # "跳过", "不想留": the one answer that cannot be skipped, said why; digits: mistyped
                has_digits = any(ch.isdigit() for ch in ctx.inbound.text)  # full-width ones too
                return Reply(ctx.texts.get("complaint_bad_phone" if has_digits else "complaint_phone_required"))
            draft["phone"] = phone
            return None
        if field in OPTIONAL and ctx.text in SKIP:
            draft[field] = ""
            return None
        limit = MAX_FIELD_CHARS.get(field, 500)
        if len(text) > limit:
            return Reply(ctx.texts.get("complaint_too_long", limit=limit))
        if field == "name":
            if asks_question(text):  # "怎么联系你们" to "怎么称呼您": no name; the question stands
                return Reply(ctx.texts.get("complaint_name_is_a_question"))
            if any(word in text for word in ctx.texts.words("name_declined")):
                draft["name"] = ""  # "不想留名字": none (it was filed as the name), as a skip would
                return None
            draft["name"] = name_in(text)[:MAX_FIELD_CHARS["name"]]
        elif field == "item_name":
            offered = ctx.slots.pop("item_choices", None) or []
            kb = ctx.services.kb.current
            chosen = next((i for i in kb.items.values() if i.name == ctx.text), None) if ctx.text in offered else None
            searched = drop_id_numbers(ctx.text, keep_problem=False)
            found = _item_fields(chosen) if chosen is not None else self._find_item(ctx, searched)
            draft.update(found or {"item_name": text, "item_code": None, "item_window": None,
                                   "item_department": None})
            draft["item_chosen"] = True
        else:
            draft[field] = text
            named_in_own_words = draft.get("item_name") and not draft.get("item_code")
            if field == "happened" and not draft.get("item_chosen") and not named_in_own_words:
                # The reason often names the matter better ("租房合同没备案" → 公积金提取（租房）); a matter the KB
                # lacks, named in the first message ("狗证"), is not swapped for one its materials name.
                draft.update(self._find_item(ctx, f"{draft.get('account', '')} {text}"))
        return None

    def _pending_question(self, ctx: TurnContext, slots: dict[str, Any]) -> list[Reply]:
        """The question the complaint waits on, asked again (the summary when it waits for the confirmation)."""
        draft: dict[str, Any] = slots.setdefault("draft", {})
        if slots.get("confirming"):
            return self._summary(ctx, draft)
        asking = slots.get("asking")
        return self._ask(ctx, asking) if asking else self._next(ctx, draft)

    def _next(self, ctx: TurnContext, draft: dict[str, Any]) -> list[Reply]:
        if not ctx.slots.pop("editing", False):
            for field in FIELDS:
                if field not in draft:
                    return self._ask(ctx, field)
        return self._summary(ctx, draft)

    def _ask(self, ctx: TurnContext, field: str) -> list[Reply]:
        ctx.slots["asking"] = field
        buttons = menu_buttons(ctx.texts.menu("skip")) if field in OPTIONAL else ()
        if field == "item_name" and ctx.slots.get("item_choices"):  # "公积金取不出来": which 公积金提取
            buttons = tuple(Button(name, name) for name in ctx.slots["item_choices"])
        return [Reply(ctx.texts.get(f"complaint_ask_{field}"), buttons=buttons)]

    def _summary(self, ctx: TurnContext, draft: dict[str, Any]) -> list[Reply]:
        ctx.slots["confirming"] = True
        texts = ctx.texts
        lines = [texts.get("complaint_summary"),
                 texts.get("complaint_summary_item", value=draft.get("item_name") or "未说明"),
                 texts.get("complaint_summary_happened", value=_account(draft))]
        for field in ("where_when", "wants", "name"):
            if draft.get(field):
                lines.append(texts.get(f"complaint_summary_{field}", value=draft[field]))
        lines.append(texts.get("complaint_summary_phone", value=mask_phone(draft["phone"])))
        lines.append(texts.get("complaint_summary_footer"))
        return [Reply("\n".join(lines), buttons=menu_buttons(texts.menu("complaint_confirm")))]

    def _phone_changed(self, ctx: TurnContext, draft: dict[str, Any], phone: str) -> list[Reply]:
        """The new contact number taken, and the summary again to confirm."""
        draft["phone"] = phone
        return [Reply(ctx.texts.get("complaint_phone_changed", phone=mask_phone(phone))), *self._summary(ctx, draft)]

    async def _confirmation(self, ctx: TurnContext, draft: dict[str, Any]) -> list[Reply]:
        text = ctx.text.strip()
        phone = _phone_in(ctx)
        if phone is not None and phone != draft.get("phone"):
            return self._phone_changed(ctx, draft, phone)  # "电话写错了，是137…"
        told = NAME_PUT_RIGHT.findall(_free_text(ctx))
        if told and told[-1] != draft.get("name"):
            draft["name"] = told[-1]  # "不对，我姓张，叫张四": the name put right, and the summary again
            return [Reply(ctx.texts.get("complaint_name_changed", name=draft["name"])), *self._summary(ctx, draft)]
        if text in EDIT or ctx.parse.intent == "deny":
            ctx.slots.pop("confirming")
            ctx.slots["choosing_field"] = True
            return [Reply(ctx.texts.get("complaint_which_field"),
                          buttons=menu_buttons(ctx.texts.menu("complaint_fields")))]
        if text not in CONFIRM and ctx.parse.intent != "affirm":
            return [Reply(ctx.texts.get("complaint_confirm_again"),
                          buttons=menu_buttons(ctx.texts.menu("complaint_confirm")))]
        inbound = ctx.inbound
        case, created = await ctx.services.cases.file(
            CaseDraft(channel=inbound.channel, user_id=inbound.user_id, phone=draft["phone"],
                      happened=_account(draft), item_name=draft.get("item_name") or "",
                      item_code=draft.get("item_code"), item_window=draft.get("item_window"),
                      item_department=draft.get("item_department"), where_when=draft.get("where_when", ""),
                      wants=draft.get("wants", ""), name=draft.get("name") or None,
                      request_key=f"{inbound.user_id}:{inbound.msg_id}"),
            tell_citizen=False)
        ctx.session.end_flow()
        if not created:
            return [Reply(ctx.texts.get("complaint_already_filed", case_no=case.case_no,
                                        due=date_in_words(case.due_date)))]
        buttons = (Button(ctx.texts.get("button_progress"), case.case_no),
                   Button(ctx.texts.get("button_person"), "转人工"))
        return [Reply(filed_text(ctx, case), buttons=buttons)]


def name_in(text: str) -> str:
    """The name in an answer to "怎么称呼您": "称呼写错了 我姓王" → 王, "叫我王师傅就行" → 王师傅."""
    said = NAME_SAID.search(text)
    text = said.group(1) if said else text
    for prefix in NAME_PREFIXES:
        text = text.removeprefix(prefix)
    return NAME_TAIL.sub("", text.strip()).strip(" ，,。")


def _cancels(ctx: TurnContext) -> bool:
    """Whether the message calls the complaint off: a cancelling word, at its start or in a short message."""
    words = ctx.texts.words("cancels")
    if WISH.match(ctx.text) or not any(word in ctx.text for word in words):
        return False
    rest = CANCEL_LEAD.sub("", ctx.text)
    return len(ctx.text) <= MAX_CANCEL_CHARS or any(rest.startswith(word) for word in words)


def _asks_to_resume(ctx: TurnContext) -> bool:
    """"继续登记" (the button), or typed in a sentence ("好的，继续登记刚才的反映")."""
    return ctx.text == _resume_payload(ctx) or any(word in ctx.text for word in ctx.texts.words("resume_complaint"))


def _resume_payload(ctx: TurnContext) -> str:
    return ctx.texts.menu("complaint_resume")[0]["payload"]


def _field_named(ctx: TurnContext) -> str | None:
    """The field a message picks to change: a button's payload, its title or another word for it ("手机号")."""
    if ctx.text in FIELDS:
        return ctx.text
    for entry in ctx.texts.menu("complaint_fields"):
        names = {entry["title"], *filter(None, entry.get("aliases", "").split(","))}
        if any(name in ctx.text for name in names):
            return entry["payload"]
    return None


def _said_early(ctx: TurnContext, draft: dict[str, Any], asking: str) -> Reply | None:
    """A name (and phone) told before they are asked, and nothing else ("我叫李明 电话138…"): kept, and a Reply
    saying so; None when the message tells no name this way or says more.
    """
    if asking in ("name", "phone"):
        return None
    phone = _phone_in(ctx)
    told = NAME_TOLD.search(_free_text(ctx))
    bare = BARE_NAME.match(CONTACT_WORDS.sub("", _free_text(ctx))) if phone is not None and told is None else None
    if bare is not None and asking in OPTIONAL:  # "赵大海 13700002222": a name beside the phone
        draft["name"] = bare.group(0)
    elif told is None or len(CONTACT_WORDS.sub("", _free_text(ctx).replace(told.group(0), ""))) >= MIN_ANSWER_CHARS:
        return None
    else:
        draft["name"] = told.group(1)
    if phone is None:
        return Reply(ctx.texts.get("complaint_name_noted", name=draft["name"]))
    draft["phone"] = phone
    return Reply(ctx.texts.get("complaint_name_phone_noted", name=draft["name"], phone=mask_phone(phone)))


def _free_text(ctx: TurnContext) -> str:
    """The message as the citizen wrote it, without 身份证号 or phone numbers (kept in their own field)."""
    return drop_phone_numbers(drop_id_numbers(ctx.inbound.text.strip()))


def _item_fields(item: ServiceItem) -> dict[str, Any]:
    """The draft's fields for a matter the KB knows."""
    return {"item_name": item.name, "item_code": item.code, "item_window": item.window,
            "item_department": item.department}


def _phone_in(ctx: TurnContext) -> str | None:
    """A phone number in the message, alone or in a sentence."""
    found = (normalise_phone(e.value) for e in ctx.parse.entities if e.entity == "phone")
    return next((phone for phone in found if phone), None) or normalise_phone(ctx.inbound.text)


def _matter_named(ctx: TurnContext, text: str) -> str | None:
    """A matter named in the citizen's words: a few characters ending in a word of the `matter_marks` list, at
    the start of a clause or after 办/申请 ("办个狗证跑了好几趟" → 狗证), without the verb before it.
    """
    marks = "|".join(re.escape(m) for m in sorted(ctx.texts.words("matter_marks"), key=len, reverse=True))
    kb = ctx.services.kb.current
    for found in re.finditer(MATTER_AT.format(marks=marks), text):
        name = MATTER_LEAD.sub("", found.group(1))
        # "说我缺结婚证": a material the window asked for, not the matter
        if len(name) >= 2 and not NOT_IN_MATTER.search(name) and not kb.is_material_name(name):
            return name
    return None


def _says_when_where(ctx: TurnContext) -> bool:
    """Whether the message says anything of when or where: a date, or a word of the `when_where` list other than
    窗口 ("窗口说我材料不对" tells what the window said, not where).
    """
    return any(e.entity == "date" for e in ctx.parse.entities) or \
        any(word in ctx.text for word in ctx.texts.words("when_where") if word != WINDOW_WORD)


def _only_when_where(ctx: TurnContext) -> bool:
    """Whether the message says only when or where ("上周三", "在三楼窗口", "昨天下午"): a date, or words of the
    `when_where` list, and nothing else but numbers and little words.
    """
    text = ctx.text
    dates = [e for e in ctx.parse.entities if e.entity == "date"]
    for entity in sorted(dates, key=lambda e: e.start, reverse=True):
        text = text[:entity.start] + " " + text[entity.end:]
    words = sorted(ctx.texts.words("when_where"), key=len, reverse=True)
    found = bool(dates)
    for word in words:
        if word in text:
            found, text = True, text.replace(word, " ")
    return found and not WHEN_WHERE_FILLER.sub("", text)


def _not_an_answer(ctx: TurnContext) -> bool:
    """Whether the message is a short word of assent, refusal, greeting or a progress query, not an answer."""
    text = ctx.text
    if ctx.parse.intent == "ask_progress" and asks_question(text) and len(text) <= MAX_QUESTION_CHARS:
        return True  # "我的反映怎么样了": it was filed as the time and place
    if len(text) > MAX_BARE_ANSWER_CHARS or text in SKIP:
        return False
    if text in CONFIRM or text in EDIT:
        return True
    if ctx.parse.intent in ("affirm", "deny"):  # a bare 是 or 不是, not "房东不配合", which also reads as a refusal
        return text in ctx.texts.words("acknowledgements") or text in ctx.texts.words("refusals")
    return ctx.parse.intent in NOT_ANSWER_INTENTS


def _account(draft: dict[str, Any]) -> str:
    """The citizen's own words: the first message and the answer about what happened."""
    parts = [draft.get("account", ""), draft.get("happened", "")]
    return "；".join(p for p in parts if p) or "未说明"


def filed_text(ctx: TurnContext, case: Case) -> str:
    """"已受理，编号 … 我们将在 11月25日（周三）前答复您…"."""
    texts = ctx.texts
    due = date_in_words(case.due_date)
    if case.complexity == "simple":
        complex_days = ctx.services.cases.rules.days_for("complex")
        longest = ctx.services.calendar.deadline(case.accepted_at, complex_days + case.paused_days)
        when = texts.get("complaint_due_simple", due=due, due_complex=date_in_words(longest.due_date))
    else:
        when = texts.get(f"complaint_due_{case.complexity}", due=due)
    lines = [texts.get("complaint_filed", case_no=case.case_no), when]
    if case.provisional:
        lines.append(texts.get("complaint_provisional"))
    lines.append(texts.get("complaint_filed_footer"))
    return "\n".join(lines)
