""""结婚证没带能先办吗" while 存量房转移登记 is discussed: a question about one of the item's own materials. It is
about that item (not 结婚登记, which 结婚证 also names), and whether the item can be applied for without it is
answered from the material: 容缺 (accepted now, supplied later), only sometimes needed, or needed first.
"""

from __future__ import annotations

import re

from bot.choices_materials import states_having
from bot.flows.base import TurnContext, asks_question
from bot.messages import Reply
from core.text import CLAUSE_BREAK
from policy_kb.schema import Material, ServiceItem

# The parts of a material's name that name it on their own: "婚姻状况声明或结婚证" → 婚姻状况声明, 结婚证.
NAME_PARTS = re.compile(r"或|、|及|和|以及|/|（[^）]*）|\([^)]*\)")
MIN_PART_CHARS = 2
# The last characters of a material's name, which name it on their own (照片, 合同), unless every other material
# ends so too (证明, 材料).
HEAD_CHARS = 2
GENERAL_HEADS = frozenset({"证明", "材料", "证件", "资料", "原件", "文件", "声明", "书面", "信息", "凭证", "记录",
                           "表格"})
# "没带能先办吗", "可以后补吗", "不带行不行": whether the item can be applied for without it.
WITHOUT_IT = re.compile(r"没带|没有|忘带|不带|没拿|先办|后补|后面补|以后补|晚点补|补交|不交|缺|要吗|需要吗|要不要|必须|"
                        r"一定要|得带|要带吗|用带|用不用")


# Words that say a material is not there ("没有经营场所证明", "结婚证忘带了").
MISSING = re.compile(r"没有|没带|忘带|忘了|没拿|缺|找不到|丢了|没办")


def material_mentioned(ctx: TurnContext, item: ServiceItem, query: str,
                       *, inside: bool = False) -> tuple[Material, str] | None:
    """The item's material the query names (by its name, an alias, or a part of its name; with `inside`, also a
    known material inside its name: 结婚证 of 父母结婚证), with the words that named it; None when it names none.
    """
    kb = ctx.services.kb.current
    named: list[tuple[Material, list[str]]] = []
    for material in item.materials:
        names = kb.material_words(material.name, material.accepted) if inside else \
            kb.material_names(material.name, material.accepted)
        parts = {p for name in names for p in (name, *NAME_PARTS.split(name)) if len(p) >= MIN_PART_CHARS}
        if inside:  # "照片没带" of 近期免冠证件照片, "就业证明" of 就业或就读证明, "合同" of 存量房买卖合同
            parts |= {name[-HEAD_CHARS:] for name in names if name[-HEAD_CHARS:] not in GENERAL_HEADS}
            parts |= {p + name.split("或")[-1][-HEAD_CHARS:] for name in names if "或" in name
                      for p in name.split("或")[:-1] if len(p) <= HEAD_CHARS}
        named.append((material, sorted(parts, key=len, reverse=True)))
    # "我只有身份证 没有经营场所证明 能先办吗": the material said to be missing, before one said to be there
    clauses = CLAUSE_BREAK.split(query)
    for clause in [c for c in clauses if MISSING.search(c)] + [query]:
        for material, words in named:
            said = next((w for w in words if w in clause), None)
            if said is not None:
                return material, said
    return None


def asks_without_it(ctx: TurnContext) -> bool:
    """Whether the message asks if the material it names is needed, or if the item can be done without it."""
    return WITHOUT_IT.search(ctx.text) is not None


def asked_of_context(ctx: TurnContext, item: ServiceItem | None) -> Material | None:
    """"委托书要吗", "结婚证没带能先办吗" while `item` is discussed: its material asked about, when the message
    names no other item once that material's words are taken out; else None.
    """
    if item is None or not asks_without_it(ctx) or (states_having(ctx.text) and not asks_question(ctx.text)):
        return None  # "身份证有，结婚证没带" says what one has: a checklist answer ("…能先办吗" asks)
    # "结婚证没带" is asked of 父母结婚证 too: whether one can do without it is only asked of the item's own
    mentioned = material_mentioned(ctx, item, ctx.text, inside=True)
    if mentioned is None:
        return None
    # other materials named are not other items ("我只有身份证 没有经营场所证明": not the 身份证 item)
    rest = ctx.services.kb.current.without_material_names(ctx.text.replace(mentioned[1], " "))
    other = ctx.best(rest, ["item", "bundle"])
    return mentioned[0] if other is None or other.key == item.code else None


def not_on_checklist(ctx: TurnContext, item: ServiceItem | None) -> str | None:
    """"户口本要带吗" while 结婚登记 is discussed, whose checklist has no 户口簿: the material named (not one of
    the item's own), when the message names no other item once it is taken out; else None.
    """
    if item is None or not asks_without_it(ctx) or states_having(ctx.text):
        return None
    said = ctx.services.kb.current.material_named(ctx.text)
    if said is None or len(said) < MIN_PART_CHARS or material_mentioned(ctx, item, ctx.text, inside=True) is not None:
        return None
    other = ctx.best(ctx.text.replace(said, " "), ["item", "bundle"])
    return said if other is None or other.key == item.code else None


def not_needed(ctx: TurnContext, item: ServiceItem, said: str) -> list[Reply]:
    """The material asked about is not on the item's checklist: not needed; the ones to bring are named."""
    bring = [m.name for m in item.materials if m.required and not m.on_site]
    return [Reply(ctx.texts.get("material_not_on_checklist", item=item.name, material=said, names="、".join(bring)))]


def without_it(ctx: TurnContext, item: ServiceItem, material: Material) -> list[Reply]:
    """Whether the item can be applied for without this material: 容缺, only in some situations, or not."""
    texts = ctx.texts
    if material.on_site:
        key = "material_made_on_site"
    elif material.deferrable:
        key = "material_deferrable"
    elif not material.required:
        key = "material_sometimes"
    else:
        key = "material_needed_first"
    return [Reply(texts.get(key, item=item.name, material=material.name, notes=material.notes or "",
                            days=ctx.services.deferred_supply_days))]
