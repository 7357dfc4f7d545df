"""`progress`: "我的事办到哪了". Lists the user's own cases and pre-checks; a case number shows that case's
history. A case filed from another channel is shown after the phone it was filed with is given. "能催一下吗"
(催办) hurries the user's open case: staff see it in the case's history and on the console.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime

from bot.flows.base import Flow, TurnContext
from bot.messages import Button, Reply
from core.clock import today_local
from core.errors import Conflict, InvalidInput, NotFound
from core.text import CLAUSE_BREAK
from handoff.calendar import date_in_words
from handoff.case_models import Case

MAX_PHONE_TRIES = 3
# The payload of a 催办 button, when the user has several open cases.
URGE = re.compile(r"^催办\s*(BBC[0-9]{8}-[0-9]{4})$", re.IGNORECASE)
# 撤销反映: "撤回 BBC…" picks the case (then asks to confirm), "确认撤回 BBC…" withdraws it.
WITHDRAW_PICK = re.compile(r"^撤回\s*(BBC[0-9]{8}-[0-9]{4})$", re.IGNORECASE)
WITHDRAW_CONFIRMED = re.compile(r"^确认撤回\s*(BBC[0-9]{8}-[0-9]{4})$", re.IGNORECASE)
# The payload of the 补充说明 button of a "需要您补充" notice: the next message is the supplement.
SUPPLEMENT = re.compile(r"^补正\s*(BBC[0-9]{8}-[0-9]{4})$", re.IGNORECASE)
LISTED = 5
CASE_NUMBER = re.compile(r"BBC[0-9]{8}-[0-9]{4}", re.IGNORECASE)
ASKS_WHAT_WAS_BOOKED = re.compile(r"(?:我|俺)(?:都|们)?(?:预约|约)(?:了|的|过)(?:是|些)?"
                                  r"(?:啥|什么|哪些|哪个|哪几个|哪天|几号|几点|啥时候|什么时候)")
SUPPLEMENT_LEAD = re.compile(r"^[我再还要想的：:，,。\s]+")  # "我再…" left of "我再补充一点"
MIN_SUPPLEMENT_CHARS = 4  # "窗口态度差": enough to be the supplement itself, not just "我要补充一下"


class ProgressFlow(Flow):
    """Answers progress questions from the case service and the pre-check store."""

    name = "progress"
    intents = frozenset({"ask_progress", "urge_case"})

    def owns(self, ctx: TurnContext) -> bool:
        """A 催办, 补充说明 or 撤回 button ("催办 BBC20261122-0003"), whatever the NLU made of it, and "撤销反映" (but
        not while a complaint is being written: that 取消 is the complaint flow's).
        """
        if any(p.match(ctx.text) for p in (URGE, SUPPLEMENT, WITHDRAW_PICK, WITHDRAW_CONFIRMED)):
            return True
        if ASKS_WHAT_WAS_BOOKED.search(ctx.text):
            return True  # "我都约了啥": the bookings made, not a new one (it started one, and then a second)
        return ctx.session.flow != "complaint" and (_asks_to_withdraw(ctx) or _asks_to_supplement(ctx))

    def wants(self, ctx: TurnContext) -> bool:
        """The phone asked for to show a case, the supplement asked for, a yes or no to a withdrawal, or a record
        number.
        """
        slots = ctx.session.slots_of(self.name)
        if "withdraw_pending" in slots and _yes_or_no(ctx) is not None:
            return True
        return "phone_for" in slots or "supplement_for" in slots or _record_no(ctx) is not None

    def answers(self, ctx: TurnContext) -> bool:
        """"不想投诉了，撤销吧" to "确定撤回…吗" is a yes, though the classifier reads 取消 into it."""
        return "withdraw_pending" in ctx.session.slots_of(self.name) and _yes_or_no(ctx) is not None

    def claims(self, ctx: TurnContext) -> bool:
        """A bare case or pre-check number ("BBC20261122-0003")."""
        return _record_no(ctx) is not None

    async def handle(self, ctx: TurnContext) -> list[Reply]:
        """Show one record, check the phone for it, or list the user's records."""
        slots = ctx.slots
        cases = ctx.services.cases
        pending_withdrawal = slots.pop("withdraw_pending", None)
        answer = _yes_or_no(ctx) if pending_withdrawal is not None else None
        if answer is not None:  # "确认" / "好的" / "不了" to "确定撤回…吗"
            ctx.session.end_flow()
            if not answer:
                return [Reply(ctx.texts.get("withdraw_kept", case_no=pending_withdrawal))]
            return await self._withdraw(ctx, confirmed=pending_withdrawal)
        if WITHDRAW_PICK.match(ctx.text) or WITHDRAW_CONFIRMED.match(ctx.text) or _asks_to_withdraw(ctx):
            ctx.session.end_flow()
            return await self._withdraw(ctx)
        supplementing = SUPPLEMENT.match(ctx.text)
        if supplementing:
            return await self._ask_supplement(ctx, supplementing.group(1).upper())
        if _asks_to_supplement(ctx):  # "我要补充材料" typed, not the notice's button
            return await self._which_to_supplement(ctx)
        if "supplement_for" in slots:
            ctx.session.end_flow()
            return await self._supplement(ctx, slots["supplement_for"])
        if "phone_for" in slots and _record_no(ctx) is None:
            case_no = slots["phone_for"]
            tries = slots.get("tries", 0) + 1
            try:
                case = await cases.for_owner(case_no, ctx.text)
            except NotFound:
                if tries >= MAX_PHONE_TRIES:
                    ctx.session.end_flow()
                    return [Reply(ctx.texts.get("progress_rate_limited"))]
                slots["tries"] = tries
                return [Reply(ctx.texts.get("progress_not_found"))]
            ctx.session.end_flow()
            await cases.follow(case, ctx.inbound.user_id)  # the phone proves it: this chat now follows the case
            return await self._detail(ctx, case)
        number = _record_no(ctx)
        ctx.session.end_flow()
        if ctx.parse.intent == "urge_case" or URGE.match(ctx.text):
            return await self._urge(ctx, number if number is not None and number.startswith("BBC") else None)
        if number is not None and number.startswith("YS"):
            return await self._precheck(ctx, number)
        if number is not None and number.startswith("YY"):
            return await self._appointment(ctx, number)
        if number is not None and number.startswith("GD"):
            return await self._ticket(ctx, number)
        if number is not None:
            try:
                case = await cases.get(number)
            except NotFound:
                return [Reply(ctx.texts.get("progress_not_found"))]
            if not await cases.belongs_to(case, ctx.inbound.user_id):
                ctx.session.flow = self.name
                ctx.slots["phone_for"] = number
                return [Reply(ctx.texts.get("progress_ask_phone"))]
            return await self._detail(ctx, case)
        return await self._list(ctx)

    async def _list(self, ctx: TurnContext) -> list[Reply]:
        texts = ctx.texts
        user_id = ctx.inbound.user_id
        # Four independent reads at once: the reply waits for one round trip, not four in a row.
        own_cases, prechecks, bookings, tickets = await asyncio.gather(
            ctx.services.cases.of_user(user_id, limit=LISTED),
            ctx.services.prechecks.of_user(user_id, limit=LISTED),
            ctx.services.appointments.of_user(user_id, today_local(), limit=LISTED),
            ctx.services.tickets.of_user(user_id, limit=3))
        if not own_cases and not prechecks and not bookings and not tickets:
            return [Reply(texts.get("progress_none"))]
        names = ctx.services.cases.rules.status_names
        lines = [texts.get("progress_list")]
        for case in own_cases:
            due = texts.get("progress_case_due", due=date_in_words(case.due_date)) if case.is_open else ""
            lines.append(texts.get("progress_case_line", case_no=case.case_no, item=case.item_name,
                                   status=names.get(case.status, case.status), due=due))
        for record in prechecks:
            lines.append(texts.get("progress_precheck_line", number=record.number, item=record.item_name,
                                   decision=texts.get(f"progress_decision_{record.decision}")))
        for ticket in tickets:
            lines.append(texts.get("progress_ticket_line", number=ticket.number, window=ticket.window,
                                   status=texts.get(f"progress_ticket_{ticket.status}")))
        halves = ctx.services.appointments.rules.halves
        for booking in bookings:
            lines.append(texts.get("progress_appointment_line", number=booking.number, item=booking.item_name,
                                   day=date_in_words(booking.day), half=halves[booking.half].name))  # type: ignore[index]
        lines.append(texts.get("progress_footer"))
        buttons = tuple(Button(c.case_no, c.case_no) for c in own_cases)
        return [Reply("\n".join(lines), buttons=buttons)]

    async def _urge(self, ctx: TurnContext, number: str | None) -> list[Reply]:
        """催办 the named case, or the user's one open case (a choice when there are several)."""
        texts = ctx.texts
        cases = ctx.services.cases
        user_id = ctx.inbound.user_id
        case = await _case_to_act_on(ctx, number, "催办", "urge_nothing_open", "urge_which", running_only=True)
        if isinstance(case, list):
            return case
        progress = (Button(texts.get("button_progress"), case.case_no),)
        if not case.is_open:
            return [Reply(_finished_text(ctx, case), buttons=progress)]
        if case.paused_since is not None:  # waiting for the citizen's material: nothing for staff to hurry
            key, recorded = "urge_paused", False
        else:
            try:
                case, recorded = await cases.urge(case.case_no, user_id)
            except Conflict:  # finished meanwhile
                return [Reply(texts.get("urge_finished", case_no=case.case_no), buttons=progress)]
            key = "urge_recorded" if recorded else "urge_already"
        text = texts.get(key, case_no=case.case_no, department=case.department, due=date_in_words(case.due_date))
        return [Reply(text, buttons=progress)]

    async def _withdraw(self, ctx: TurnContext, confirmed: str | None = None) -> list[Reply]:
        """撤销反映: which case, then a confirmation (a button, or 确认 typed: `confirmed`), then the case is
        withdrawn.
        """
        texts, cases, user_id = ctx.texts, ctx.services.cases, ctx.inbound.user_id
        pressed = WITHDRAW_CONFIRMED.match(ctx.text)
        confirmed = pressed.group(1).upper() if pressed else confirmed
        if confirmed:
            try:
                withdrawn = await cases.withdraw(confirmed, user_id)
            except NotFound:
                return [Reply(texts.get("urge_not_found"))]
            except Conflict:
                return [Reply(texts.get("urge_finished", case_no=confirmed))]
            return [Reply(texts.get("withdraw_done", case_no=withdrawn.case_no))]
        picked = WITHDRAW_PICK.match(ctx.text)
        number = picked.group(1).upper() if picked else _record_no(ctx)
        case = await _case_to_act_on(ctx, number, "撤回", "withdraw_nothing_open", "withdraw_which")
        if isinstance(case, list):
            return case
        if not case.is_open:
            return [Reply(_finished_text(ctx, case))]
        ctx.session.flow = self.name  # the confirmation may be typed: "确认", "好的", "不了"
        ctx.slots["withdraw_pending"] = case.case_no
        return [Reply(texts.get("withdraw_confirm", case_no=case.case_no, item=case.item_name),
                      buttons=(Button(texts.get("button_withdraw"), f"确认撤回 {case.case_no}"),
                               Button(texts.get("button_keep_case"), case.case_no)))]

    async def _which_to_supplement(self, ctx: TurnContext) -> list[Reply]:
        """The user's case to add to: the one named, else the one waiting for their material, else their one
        open case (a choice when there are several); or that none is open. A message that says more than "我要补充"
        ("我再补充一点 窗口那个人态度也很差") is itself the supplement.
        """
        open_cases = [c for c in await ctx.services.cases.of_user(ctx.inbound.user_id, limit=LISTED) if c.is_open]
        named = _record_no(ctx)
        candidates = [c for c in open_cases if c.case_no == named] if named else \
            [c for c in open_cases if c.paused_since is not None] or open_cases
        if not candidates:
            return [Reply(ctx.texts.get("supplement_nothing"))]
        if len(candidates) > 1:
            return [_which_case(ctx, candidates, "补正", "supplement_which")]
        if len(_said_beyond_supplement(ctx)) >= MIN_SUPPLEMENT_CHARS:
            return await self._supplement(ctx, candidates[0].case_no)
        return await self._ask_supplement(ctx, candidates[0].case_no)

    async def _ask_supplement(self, ctx: TurnContext, case_no: str) -> list[Reply]:
        """补充说明 pressed: the next message is what the citizen adds to the case."""
        case = await _own_case(ctx, case_no)
        if case is None:
            return [Reply(ctx.texts.get("urge_not_found"))]
        if not case.is_open:
            return [Reply(ctx.texts.get("urge_finished", case_no=case.case_no),
                          buttons=(Button(ctx.texts.get("button_progress"), case.case_no),))]
        ctx.session.flow = self.name
        ctx.slots["supplement_for"] = case.case_no
        return [Reply(ctx.texts.get("supplement_ask", case_no=case.case_no, department=case.department))]

    async def _supplement(self, ctx: TurnContext, case_no: str) -> list[Reply]:
        """Keep the message in the case's history for the department (取消 left before this)."""
        try:
            case = await ctx.services.cases.supplement(case_no, ctx.inbound.user_id, ctx.inbound.text)
        except InvalidInput:
            ctx.session.flow = self.name
            ctx.slots["supplement_for"] = case_no
            return [Reply(ctx.texts.get("supplement_ask_again"))]
        except (NotFound, Conflict):
            return [Reply(ctx.texts.get("urge_finished", case_no=case_no))]
        key = "supplement_received" if case.paused_since is not None else "supplement_received_open"
        return [Reply(ctx.texts.get(key, department=case.department),
                      buttons=(Button(ctx.texts.get("button_progress"), case.case_no),))]

    async def _appointment(self, ctx: TurnContext, number: str) -> list[Reply]:
        """One of the user's upcoming appointments, with how to cancel or move it."""
        book = ctx.services.appointments
        booking = await book.upcoming(number, ctx.inbound.user_id, today_local())
        if booking is None:
            return [Reply(ctx.texts.get("appointment_not_found"))]
        half = book.rules.halves[booking.half]  # type: ignore[index]
        text = ctx.texts.get("progress_appointment_detail", number=number, item=booking.item_name,
                             day=date_in_words(booking.day), half=half.name, hours=half.hours, window=booking.window)
        return [Reply(text, buttons=(Button(ctx.texts.get("button_cancel_booking"), f"取消预约 {number}"),
                                     Button(ctx.texts.get("button_rebook"), f"改约 {number}")))]

    async def _ticket(self, ctx: TurnContext, number: str) -> list[Reply]:
        """One of the user's 转人工 tickets."""
        found = await ctx.services.tickets.find(windows=None, number=number, limit=1)
        ticket = found[0] if found and found[0].user_id == ctx.inbound.user_id else None
        if ticket is None:
            return [Reply(ctx.texts.get("progress_ticket_not_found"))]
        return [Reply(ctx.texts.get("progress_ticket_line", number=number, window=ticket.window,
                                    status=ctx.texts.get(f"progress_ticket_{ticket.status}")).removeprefix("• "))]

    async def _detail(self, ctx: TurnContext, case: Case) -> list[Reply]:
        texts = ctx.texts
        service = ctx.services.cases
        names = service.rules.status_names
        lines = [texts.get("progress_case_head", case_no=case.case_no, item=case.item_name,
                           status=names.get(case.status, case.status)),
                 texts.get("progress_case_window", department=case.department)]
        if case.paused_since is not None:
            lines.append(texts.get("progress_case_paused"))
        elif case.is_open:
            lines.append(texts.get("progress_case_due_line", due=date_in_words(case.due_date)))
        if case.result:
            lines.append(texts.get("progress_case_result", result=case.result))
        lines.append(texts.get("progress_history"))
        tz = service.calendar.tz
        timeline = []
        for event in await service.events(case, public_only=True):
            when = _when(event.created_at.astimezone(tz))
            what = texts.get(f"progress_event_{event.kind}", note=event.note, **_event_values(event.data))
            lines.append(texts.get("progress_event_line", when=when, what=what))
            timeline.append({"kind": event.kind, "at": event.created_at.isoformat(), "text": what})
        # The same timeline as a card, for channels that draw it (mini-program, web).
        card = {"type": "case", "case_no": case.case_no, "item": case.item_name, "status": case.status,
                "status_name": names.get(case.status, case.status), "department": case.department,
                "due_date": case.due_date.isoformat() if case.is_open else None,
                "paused": case.paused_since is not None, "result": case.result, "timeline": timeline}
        return [Reply("\n".join(lines), card=card)]

    async def _precheck(self, ctx: TurnContext, number: str) -> list[Reply]:
        try:
            record = await ctx.services.prechecks.get_for_owner(number, ctx.inbound.user_id)
        except NotFound:
            return [Reply(ctx.texts.get("progress_precheck_not_found"))]
        texts = ctx.texts
        lines = [texts.get("progress_precheck_line", number=record.number, item=record.item_name,
                           decision=texts.get(f"progress_decision_{record.decision}"))]
        # Marked as the pre-check said them: 容缺 may follow after acceptance, 视情况 only in some situations.
        lines += [f"  - {m['name']}" + (texts.get("progress_precheck_optional") if not m.get("required", True) else
                                        texts.get("progress_precheck_deferrable") if m.get("deferrable") else "")
                  for m in record.missing]
        return [Reply("\n".join(lines))]


async def _case_to_act_on(ctx: TurnContext, number: str | None, action: str, none_key: str,
                          which_key: str, *, running_only: bool = False) -> Case | list[Reply]:
    """The user's own case `number`, or without one their one open case (with `running_only`, one not paused
    for the citizen's material, when there is such); else the reply: not found, none open (saying what became
    of the latest), or which of several (a button "<action> BBC…" for each).
    """
    if number is None:
        own = await ctx.services.cases.of_user(ctx.inbound.user_id, limit=LISTED)
        open_cases = [c for c in own if c.is_open]
        if running_only:
            open_cases = [c for c in open_cases if c.paused_since is None] or open_cases
        if not open_cases:
            latest = [Reply(_finished_text(ctx, own[0]))] if own else []  # "能催一下吗" just after it was resolved
            return [*latest, Reply(ctx.texts.get(none_key))]
        if len(open_cases) > 1:
            return [_which_case(ctx, open_cases, action, which_key)]
        return open_cases[0]
    case = await _own_case(ctx, number)
    return case if case is not None else [Reply(ctx.texts.get("urge_not_found"))]


def _which_case(ctx: TurnContext, cases: list[Case], action: str, which_key: str) -> Reply:
    """"要催办哪一件？" with a button "<action> BBC…" for each case."""
    return Reply(ctx.texts.get(which_key), buttons=tuple(
        Button(ctx.texts.get("urge_choice", case_no=c.case_no, item=c.item_name), f"{action} {c.case_no}")
        for c in cases))


def _finished_text(ctx: TurnContext, case: Case) -> str:
    """"BBC… 已办结：…" for a case no longer worked."""
    status = ctx.services.cases.rules.status_names.get(case.status, case.status)
    result = ctx.texts.get("case_result_suffix", result=case.result) if case.result else ""
    return ctx.texts.get("case_not_open", case_no=case.case_no, status=status, result=result)


async def _own_case(ctx: TurnContext, case_no: str) -> Case | None:
    """The user's own case of this number; None for an unknown number and for anyone else's alike."""
    try:
        case = await ctx.services.cases.get(case_no)
    except NotFound:
        return None
    return case if await ctx.services.cases.belongs_to(case, ctx.inbound.user_id) else None


def _yes_or_no(ctx: TurnContext) -> bool | None:
    """True for a typed yes ("确认", "好的", "不想投诉了，撤销吧"), False for a no ("不了"), None for anything else."""
    if ctx.text in ctx.texts.words("confirmations"):
        return True
    if ctx.text in ctx.texts.words("refusals"):
        return False
    return True if any(word in ctx.text for word in ctx.texts.words("withdraw_consent")) else None


def _asks_to_supplement(ctx: TurnContext) -> bool:
    """"我要补充材料", "补正的材料怎么给你们": about a case waiting for the citizen, unless a service item is named
    (then it is a question about that item's materials) or a service or policy conversation is under way.
    """
    if ctx.session.flow in ("guide", "policy") or not any(w in ctx.text for w in ctx.texts.words("supplement")):
        return False
    named = ctx.search(ctx.text, ["item", "bundle"], limit=1)
    return not (named and named[0].confident)


def _said_beyond_supplement(ctx: TurnContext) -> str:
    """What the message says besides asking to add something and naming the case ("窗口那个人态度也很差")."""
    text = CASE_NUMBER.sub("", ctx.text)
    for word in sorted(ctx.texts.words("supplement"), key=len, reverse=True):
        text = text.replace(word, "")
    return SUPPLEMENT_LEAD.sub("", text.replace(" ", ""))


def _asks_to_withdraw(ctx: TurnContext) -> bool:
    """"撤销反映", "我的问题解决了，撤回投诉", a bare "撤回", or one as a clause of its own ("不想反映了 撤销吧")."""
    bare = ctx.texts.words("withdraw_bare")
    return ctx.text in bare or any(word in ctx.text for word in ctx.texts.words("withdraw")) or \
        any(clause in bare for clause in CLAUSE_BREAK.split(ctx.text))


def _record_no(ctx: TurnContext) -> str | None:
    return next((e.value for e in ctx.parse.entities if e.entity == "case_no"), None)


def _when(moment: datetime) -> str:
    return f"{moment.month}月{moment.day}日 {moment:%H:%M}"


def _event_values(data: dict[str, object]) -> dict[str, object]:
    """Placeholders an event text may use: the department and days of the classification, the destination of a
    transfer, the new due date.
    """
    values: dict[str, object] = {"department": data.get("department", ""), "days": data.get("days", ""),
                                 "due": "", "rating": ""}
    target = data.get("to")
    if isinstance(target, dict) and "department" in target:
        values["department"] = target["department"]
    due = data.get("due_date")
    if isinstance(due, str):
        values["due"] = date_in_words(date.fromisoformat(due))
    if "rating" in data:
        values["rating"] = data["rating"]
    return values
