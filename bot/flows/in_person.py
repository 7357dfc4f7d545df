""""必须本人去吗", "两个人都要去吗", "能让家里人代办吗": who has to come for an item (本人到场), and whether someone
else may apply instead (委托他人办理), answered from what the item's guide says of it: its conditions
("双方亲自到婚姻登记机关共同申请"), the materials a proxy brings ("授权委托书（委托他人办理时提交）") and its
common errors ("一方未到场，婚姻登记不能代办"). Not 帮办代办, the centre's own staff helping ("能帮我代办吗"),
which is booked as an appointment.
"""

from __future__ import annotations

from bot.flows.base import TurnContext
from bot.messages import Button, Reply
from policy_kb.schema import ServiceItem


def asks_in_person(ctx: TurnContext) -> bool:
    """Whether the message asks who has to come, or whether someone else may do it."""
    return any(word in ctx.text for word in ctx.texts.words("in_person"))


def about_someone_else(ctx: TurnContext) -> bool:
    """Whether it speaks of another person doing it ("能让别人代办吗"): a proxy, not the centre's 帮办代办."""
    return any(word in ctx.text for word in ctx.texts.words("someone_else"))


def in_person_lines(ctx: TurnContext, item: ServiceItem) -> list[str]:
    """What the item's guide says about coming in person and about proxies: conditions, then materials, then
    common errors, each once.
    """
    words = ctx.texts.words("in_person_in_guide")
    lines = [c for c in item.conditions if any(w in c for w in words)]
    for material in item.materials:
        described = f"{material.name}（{material.notes}）" if material.notes else material.name
        if any(w in described for w in words):
            lines.append(ctx.texts.get("in_person_material", material=described))
    lines += [ctx.texts.get("in_person_error", error=e) for e in item.common_errors if any(w in e for w in words)]
    return list(dict.fromkeys(lines))


def in_person_answer(ctx: TurnContext, item: ServiceItem, buttons: tuple[Button, ...]) -> Reply:
    """The item's rules on coming in person and on proxies; where its guide says nothing, the phone to ask."""
    texts = ctx.texts
    lines = in_person_lines(ctx, item)
    phone = texts.get("in_person_phone", phone=item.phone) if item.phone else texts.get("in_person_window")
    if not lines:
        return Reply(texts.get("guide_in_person_unknown", name=item.name, phone=phone), buttons=buttons)
    text = "\n".join([texts.get("guide_in_person", name=item.name), *(f"• {line}" for line in lines)])
    if about_someone_else(ctx) and not any(w in line for line in lines for w in texts.words("proxy_in_guide")):
        # "能让家里人去办吗" of an item whose guide only speaks of a minor's guardian: an adult's proxy is not said
        text += "\n" + texts.get("in_person_proxy_unknown", phone=phone)
    return Reply(text, buttons=buttons)
