""""营业执照办好了，下一步干啥": the items of a 一件事 (bundle) that come after one already done, so that an
enterprise or a family is walked on through the rest (刻章, 发票, 银行开户, 社保登记…) instead of being told
about the step it has finished.
"""

from __future__ import annotations

import re
from typing import Any

from bot.flows.base import TurnContext
from bot.messages import Button, Reply
from policy_kb.schema import Bundle

BUNDLE_SUFFIX = "一件事"
# Something done, then what comes next: "执照下来了，接下来还要办啥", "出生证明拿到了 然后呢".
NEXT_STEP = re.compile(r"(?:办好|办完|下来|拿到|领到|办下来|弄好|搞定)了?.{0,10}"
                       r"(?:下一步|接下来|然后|还要办|还得办|还需要办|再办|还要干|该干|该办)")


# Something done, and no more said: "出生证明有了", "执照办下来了" (while its 一件事 is being discussed).
DONE_ALONE = re.compile(r"^.{2,12}?(?:办好|办完|下来|拿到|领到|办下来|弄好|搞定|有)了[。！!]?$")


def asks_next_step(ctx: TurnContext) -> bool:
    """Whether the message says an item of a bundle is done and asks what comes next; or, while that bundle is
    being discussed, only says the item is done ("出生证明有了").
    """
    if NEXT_STEP.search(ctx.text) is not None:
        return _done_in_bundle(ctx) is not None
    if DONE_ALONE.match(ctx.text) is None:
        return False
    found = _done_in_bundle(ctx)
    return found is not None and found[0].code in _bundles_in_context(ctx)


def bundles_referred(ctx: TurnContext, refs: list[Any]) -> list[Bundle]:
    """The bundles that guide references ("bundle:YJS-0003", "item:ZH-0008") point at, in their order: a bundle's
    own, or those an item is part of.
    """
    kb = ctx.services.kb.current
    found: dict[str, Bundle] = {}
    for ref in refs:
        kind, _, code = str(ref).partition(":")
        if kind == "bundle" and code in kb.bundles:
            found.setdefault(code, kb.bundles[code])
        elif kind == "item":
            found.update((b.code, b) for b in kb.bundles.values() if code in b.items and b.code not in found)
    return list(found.values())


def _bundles_in_context(ctx: TurnContext) -> set[str]:
    """The codes of the bundles the guide is discussing: the one asked about, or one among the choices offered."""
    slots = ctx.session.slots_of("guide")
    return {b.code for b in bundles_referred(ctx, [slots.get("target"), *slots.get("choices", {}).values()])}


def next_steps(ctx: TurnContext) -> list[Reply]:
    """The bundle's items after the one done, numbered, each a button that asks about it."""
    found = _done_in_bundle(ctx)
    if found is None:
        return []
    bundle, done = found
    kb = ctx.services.kb.current
    rest = [kb.items[code] for code in bundle.items[bundle.items.index(done) + 1:] if code in kb.items]
    name = bundle.name if bundle.name.endswith(BUNDLE_SUFFIX) else bundle.name + BUNDLE_SUFFIX
    lines = [ctx.texts.get("guide_next_steps", done=kb.items[done].name, bundle=name, count=len(rest)),
             *(f"{n} {item.name}" for n, item in enumerate(rest, 1)),
             ctx.texts.get("guide_next_steps_footer")]
    # Offered as choices: a name typed or described picks one, and "能一起办吗" is this bundle (see guide)
    ctx.slots["choices"] = {item.name: f"item:{item.code}" for item in rest}
    return [Reply("\n".join(lines), buttons=tuple(Button(item.name, item.name) for item in rest))]


def _done_in_bundle(ctx: TurnContext) -> tuple[Bundle, str] | None:
    """The bundle holding the item the message names, and that item's code, when items follow it there."""
    kb = ctx.services.kb.current
    for hit in ctx.search(ctx.text, ["item"], limit=3):
        if not hit.confident:
            break
        bundle = next((b for b in kb.bundles.values() if hit.key in b.items[:-1]), None)
        if bundle is not None:
            return bundle, hit.key
    return None
