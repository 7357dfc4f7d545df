"""`guide`: the service guide (办事指南). Identifies the item from free text, answers any single field, and
keeps the item in context so "那要多久" or "在哪办" needs no repetition. Several close matches: the top
three as numbered choices. A bundle (一件事) is answered with its items and merged material list.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from bot.choices_materials import (
    material_numbers,
    names_nothing_but_materials,
    names_only_materials,
    states_having,
)
from bot.flows import appointments
from bot.flows.base import (
    BUNDLE_WINDOW,
    MORE_WORDS,
    NOT_QUESTIONS,
    SEARCH_DEPTH,
    Flow,
    TurnContext,
    asks_question,
    is_bare_yes_no,
    menu_buttons,
)
from bot.flows.circumstance import asks_if_qualifies, circumstance_answer, circumstance_words, names_other
from bot.flows.in_person import about_someone_else, asks_in_person, in_person_answer
from bot.flows.material_asked import (
    asked_of_context,
    asks_without_it,
    material_mentioned,
    not_needed,
    not_on_checklist,
    without_it,
)
from bot.flows.next_steps import asks_next_step, bundles_referred, next_steps
from bot.flows.smalltalk import day_asked, day_line, office_hours
from bot.messages import Button, Reply
from core.clock import today_local
from handoff.calendar import date_in_words
from policy_kb.kb import KnowledgeBase
from policy_kb.prechecks import assess
from policy_kb.schema import Material, ServiceItem
from policy_kb.search import Hit

FIELD_BY_INTENT = {
    "ask_materials": "materials",
    "ask_conditions": "conditions",
    "ask_time_limit": "time_limit",
    "ask_location": "location",
    "ask_fee": "fee",
    "ask_process": "steps",
    "ask_online": "online",
    "precheck": "precheck",
    "book_appointment": "appointment",
    "request_assisted_service": "assisted",
}
# The fields a question asked half-way through a booking can be about ("上门要收费吗", "要带什么材料"): answered for
# the item being booked, and the booking's question asked again.
BOOKING_ASIDE_FIELDS = frozenset({"materials", "conditions", "time_limit", "location", "fee", "steps", "online"})
# Below this, the classifier's reading of a message that only names an item ("社报卡补半", read as a complaint) is
# a guess: the item is what was asked about.
UNSURE = 0.5
SUGGEST = 0.35
# The fields a question about coming in person is read as by the classifier ("必须本人去吗" as the conditions).
IN_PERSON_READ_AS = frozenset({"overview", "conditions", "online", "steps"})
# The fields one message may ask about together, in the order they are answered.
MULTI_FIELDS = ("materials", "time_limit", "fee", "location")
MAX_DESCRIBED_CHOICE = 10  # "我是买房子": an answer to "您要办理的是", not a new question
# A question that names no known item calls it by at least this many characters (what is left without the filler
# words) to be told that it is not in the guide, rather than asked which item it means; not "这个", "那个".
MIN_UNKNOWN_NAME = 3
MAX_TOGETHER_REST = 1  # "这些能一起办不" → 不: a bundle cue, words pointing back, and nothing else named
MAX_NAMED_MISSING = 8  # "我想办离婚": short enough to be only the matter's name
REFERS_BACK = re.compile(r"这|那|它|此|上面|刚才")  # below confidence but this close: offered as "您要办理的是" choices
# "能在这领吗", "这个也能办吗": a question about the item in context, unless it names another item clearly.
ASKED_OF_THIS = re.compile(r"在这|这里|这儿|这边|这个|这项|也能|也可以")
NAMED_CLEARLY = 0.8
CLEARLY_AHEAD = 0.15
CHOICE_BAND = 0.2  # offered as choices: the confident matches this near the best
CLOSE = 0.05  # a second confident match this close to the first means "ask which one"
# An item of the 一件事 in context this near the best match of a question is the one meant ("户口怎么上" while a
# newborn is discussed: 出生登记, not 跨省户口迁移).
BUNDLE_MARGIN = 0.3
BUNDLE_REF = "bundle:"  # a checklist slot naming a bundle's merged list rather than an item
MAX_LINES = 12  # longer lists are paged: the rest follows on "更多"


class GuideFlow(Flow):
    """Answers questions about one service item or bundle at a time."""

    name = "guide"
    intents = frozenset(FIELD_BY_INTENT)

    def wants(self, ctx: TurnContext) -> bool:
        """A chosen option (its payload, or "1" resolved by the engine) or "更多" for the next page is ours."""
        slots = ctx.session.slots_of(self.name)
        if slots.get("booking") and (appointments.is_booking_answer(ctx, slots["booking"]) or is_bare_yes_no(ctx)):
            return True
        if appointments.moves_booked(ctx, slots) or appointments.managing(ctx, bool(slots.get("booking"))):
            return True  # "改到周三下午吧" right after booking, "能改时间吗"
        if asked_of_context(ctx, self._context_item(ctx, slots)) is not None:
            return True  # "委托书要吗": a material of the item being discussed
        asked_of = self._context_item(ctx, slots) if _asks_to_hurry(ctx) or asks_in_person(ctx) else None
        named = ctx.best(ctx.text, ["item", "bundle"]) if asked_of is not None else None
        if asked_of is not None and (named is None or named.key == asked_of.code):
            return True  # "能快点吗", "两个人都要去吗" of the item being discussed: not 催办 of a case, not small talk
        if self._checked_item(ctx, slots) is not None:
            return True
        if slots.get("checked") and _asks_to_accept_now(ctx):
            return True  # "能先收吗" right after a pre-check result, however the classifier reads it
        choices = slots.get("choices", {})
        if ctx.text in choices or (ctx.text in MORE_WORDS and bool(slots.get("more"))):
            return True
        return bool(choices) and _choice_described(ctx, choices) is not None

    def answers(self, ctx: TurnContext) -> bool:
        """"除了照片都有" to a checklist answers it, though the classifier may read a request for help; so does
        "算了，改成后天吧" to the booking's question, though it reads as a cancel.
        """
        slots = ctx.session.slots_of(self.name)
        booking = slots.get("booking")
        if booking and day_asked(ctx) is not None:
            return appointments.is_booking_answer(ctx, booking)
        return self._checked_item(ctx, slots) is not None or appointments.moves_booked(ctx, slots)

    def names_better(self, ctx: TurnContext) -> bool:
        """A message that only names an item or bundle, perhaps mistyped ("社报卡补半"), asks about it, whichever
        flow the classifier's unsure reading would send it to; so does a name clearly ahead of anything else
        it matches ("企业开办一件事"), however sure the classifier is.
        """
        hits = ctx.search(ctx.text, ["item", "bundle"], limit=2)
        if hits and hits[0].confident and ctx.parse.intent == "out_of_scope" and ctx.parse.confidence < UNSURE:
            return True  # "户口怎么上": an unsure "out of scope" of a message naming an item is a question about it
        if hits and hits[0].confident and ctx.parse.intent == "ask_office_hours" and _fields_asked(ctx):
            return True  # "结婚登记在哪办 周六上班吗": where the item is done, and whether that day is open
        if not (hits and hits[0].confident and ctx.services.kb.current.names_only(ctx.text, hits[0])):
            return False
        if ctx.parse.confidence < UNSURE:
            return True
        if ctx.parse.intent in NOT_QUESTIONS:
            return False
        if ctx.services.kb.current.is_the_title_of(ctx.text, hits[0]):
            return True  # "企业开办", the bundle's very title, read as a policy question
        # "企业开办一件事" read as a policy question: a name this clear, ahead of anything else it matches, is
        # the item or bundle asked about however sure the classifier is
        # (not "我的预约", whose one word is the end of 企业银行开户预约)
        kb = ctx.services.kb.current
        if len(kb.core(ctx.text)) * 2 < len(hits[0].title):
            return False
        policies = ctx.search(ctx.text, ["policy"], limit=1)
        runner_up = max([h.score for h in hits[1:]] + [h.score for h in policies], default=0.0)
        return hits[0].score >= NAMED_CLEARLY and hits[0].score - runner_up >= CLEARLY_AHEAD

    def owns(self, ctx: TurnContext) -> bool:
        """"取消预约" and "改约" (with or without the number, or in words that say 预约) are about appointments,
        whatever the NLU reads; "营业执照办好了，下一步干啥" asks for the rest of a 一件事, however it reads (进度,
        企业设立登记).
        """
        if appointments.MANAGE.match(ctx.text):
            return True
        if "预约" in ctx.text and appointments.managing(ctx, bool(ctx.session.slots_of(self.name).get("booking"))):
            return True  # "取消我的预约", "预约想改个时间": whatever the classifier reads (a 取消 of the conversation)
        return asks_next_step(ctx)

    @staticmethod
    def _named_beside_materials(ctx: TurnContext) -> ServiceItem | None:
        """The item a message names once the materials it mentions are taken out, if it asks whether one of them
        can be done without; else None.
        """
        if not asks_without_it(ctx):
            return None
        kb = ctx.services.kb.current
        beside = kb.without_material_names(ctx.text)
        hit = ctx.best(beside, ["item"]) if beside != ctx.text else None
        return kb.items.get(hit.key) if hit is not None else None

    @staticmethod
    def _context_item(ctx: TurnContext, slots: dict[str, Any]) -> ServiceItem | None:
        """The item being discussed (not a bundle), if any."""
        return ctx.services.kb.current.items.get(str(slots.get("target", "")).removeprefix("item:"))

    def left_behind(self, ctx: TurnContext) -> list[Reply]:
        """"算了，不去了，取消" after booking: the appointment stays until it is cancelled as such; say so, with the
        button that cancels it.
        """
        number = ctx.session.slots_of(self.name).get("booked")
        if not number:
            return []
        return [Reply(ctx.texts.get("appointment_kept_on_cancel", number=number),
                      buttons=(Button(ctx.texts.get("button_cancel_booking"), f"取消预约 {number}"),))]

    def window_hint(self, ctx: TurnContext) -> str | None:
        """The window of the item being discussed; while the user chooses among items (three kinds of 公积金提取),
        their window when they share one.
        """
        slots = ctx.session.slots_of(self.name)
        targets = list(slots.get("choices", {}).values()) or [str(slots.get("target", ""))]
        windows = {self._window_of(ctx, target) for target in targets}
        return windows.pop() if len(windows) == 1 else None

    @staticmethod
    def _window_of(ctx: TurnContext, target: str) -> str | None:
        kind, _, code = target.partition(":")
        item = ctx.services.kb.current.items.get(code) if kind == "item" else None
        return item.window if item is not None else (BUNDLE_WINDOW if kind == "bundle" else None)

    def claims(self, ctx: TurnContext) -> bool:
        """A message naming an item or bundle, whatever the intent ("二手房过户"), is a guide question."""
        slots = ctx.session.slots_of(self.name)
        if slots.get("precheck") and states_having(ctx.text):
            return True  # "我带了那个" to a checklist: nobody else understood it, and it is an answer of ours
        if appointments.managing(ctx, bool(slots.get("booking"))) is not None:
            return True  # "能改时间吗", "取消我的预约": the user's appointment
        hits = ctx.search(ctx.text, ["item", "bundle"], limit=1)
        if hits and hits[0].confident:
            return True
        # "办离婚": a matter the guide lacks, named by a word that rules out a neighbour (结婚登记); said to be missing
        return len(ctx.text) <= MAX_NAMED_MISSING and ctx.services.kb.current.not_for_word(ctx.text) is not None

    async def handle(self, ctx: TurnContext) -> list[Reply]:
        """Identify what is asked about, then answer the asked field (or an overview)."""
        kb = ctx.services.kb.current
        slots = ctx.slots
        if appointments.moves_booked(ctx, slots):
            return await appointments.move_booked(ctx)
        managing = appointments.managing(ctx, bool(slots.get("booking")))
        if managing:
            return await appointments.manage(ctx, *managing)
        if asks_next_step(ctx):
            return next_steps(ctx)
        context_item = self._context_item(ctx, slots)
        material = asked_of_context(ctx, context_item) if not slots.get("precheck") else None
        if context_item is None and not slots.get("precheck"):
            # "二手房过户 没带结婚证能先办吗": the item named beside the material (结婚证 names 结婚登记 too)
            context_item = self._named_beside_materials(ctx)
            material = asked_of_context(ctx, context_item)
            if material is not None and context_item is not None:
                slots["target"] = f"item:{context_item.code}"
            else:
                context_item = None
        if context_item is not None and material is not None:
            return without_it(ctx, context_item, material)  # "结婚证没带能先办吗" about 存量房
        unlisted = not_on_checklist(ctx, context_item) if material is None and not slots.get("precheck") else None
        if context_item is not None and unlisted is not None:
            return not_needed(ctx, context_item, unlisted)  # "户口本要带吗" about 结婚登记: not on its checklist
        booking = slots.pop("booking", None)
        booked_item = kb.items.get(booking["item"]) if booking else None
        aside = self._asked_while_booking(ctx, booking, booked_item) if booking and booked_item else None
        if aside is not None and booking and booked_item is not None:
            slots["booking"] = booking
            answer = await self._answer(ctx, booked_item, aside)
            slots.pop("listed", None)  # the booking's question is the one pending, not the checklist
            if aside == "fee" and booking["kind"] == "assisted":
                answer.insert(0, Reply(ctx.texts.get("assisted_fee")))
            return [*answer, *appointments.ask_again(ctx, booking)]
        if booking and booked_item is not None and appointments.is_booking_answer(ctx, booking):
            slots["booking"] = booking
            return await appointments.step(ctx, booked_item)
        if booking and booked_item is not None and is_bare_yes_no(ctx):
            slots["booking"] = booking
            return appointments.ask_again(ctx, booking)
        if ctx.text in MORE_WORDS and slots.get("more"):
            return [Reply(self._page(ctx, slots.pop("more")))]
        slots.pop("more", None)
        checked = self._checked_item(ctx, slots)
        if checked is None and self._unclear_checklist_answer(ctx, slots):
            return [Reply(ctx.texts.get("precheck_not_understood"))]  # the checklist stays open
        if slots.get("checked") and _asks_to_accept_now(ctx) and not kb.material_named(ctx.text):
            now = self._accept_now(ctx, slots["checked"])  # "能先收吗" right after a result: 容缺受理 or not
            if now is not None:
                return now
        if slots.get("checked") and _asks_what_is_missing(ctx):
            still = self._still_missing(ctx, slots["checked"])  # "还缺啥" right after a result: not the list again
            if still is not None:
                return still
        slots.pop("precheck", None)
        slots.pop("listed", None)
        earlier = slots.pop("checked", None)
        if checked is not None:
            return await self._precheck_result(ctx, *checked, earlier=earlier)
        choices: dict[str, str] = slots.pop("choices", {})
        pending = slots.pop("pending_field", None)
        target = choices.get(ctx.text) or (_choice_described(ctx, choices) if choices else None) \
            or _bundle_in_context(ctx, [slots.get("target"), *choices.values()])
        if target is not None and target == slots.get("target") and target.startswith(BUNDLE_REF) and \
                _asks_together_only(ctx):
            return [self._together(ctx, kb, target.removeprefix(BUNDLE_REF))]  # "能一起办吗" of the bundle shown
        # A chosen option answers the question asked before the choice, not whatever its title sounds like.
        field = (pending if target else None) or FIELD_BY_INTENT.get(ctx.parse.intent) or pending or "overview"
        if field == "assisted" and not pending and not any(w in ctx.text for w in ctx.texts.words("assisted_said")):
            field = "overview"  # "家里困难 想申请低保" read as 帮办代办: the item, not a booking nobody asked for
        if pending and target is None and not asks_question(ctx.text) and _names_only_an_item(ctx):
            field = pending  # "社保卡补办" to "要办理什么事项" after "预约": the booking, whatever the classifier reads
        if field not in appointments.KIND_BY_FIELD and _asks_amount(ctx):
            field = "amount"  # "能领多少钱": what is paid, not the fee (失业金 is free to apply for)
        if field in ("time_limit", "overview", "online") and _asks_to_hurry(ctx):
            field = "expedite"  # "能加急吗": the time limit, and how to ask the window to hurry
        if field == "online" and not any(word in ctx.text for word in ctx.texts.words("online")):
            field = "conditions"  # "小孩也能办吗" read as 网上办: who may apply, not the website
        if asks_in_person(ctx) and (field in IN_PERSON_READ_AS or (field == "assisted" and about_someone_else(ctx))):
            field = "in_person"  # "必须本人去吗", "能让家里人代办吗" (not the centre's 帮办代办)
        day = day_asked(ctx) if _asks_if_open(ctx) and field not in appointments.KIND_BY_FIELD else None
        asked_besides_day = field if day is not None and field in MULTI_FIELDS else None
        if day is not None:
            field = "location"  # "居住证周六能办吗": whether that day is open, and where it is done
        if target is None and _asks_together_only(ctx):
            return self._offer_bundles(ctx, field)  # "能一起办吗" with nothing in context: which 一件事
        beside_materials = kb.without_material_names(ctx.text) if target is None else ctx.text
        having = beside_materials != ctx.text and states_having(ctx.text)
        only_materials = having and names_nothing_but_materials(ctx.text, kb.is_material_name)
        named_beside = ctx.best(beside_materials, ["item", "bundle"]) if having and not only_materials else None
        if only_materials:
            # "我有身份证 户口本" to "要办理什么事项", or among the items offered: materials, not the matter (身份证 is
            # also an item's name); the checklist is that of the matter chosen
            slots["pending_field"] = "precheck"
            if choices:
                slots["choices"] = choices
                return [Reply(ctx.texts.get("guide_choose_first"),
                              buttons=tuple(Button(title, title) for title in choices))]
            return [Reply(ctx.texts.get("precheck_which_item_first"))]
        if named_beside is not None:
            # "护照 我有身份证": the 护照 checklist, with the 身份证 ticked off (not the 身份证 item)
            slots["target"] = f"{named_beside.kind}:{named_beside.key}"
            return await self._start_precheck(ctx, *_item_and_ref(kb, named_beside))
        if target is None:
            query = ctx.services.appointments.rules.without_cues(ctx.text) if field in appointments.KIND_BY_FIELD \
                else ctx.text
            hits = ctx.search(query, ["item", "bundle"], limit=3) if len(query) >= 2 else []
            confident = [h for h in hits if h.confident]
            if confident and slots.get("target") and confident[0].score < NAMED_CLEARLY and \
                    ASKED_OF_THIS.search(query) and asks_question(query):
                # "外地户口能在这领吗" about 失业金: a question about the item in context that mentions another
                # item's word (户口 → 户口迁移) in passing
                confident = []
            mentioned = material_mentioned(ctx, context_item, query) if confident and context_item else None
            if context_item is not None and mentioned is not None and \
                    confident[0].key != context_item.code and \
                    not ctx.best(query.replace(mentioned[1], " "), ["item", "bundle"]):
                confident = []  # "结婚证的事" about 存量房: its own material, not 结婚登记 (which 结婚证 names too)
            if confident and context_item is not None and confident[0].key != context_item.code and \
                    asks_if_qualifies(ctx) and not names_other(ctx, query, confident[0], context_item):
                # "我是自己辞职的能领吗" about 失业金: its guide speaks of 辞职, which also names 公积金's 离职提取
                words = circumstance_words(ctx, context_item, query)
                if words:
                    return [circumstance_answer(ctx, context_item, words, menu_buttons(ctx.texts.menu("guide_fields")))]
                confident, field = [], "conditions"  # "被辞退的能领吗": the conditions of the item in context
            close = [h for h in confident if h.score >= confident[0].score - CLOSE]
            exact = [h for h in close if kb.is_the_title_of(query, h)]
            if len(exact) == 1:  # "企业开办" is the bundle of that name, not also 企业银行开户预约
                close = confident = exact
            marked = _told_apart(kb, query, close) if len(close) > 1 else None
            if marked is not None:  # "公积金怎么取出来 我要买房": 买房 is in only the 购房提取's names
                close = confident = [marked]
            of_bundle = _of_bundle_in_context(ctx, query, [slots.get("target"), *choices.values()])
            if of_bundle is not None:
                target = f"item:{of_bundle}"  # "医保怎么交" while 新生儿出生 is discussed: the newborn's 医保
            elif confident and len(close) == 1:
                target = f"{confident[0].kind}:{confident[0].key}"
            elif slots.get("target") in {f"{h.kind}:{h.key}" for h in close}:
                target = slots["target"]  # "需要备案吗" about 异地就医备案: of several close, the one in context
            elif len(confident) > 1:
                # the near ones only: "注册公司" is 企业设立登记 or 企业开办, not also 企业简易注销登记 far behind
                return self._ask_choice(ctx, [h for h in confident if h.score >= confident[0].score - CHOICE_BAND],
                                        field)
            elif choices:
                # "要啥材料" while choosing among items: asked of the one about to be chosen
                slots.update(choices=choices, pending_field=field)
                return [Reply(ctx.texts.get("guide_choose_first"),
                              buttons=tuple(Button(title, title) for title in choices))]
            elif slots.get("target") and _other_matter(ctx, query) is None and kb.not_for_word(query) is None:
                # "那要多久": the item already being discussed (not "狗证在哪办", nor "离婚" after 结婚登记)
                target = slots["target"]
            elif any(h.score >= SUGGEST for h in hits) and kb.not_for_word(query) is None:
                return self._ask_choice(ctx, [h for h in hits if h.score >= SUGGEST], field)
            else:
                slots["pending_field"] = field
                # "离婚登记要带什么": a matter the guide lacks, named by words that rule out its neighbour
                unknown = _unknown_name(ctx, query) or kb.not_for_word(query) or _other_matter(ctx, query)
                if unknown is not None or (ctx.parse.intent in FIELD_BY_INTENT and len(ctx.text) > 6):
                    await ctx.services.gaps.record(ctx.text, "item")
                if unknown is not None:  # "出租车营运证要什么材料": named, but not in the guide
                    return [Reply(ctx.texts.get("guide_item_unknown", name=unknown),
                                  buttons=(Button(ctx.texts.get("button_person"), "转人工"),))]
                # "办事大厅在哪": the centre itself, then which item's window
                before = office_hours(ctx) if field == "location" else []
                return [*before, Reply(ctx.texts.get("guide_which_item"))]
        slots["target"] = target
        kind, _, key = target.partition(":")
        if kind == "bundle" and key in kb.bundles:
            return await self._bundle(ctx, kb, key, field)
        item = kb.items.get(key)
        if item is None:  # the KB was reloaded without it
            slots.pop("target", None)
            return [Reply(ctx.texts.get("guide_which_item"))]
        asked = _fields_asked(ctx)
        if asked_besides_day is not None:  # "我明天去办居住证 要带啥 几点开门": the materials, and where, that day
            asked = sorted({*asked, asked_besides_day, "location"}, key=MULTI_FIELDS.index)
        if len(asked) > 1 and field in (*asked, "overview"):
            # "办护照要多久？多少钱？在哪办？": every field asked, in one reply each, the buttons on the last
            answers = [r for f in asked for r in await self._answer(ctx, item, f)]
            answer = [Reply(r.text, card=r.card) for r in answers[:-1]] + answers[-1:]
        else:
            answer = await self._answer(ctx, item, field)
        return [day_line(ctx, day), *answer] if day is not None else answer

    @staticmethod
    def _asked_while_booking(ctx: TurnContext, booking: dict[str, Any], item: ServiceItem) -> str | None:
        """The field of the booked item a question asks about half-way through the booking ("上门要收费吗" at
        the address), or None: an answer to the booking's question, or a question naming another item.
        """
        field = FIELD_BY_INTENT.get(ctx.parse.intent)
        if field not in BOOKING_ASIDE_FIELDS or not asks_question(ctx.text):
            return None
        if booking.get("step") in ("phone", "address") and appointments.gives_contact(ctx, booking):
            return None
        hit = ctx.best(ctx.services.appointments.rules.without_cues(ctx.text), ["item", "bundle"])
        return field if hit is None or hit.key == item.code else None

    @staticmethod
    def _checked_item(ctx: TurnContext, slots: dict[str, Any]) -> tuple[ServiceItem, set[int]] | None:
        """The item and the materials the person says they have, when the message answers a pre-check (预审)
        checklist, says what they have right after a material list ("我有身份证和租房合同") or a result ("4也有":
        added to what they had), or names only materials of the item being discussed.
        """
        kb = ctx.services.kb.current
        item = _checklist(kb, slots.get("precheck"))
        had: set[int] = set()
        if item is None:
            if not states_having(ctx.text):
                return None
            item = _checklist(kb, slots.get("listed"))
        text = kb.respell_materials(ctx.text)  # "身分证" is 买卖双方身份证明 too
        if item is None and (checked := slots.get("checked")):
            # Right after a result, "4也有" or "合同也带了" adds to what the person said they had.
            item = _checklist(kb, checked["ref"])
            if item is not None and names_only_materials(text, _material_names(kb, item), numbers=True):
                had = set(checked["have"])
            else:
                item = None
        if item is None:
            # "我有身份证" while an item is being discussed is about its materials, not the 身份证 item's; numbers mean
            # nothing here (no list was shown), and a phrase of anything else ("…想办护照") is a new question.
            kind, _, code = str(slots.get("target", "")).partition(":")
            item = _checklist(kb, BUNDLE_REF + code if kind == "bundle" else code or None)
            if item is None or not names_only_materials(text, _material_names(kb, item),
                                                        other_material=kb.is_material_name):
                return None
        have = material_numbers(text, len(item.materials), _material_names(kb, item))
        return (item, had | have) if have is not None else None

    @staticmethod
    def _unclear_checklist_answer(ctx: TurnContext, slots: dict[str, Any]) -> bool:
        """A checklist is open and the message says the person has something, but not which materials ("我带了
        那个"); a guide question that happens to say 有 ("我有房产证，还要带啥") is not an answer.
        """
        return (_checklist(ctx.services.kb.current, slots.get("precheck")) is not None and states_having(ctx.text)
                and ctx.parse.intent not in FIELD_BY_INTENT)

    def _ask_choice(self, ctx: TurnContext, hits: list[Hit], field: str) -> list[Reply]:
        choices = {h.title: f"{h.kind}:{h.key}" for h in hits[:3]}
        ctx.slots["choices"] = choices
        ctx.slots["pending_field"] = field
        buttons = tuple(Button(title, title) for title in choices)
        return [Reply(ctx.texts.get("guide_choose"), buttons=buttons)]

    @staticmethod
    def _offer_bundles(ctx: TurnContext, field: str) -> list[Reply]:
        """Every 一件事 (bundle) as a choice, for "能一起办吗" asked with nothing in context."""
        choices = {b.name: f"{BUNDLE_REF}{b.code}"
                   for b in ctx.services.kb.current.bundles.values()}
        ctx.slots["choices"] = choices
        ctx.slots["pending_field"] = field
        return [Reply(ctx.texts.get("guide_bundles_offered"), buttons=tuple(Button(t, t) for t in choices))]

    async def _answer(self, ctx: TurnContext, item: ServiceItem, field: str) -> list[Reply]:
        texts = ctx.texts
        fields = menu_buttons(texts.menu("guide_fields"))
        if field in appointments.KIND_BY_FIELD:
            return await appointments.start(ctx, item, field)
        if field == "precheck":
            return await self._start_precheck(ctx, item, item.code)
        if field == "materials":
            lines = [f"{i} {m.name}{_tags(m)}" for i, m in enumerate(item.materials, 1)]
            text = "\n".join(
                [texts.get("guide_materials", name=item.name, count=len(item.materials)), *self._first_page(ctx, lines)]
            )
            if any(m.deferrable and m.required and not m.on_site for m in item.materials):
                text += "\n" + texts.get("guide_materials_deferrable")
            if item.common_errors:
                text += "\n" + texts.get("guide_common_errors") + "；".join(item.common_errors[:2])
            text += "\n" + texts.get("guide_materials_next")
            ctx.slots["listed"] = item.code  # "我有1、2" or "我有身份证" next is a pre-check of this list
            return [Reply(text, buttons=fields, card=_card(item, "materials"))]
        if field == "conditions":
            lines = [f"• {c}" for c in item.conditions] or ["• 无特别条件"]
            return [
                Reply(
                    "\n".join([texts.get("guide_conditions", name=item.name), *self._first_page(ctx, lines)]),
                    buttons=fields,
                )
            ]
        if field == "time_limit":
            return [Reply(_time_limit(ctx, item), buttons=fields)]
        if field == "in_person":
            return [in_person_answer(ctx, item, fields)]
        if field == "expedite":
            hurry = "" if item.instant or item.promised_days == 0 else "\n" + texts.get("guide_expedite")
            return [Reply(_time_limit(ctx, item) + hurry, buttons=fields)]
        if field == "location":
            text = texts.get(
                "guide_location", name=item.name, location=item.location or "政务服务中心", hours=item.hours or "工作日"
            )
            if item.phone:
                text += "\n" + texts.get("guide_phone", phone=item.phone)
            return [Reply(text, buttons=fields)]
        if field == "fee":
            return [Reply(texts.get("guide_fee", name=item.name, fee=item.fee or "不收费"), buttons=fields)]
        if field == "amount":
            if not item.amount:
                return [Reply(texts.get("guide_amount_unknown", name=item.name),
                              buttons=(Button(texts.get("button_person"), "转人工"),))]
            return [Reply(texts.get("guide_amount", name=item.name, amount=item.amount), buttons=fields)]
        if field == "steps":
            lines = [f"{i} {s}" for i, s in enumerate(item.steps, 1)] or ["1 提交申请  2 窗口受理  3 办结"]
            return [
                Reply(
                    "\n".join([texts.get("guide_steps", name=item.name), *self._first_page(ctx, lines)]), buttons=fields
                )
            ]
        if field == "online":
            text = (
                texts.get("guide_online", name=item.name, url=item.online_url)
                if item.online_url
                else texts.get("guide_offline", name=item.name, location=_either(item.location or "政务服务中心"))
            )
            if item.cross_province:
                text += "\n" + texts.get("guide_cross_province", mode=item.cross_province)
            return [Reply(text, buttons=fields)]
        days = _days_text(item)
        text = texts.get(
            "guide_overview",
            name=item.name,
            department=item.department,
            days=days,
            location=item.location or item.window,
        )
        return [Reply(text, buttons=fields, card=_card(item, "overview"))]

    async def _start_precheck(self, ctx: TurnContext, item: ServiceItem, ref: str) -> list[Reply]:
        """The numbered checklist to answer, or at once the result when the message named what the person has
        ("我有旧身份证和户口本" both asks for the check and answers it). `ref` is what `_checklist` reads back.
        """
        ctx.slots["precheck"] = ref
        checked = self._checked_item(ctx, ctx.slots) if states_having(ctx.text) else None
        if checked is not None and checked[1]:
            ctx.slots.pop("precheck")
            return await self._precheck_result(ctx, *checked)
        lines = [f"{i} {m.name}{_tags(m)}" for i, m in enumerate(item.materials, 1)]
        # No buttons here: a bare "1" must mean material 1, not the first button.
        return [Reply("\n".join([ctx.texts.get("precheck_start", name=item.name), *lines]),
                      card=_card(item, "precheck"))]

    @staticmethod
    def _still_missing(ctx: TurnContext, checked: dict[str, Any]) -> list[Reply] | None:
        """What the last pre-check result found missing, said again in one line ("还缺啥"); None if its item is
        gone from the KB.
        """
        item = _checklist(ctx.services.kb.current, checked["ref"])
        if item is None:
            return None
        result = assess(item, set(checked["have"]))
        texts = ctx.texts
        if result.decision == "complete":
            return [Reply(texts.get("precheck_nothing_missing", name=item.name))]
        names = [m.name for m in result.missing_main]
        names += [m.name + texts.get("precheck_deferrable_short") for m in result.missing_deferrable]
        return [Reply(texts.get("precheck_still_missing", name=item.name, names="、".join(names)),
                      buttons=menu_buttons(texts.menu("guide_fields")))]

    @staticmethod
    def _accept_now(ctx: TurnContext, checked: dict[str, Any]) -> list[Reply] | None:
        """Whether the window can accept the application now, by the last pre-check result ("能先收吗"): all there,
        容缺 (the rest supplied later, by when), or not yet (which main materials first); None if its item is gone.
        """
        item = _checklist(ctx.services.kb.current, checked["ref"])
        if item is None:
            return None
        result = assess(item, set(checked["have"]))
        texts, services = ctx.texts, ctx.services
        if result.decision == "complete":
            return [Reply(texts.get("accept_now_complete", name=item.name))]
        deferrable = "、".join(m.name for m in result.missing_deferrable)
        if result.decision == "deferrable":
            due = _supply_by(ctx, today_local())
            return [Reply(texts.get("accept_now_deferrable", name=item.name, names=deferrable,
                                    days=services.deferred_supply_days, due=date_in_words(due)))]
        lines = [texts.get("accept_now_not_yet", name=item.name, names="、".join(m.name for m in result.missing_main))]
        if deferrable:
            lines.append(texts.get("accept_now_later_too", names=deferrable))
        return [Reply("".join(lines), buttons=menu_buttons(texts.menu("guide_fields")))]

    async def _precheck_result(self, ctx: TurnContext, item: ServiceItem, have: set[int],
                               earlier: dict[str, Any] | None = None) -> list[Reply]:
        """One reply naming every missing material (一次性告知), the 容缺 decision and the pre-check number. A
        result of the same item just before it (`earlier`, the same day) is updated and keeps its number.
        """
        texts, services = ctx.texts, ctx.services
        result = assess(item, have)
        today = today_local()
        kb = services.kb.current
        ref = BUNDLE_REF + item.code if item.code not in kb.items else item.code
        lines: list[str] = []
        supply_by = None
        if result.decision == "complete":
            lines.append(texts.get("precheck_complete", location=_either(item.location or item.window)))
        elif result.decision == "deferrable":
            supply_by = _supply_by(ctx, today)
            lines.append(texts.get("precheck_deferrable", days=services.deferred_supply_days,
                                   due=date_in_words(supply_by)))
            lines += [_missing_line(m) for m in result.missing_deferrable]
        else:
            lines.append(texts.get("precheck_missing"))
            lines += [_missing_line(m) for m in result.missing_main]
            # 容缺 ones marked: once the main materials are in, these may follow after acceptance
            lines += [_missing_line(m, texts.get("precheck_deferrable_tag")) for m in result.missing_deferrable]
            lines.append(texts.get("precheck_main_missing", names="、".join(m.name for m in result.missing_main)))
        if result.missing_optional:
            lines.append(texts.get("precheck_optional"))
            lines += [_missing_line(m) for m in result.missing_optional]
        if result.on_site:
            lines.append(texts.get("precheck_on_site", names="、".join(m.name for m in result.on_site)))
        record = None
        if earlier and earlier.get("ref") == ref and earlier.get("number") and earlier.get("day") == today.isoformat():
            record = await services.prechecks.update(earlier["number"], ctx.inbound.user_id, item, have, result,
                                                     supply_by)
        if record is None:
            record = await services.prechecks.save(ctx.inbound.user_id, item, have, result, supply_by, today)
        ctx.slots["checked"] = {"ref": ref, "have": sorted(have), "number": record.number, "day": today.isoformat()}
        lines.append(texts.get("precheck_number", number=record.number))
        card = {"type": "precheck", "number": record.number, "decision": result.decision, "item": item.name,
                "missing": record.missing, "supply_by": supply_by.isoformat() if supply_by else None}
        return [Reply("\n".join(lines), buttons=menu_buttons(texts.menu("guide_fields")), card=card)]

    def _first_page(self, ctx: TurnContext, lines: list[str]) -> list[str]:
        """The first MAX_LINES lines; the rest is kept for "更多"."""
        if len(lines) <= MAX_LINES:
            return lines
        ctx.slots["more"] = lines[MAX_LINES:]
        return [*lines[:MAX_LINES], ctx.texts.get("more", count=len(lines) - MAX_LINES)]

    def _page(self, ctx: TurnContext, rest: list[str]) -> str:
        return "\n".join(self._first_page(ctx, rest))

    @staticmethod
    def _together(ctx: TurnContext, kb: KnowledgeBase, code: str) -> Reply:
        """"能一起办吗" of the 一件事 just shown: yes, and how (not the whole list again)."""
        bundle = kb.bundles[code]
        text = ctx.texts.get("guide_bundle_together", name=bundle.name, count=len(bundle.items))
        if bundle.promised_days:
            text += ctx.texts.get("guide_bundle_together_days", days=bundle.promised_days)
        return Reply(text, buttons=menu_buttons(ctx.texts.menu("guide_fields")))

    async def _bundle(self, ctx: TurnContext, kb: KnowledgeBase, code: str, field: str) -> list[Reply]:
        """The bundle's items and merged material list, or its pre-check over that list. Either way "我有1、2" next
        is checked against the merged list.
        """
        if field == "precheck":
            return await self._start_precheck(ctx, kb.bundle_checklist(code), BUNDLE_REF + code)
        if field in ("time_limit", "location", "fee"):
            return [Reply(_bundle_field(ctx, kb, code, field), buttons=menu_buttons(ctx.texts.menu("guide_fields")))]
        ctx.slots["listed"] = BUNDLE_REF + code
        bundle = kb.bundles[code]
        items = [f"{i} {kb.items[c].name}" for i, c in enumerate(bundle.items, 1)]
        merged = kb.bundle_materials(code)
        materials = [f"{i} {m.name}{_tags(m)}" for i, m in enumerate(merged, 1)]
        text = "\n".join(
            [
                ctx.texts.get("guide_bundle", name=bundle.name, count=len(bundle.items)),
                *items,
                ctx.texts.get("guide_bundle_materials", count=len(merged)),
                *self._first_page(ctx, materials),
                ctx.texts.get("guide_materials_next"),
            ]
        )
        return [Reply(text)]


def _bundle_field(ctx: TurnContext, kb: KnowledgeBase, code: str, field: str) -> str:
    """A bundle's time limit, place or fees: the bundle's own promise, where it is applied for (its first item's
    window), and each item's fee unless none charges.
    """
    bundle, texts = kb.bundles[code], ctx.texts
    items = [kb.items[c] for c in bundle.items]
    if field == "time_limit":
        if bundle.promised_days is not None:
            return texts.get("guide_bundle_time_limit", name=bundle.name, days=bundle.promised_days)
        return "\n".join([texts.get("guide_bundle_time_limit_items", name=bundle.name),
                          *(f"• {i.name}：{_days_text(i)}" for i in items)])
    if field == "location":
        first = items[0]
        return texts.get("guide_bundle_location", name=bundle.name, location=first.location or first.window,
                         hours=first.hours or "工作日")
    charged = [i for i in items if i.fee and not i.fee.startswith("不收费")]
    if not charged:
        return texts.get("guide_bundle_fee_free", name=bundle.name)
    return "\n".join([texts.get("guide_bundle_fee", name=bundle.name), *(f"• {i.name}：{i.fee}" for i in charged),
                      texts.get("guide_bundle_fee_others")])


def _material_names(kb: KnowledgeBase, item: ServiceItem) -> list[tuple[str, ...]]:
    """Every name each of the item's materials goes by, in list order."""
    return [kb.material_names(m.name, m.accepted) for m in item.materials]


def _unknown_name(ctx: TurnContext, query: str) -> str | None:
    """What a question that matched no item calls the matter, when it names one ("出租车营运证要什么材料" →
    出租车营运证: a word of the `matter_marks` list is in it); None for a question that names nothing ("要带什么
    材料", "这个要多久", "帮我看看材料齐不齐").
    """
    core = ctx.services.kb.current.core(query)
    if len(core) < MIN_UNKNOWN_NAME or REFERS_BACK.search(core):
        return None
    return core if any(mark in core for mark in ctx.texts.words("matter_marks")) else None


def _names_only_an_item(ctx: TurnContext) -> bool:
    """Whether the message does nothing but name an item or bundle ("社保卡补办")."""
    hit = ctx.best(ctx.text, ["item", "bundle"])
    return hit is not None and ctx.services.kb.current.names_only(ctx.text, hit)


def _supply_by(ctx: TurnContext, today: date) -> date:
    """The last day to supply a material accepted as 容缺 today (the working-day calendar's deadline)."""
    services = ctx.services
    return services.calendar.deadline(today, services.deferred_supply_days).due_date


def _asks_to_accept_now(ctx: TurnContext) -> bool:
    """"能先收吗", "可以先受理吗": whether the application is accepted now, the rest supplied later (容缺受理)."""
    return any(words in ctx.text for words in ctx.texts.words("asks_accept_now"))


def _asks_what_is_missing(ctx: TurnContext) -> bool:
    """"还缺啥", "还差什么": what is still missing, asked right after a pre-check result."""
    return any(words in ctx.text for words in ctx.texts.words("asks_missing"))


def _asks_to_hurry(ctx: TurnContext) -> bool:
    """Whether the message asks for the matter to be done sooner ("能加急吗", "急用，能快点吗"), not for a case
    filed to be hurried ("请尽快处理我的反映" is 催办).
    """
    text = ctx.text
    return any(w in text for w in ctx.texts.words("hurry")) and not any(w in text for w in ctx.texts.words("of_a_case"))


def _asks_together_only(ctx: TurnContext) -> bool:
    """Whether the message asks to do several things at once and names nothing ("能一起办吗", "这些能一块办不"),
    unlike "开公司要办哪些".
    """
    kb = ctx.services.kb.current
    if not kb.asks_for_several(ctx.text):
        return False
    return len(REFERS_BACK.sub("", kb.without_bundle_cues(kb.core(ctx.text)))) <= MAX_TOGETHER_REST


def _bundle_in_context(ctx: TurnContext, refs: list[Any]) -> str | None:
    """"能一起办吗" and no more: the 一件事 of what is being discussed (an item of it, or it among the choices
    offered), as a target; None when the message names something or nothing in context is part of a bundle.
    """
    if not _asks_together_only(ctx):
        return None
    bundles = bundles_referred(ctx, refs)
    return f"{BUNDLE_REF}{bundles[0].code}" if bundles else None


def _of_bundle_in_context(ctx: TurnContext, query: str, refs: list[Any]) -> str | None:
    """The code of the item of the 一件事 in context (the bundle, one of its items, or either among the choices)
    that a question matches nearly as well as its best match ("医保怎么交" about 新生儿出生 is the newborn's 医保
    参保, though 城乡居民医保缴费 matches it better alone); None when nothing of a bundle is in context.
    """
    family = {item for bundle in bundles_referred(ctx, refs) for item in bundle.items}
    hits = ctx.search(query, ["item", "bundle"], limit=SEARCH_DEPTH) if family and len(query) >= 2 else []
    if not hits or hits[0].kind != "item" or hits[0].key in family:
        return None  # nothing in context, or the best match is of the bundle already (or is a bundle itself)
    ours = next((h for h in hits if h.kind == "item" and h.key in family), None)
    near = ours is not None and ours.score >= SUGGEST and ours.score >= hits[0].score - BUNDLE_MARGIN
    return ours.key if near and ours is not None else None


def _other_matter(ctx: TurnContext, query: str) -> str | None:
    """The matter a follow-up names instead of the item in context ("狗证在哪办" → 狗证: a `matter_marks` word and
    more), not counting the materials it mentions ("身份证要复印吗") or a mark alone ("有补贴吗"); else None.
    """
    kb = ctx.services.kb.current
    core = kb.core(kb.without_material_names(query))
    if REFERS_BACK.search(core):
        return None
    marks = [mark for mark in ctx.texts.words("matter_marks") if mark in core]
    return core if marks and len(core) > max(len(mark) for mark in marks) else None


def _told_apart(kb: KnowledgeBase, query: str, hits: list[Hit]) -> Hit | None:
    """Of records about equally near a question, the one it tells apart: the only one whose names (its name and
    aliases) hold a word of the question that none of the others' do ("买房" of 住房公积金提取（购买自住住房）,
    among the 公积金 withdrawals); None when no one record, or more than one, is told apart so.
    """
    words = {w for w in kb.tokenizer.words(kb.core(query)) if len(w) >= 2}
    said = [{w for w in words if any(w in name for name in kb.names_of(hit))} for hit in hits]
    apart = [hit for i, hit in enumerate(hits) if said[i] - set().union(*(said[:i] + said[i + 1:]))]
    return apart[0] if len(apart) == 1 else None


def _item_and_ref(kb: KnowledgeBase, hit: Hit) -> tuple[ServiceItem, str]:
    """The checklist a hit names (an item, or a bundle's merged list) and the `ref` that reads it back."""
    if hit.kind == "bundle":
        return kb.bundle_checklist(hit.key), BUNDLE_REF + hit.key
    return kb.items[hit.key], hit.key


def _checklist(kb: KnowledgeBase, ref: str | None) -> ServiceItem | None:
    """The item whose materials a slot's `ref` names: an item's code, or BUNDLE_REF and a bundle's code."""
    if ref is None:
        return None
    if ref.startswith(BUNDLE_REF):
        code = ref.removeprefix(BUNDLE_REF)
        return kb.bundle_checklist(code) if code in kb.bundles else None
    return kb.items.get(ref)


def _missing_line(material: Material, tag: str = "") -> str:
    name = material.name + tag
    return f"• {name}：{material.notes}" if material.notes else f"• {name}"


def _tags(material: Any) -> str:
    """A material's mark in a checklist: made at the window, only in some situations, or 容缺 (required ones only,
    as the pre-check counts them).
    """
    if material.on_site:
        return "（窗口现场办理）"
    if not material.required:
        return "（视情况提供）"
    if material.deferrable:
        return "（可容缺）"
    return ""


def _choice_described(ctx: TurnContext, choices: dict[str, str]) -> str | None:
    """"我是买房子" or "退休了" to "您要办理的是：": the one offered item the short answer describes best, clearly
    ahead of the other offered ones; None otherwise (a longer message is a question of its own).
    """
    if len(ctx.text) > MAX_DESCRIBED_CHOICE:
        return None
    offered = set(choices.values())
    hits = [h for h in ctx.search(ctx.text, ["item", "bundle"])
            if f"{h.kind}:{h.key}" in offered and h.score >= SUGGEST]
    if not hits or (len(hits) > 1 and hits[0].score - hits[1].score < CLOSE):
        return None
    return f"{hits[0].kind}:{hits[0].key}"


def _fields_asked(ctx: TurnContext) -> list[str]:
    """The fields the message asks about by their words, in the guide's order ("要多久？多少钱？" → time_limit, fee)."""
    return [field for field in MULTI_FIELDS if any(w in ctx.text for w in ctx.texts.words(f"asks_{field}"))]


def _asks_amount(ctx: TurnContext) -> bool:
    """"能领多少钱", "领多久", "每个月发多少": how much the item pays or lets one draw, and for how long."""
    return any(word in ctx.text for word in ctx.texts.words("item_amount"))


def _asks_if_open(ctx: TurnContext) -> bool:
    """"周六能办吗", "明天开门吗": whether a day is open for business (with the day as a date entity)."""
    return any(word in ctx.text for word in ctx.texts.words("open_on_day"))


def _days_text(item: ServiceItem) -> str:
    if item.instant or item.promised_days == 0:
        return "即办"
    return f"{item.promised_days} 个工作日" if item.promised_days is not None else "以窗口告知为准"


def _either(location: str) -> str:
    """"A；B" (the places the item is done at) as a sentence says it: "A，或B" ("到综合窗口（户政），或居住地派出所
    办理").
    """
    return location.replace("；", "，或")


def _time_limit(ctx: TurnContext, item: ServiceItem) -> str:
    if item.instant or item.promised_days == 0:
        return ctx.texts.get("guide_time_limit_instant", name=item.name)
    if item.promised_days is None:
        return ctx.texts.get("guide_time_limit_unknown", name=item.name)
    if item.legal_days is None:
        return ctx.texts.get("guide_time_limit_promised", name=item.name, promised=item.promised_days)
    return ctx.texts.get("guide_time_limit", name=item.name, promised=item.promised_days, legal=item.legal_days)


def _card(item: ServiceItem, view: str) -> dict[str, Any]:
    """Structured data for channels that draw cards (mini-program): the item and its checklist."""
    return {
        "type": "service_item",
        "view": view,
        "code": item.code,
        "name": item.name,
        "promised_days": item.promised_days,
        "window": item.window,
        "materials": [
            {
                "name": m.name,
                "required": m.required,
                "deferrable": m.deferrable,
                "form": m.form,
                "copies": m.copies,
                "notes": m.notes,
            }
            for m in item.materials
        ],
    }
