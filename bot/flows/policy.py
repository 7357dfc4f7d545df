"""`policy`: enterprise policy consultation (惠企政策). "有什么优惠政策" asks only what narrows the list (scale,
taxpayer type, what they want), one question at a time and skippable, then lists the current eligible
policies best first, each with its benefit and 文号. A question naming a policy is answered from it with
its 文号 and validity; "怎么申请", "要什么材料", "到哪办" stay on that policy. Expired policies are never
offered as current, and when asked about, the answer says they expired.
"""

from __future__ import annotations

import re
from typing import Any

from bot.choices import leading_choice
from bot.flows.base import MORE_WORDS, NOT_QUESTIONS, POLICY_WINDOW, Flow, TurnContext, menu_buttons
from bot.flows.headcount import headcount, without_headcount
from bot.flows.layoffs import Layoffs, layoffs_told, limit_for
from bot.messages import Button, Reply
from core.clock import today_local
from policy_kb.kb import ENTERPRISE_SCALES, fits
from policy_kb.schema import NEEDS, SCALES, Policy, Profile
from policy_kb.search import Hit

QUESTIONS = ("scale", "taxpayer_type", "need")
DOC_WORDS = ("文号", "依据", "哪个文件", "什么文件", "政策文件")
VALIDITY_WORDS = ("有效期", "到啥时候", "到什么时候", "执行到", "截止", "到期", "什么时候结束", "还有效", "今年还有",
                  "现在还有", "今年还能", "还在执行", "还能用")
# "我是退役军人" to a narrowing question says who is asking, not which policy (招用退役士兵税收扣减 is an employer's).
GENERIC_WORD_CHARS = 2  # a follow-up whose core is this short ("申报", "认定") names no item, only an act
SELF_DESCRIBED = re.compile(r"^(?:我|我们|本人)(?:是|属于|算)")
PROFILE_ENTITIES = frozenset({"enterprise_scale", "taxpayer_type", "industry", "policy_domain"})
# "制造业也是100%吗", "那餐饮业呢": whether the policy in context applies to an enterprise like this.
APPLIES_WORDS = ("吗", "呢", "能不能", "可不可以", "可以不", "行不行", "适用", "享受", "能用", "也是", "也能", "也可以",
                 "也行")
WHO_ENTITIES = frozenset({"enterprise_scale", "taxpayer_type", "industry"})
PROFILE_WHO = ("scale", "taxpayer_type", "industry")  # the profile fields that say who the enterprise is
QUALIFY_WORDS = ("能享受", "能不能享受", "可以享受", "可不可以享受", "能申请吗", "可以申请吗", "符合吗", "符合条件吗",
                 "够条件吗", "能拿吗", "能拿到吗", "能领吗", "能不能拿", "能不能领", "有份吗")
# What only a service item has (online handling, a pre-check, a booking): a message read as one of these is about
# an item even when it shares words with a policy. ("高新技术企业认定要多久" names the policy: it says it has no
# time limit of its own and how it is applied for.)
ITEM_ONLY_INTENTS = frozenset({"ask_online", "precheck", "book_appointment", "request_assisted_service"})
FOLLOW_UPS = {"ask_process": "how", "ask_materials": "materials", "ask_location": "window", "ask_conditions": "who",
              "ask_time_limit": "time"}
# A policy named with one of these asks that of it ("稳岗补贴怎么申请" reads as ask_policy).
FOLLOW_UP_WORDS = {"how": ("怎么申请", "如何申请", "咋申请", "怎么申报", "如何申报", "咋申报", "怎么办理", "如何办理",
                           "申请流程", "怎么享受", "如何享受"),
                   "materials": ("什么材料", "哪些材料", "啥材料", "材料清单"),
                   "window": ("在哪办", "去哪办", "到哪办", "哪里办", "在哪申请", "去哪申请", "在哪申报", "去哪申报")}
# Answers that narrow nothing: the question is skipped ("有哪些" to "最想了解哪方面": all of them).
SKIP = frozenset({"跳过", "不知道", "不清楚", "都行", "随便", "有哪些", "都有哪些", "都有啥", "有啥", "都看看", "全部",
                  "都要", "都想了解", "都可以"})
SCALE_WORDS: dict[str, str] = {"小型微利": "小型", **{s: s for s in SCALES}}
DOMAIN_NEEDS = {"减税降费": "减税", "金融财税": "贷款", "就业服务": "招工", "社会保障": "社保", "招商引资": "奖励",
                "工业发展": "补贴", "节能减排": "补贴"}
# A headcount in a question is the enterprise's size when it speaks of the enterprise, not of people hired.
STAFF_SIZE = re.compile(r"我们|厂里|公司|单位|企业|店里|总共|一共|规模")
BARE_HEADCOUNT = re.compile(r"^(?:那|那要是|要是|如果|假如)?\s*(?:[0-9]+|[一二两三四五六七八九十百千]+)\s*(?:多|来)?\s*"
                            r"(?:个|名)?\s*人(?:呢|的话|行吗|可以吗|能享受吗)?[?？]*$")
HIRING = re.compile(r"招|雇|聘|裁|新增|吸纳")
HEADCOUNT_SCALES = ((20, "微型"), (300, "小型"), (1000, "中型"), (float("inf"), "大型"))
LIST_SIZE = 5
# "2 怎么申请": the least confidence of the follow-up intent behind choose_option for it to count as asked.
FOLLOW_UP_AFTER_NUMBER = 0.1
# A policy is named when its match is confident and this far ahead of the next confident one, or this good
# (its name, nearly word for word: "2022年小规模纳税人免征增值税" beside the current 小规模纳税人减免).
NAMED_MARGIN = 0.1
NAMED_OUTRIGHT = 0.95
# A year in the message ("2022年小规模纳税人免征增值税"): a policy that has ended may be the one asked about.
YEAR = re.compile(r"20[0-9]{2}")
# The mark on a local example policy's title: it is named only when its title is typed.
SAMPLE_MARK = re.compile(r"[（(]示例[）)]")
SAMPLE_WORD_CHARS = 4  # a keyword this long, said as it is, names a local example policy (应急转贷, 专精特新)
# "小微企业有什么减税政策": asks for the policies an enterprise like this has, not about the one policy whose name
# holds its description (小型微利企业所得税优惠).
LIST_QUESTION = re.compile(r"(?:有什么|有哪些|有啥|哪些)[^，,。？?]{0,6}(?:政策|优惠|补贴|扶持|支持|减免|奖励|好处)")


class PolicyFlow(Flow):
    """One enterprise's policy questions: its profile is remembered for the session."""

    name = "policy"
    intents = frozenset({"ask_policy"})

    def window_hint(self, ctx: TurnContext) -> str | None:
        """Policy questions go to the 惠企政策 window."""
        return POLICY_WINDOW

    def wants(self, ctx: TurnContext) -> bool:
        """An answer to the question asked, a listed number, or a follow-up on the policy in context."""
        slots = ctx.session.slots_of(self.name)
        if slots.get("asking") and (ctx.text in SKIP or self._answer_value(ctx, slots["asking"]) is not None
                                    or any(e.entity in PROFILE_ENTITIES for e in ctx.parse.entities)):
            return True  # an answer, or an earlier one corrected ("不对，我们是一般纳税人")
        if slots.get("asking") and _asks_of_a_policy_not_found_yet(ctx):
            return True  # "怎么申请" before any policy is listed
        if ctx.text in slots.get("listed", {}) or (ctx.text in MORE_WORDS and slots.get("more")):
            return True
        if self._asked_of_listed(ctx, slots) is not None:
            return True
        if slots.get("policy") and (_asks_about(ctx) is not None or _asks_if_it_applies(ctx)
                                    or _asks_if_we_qualify(ctx) or _layoffs_of_context(ctx, slots) is not None):
            return True
        if slots.get("listed") and _describes_who(ctx):
            return True  # "不对，我们是一般纳税人" or "那中型企业呢" after the list: the list again, for that
        current = ctx.services.kb.current.policies.get(slots.get("policy", ""))
        if current is not None and current.eligibility.staff and _bare_headcount(ctx) is not None:
            return True  # "那200人呢" of a policy capped by headcount
        asks_of_it = ctx.parse.intent in FOLLOW_UPS or _follow_up_named(ctx.text) is not None
        return bool(current or slots.get("listed")) and asks_of_it and not _names_an_item(ctx, current)

    def answers(self, ctx: TurnContext) -> bool:
        """"不知道" to a narrowing question skips it; it is no request for the help menu. "那要是裁了4个呢" about
        稳岗返还 is no goodbye.
        """
        slots = ctx.session.slots_of(self.name)
        return (bool(slots.get("asking")) and ctx.text in SKIP) or _layoffs_of_context(ctx, slots) is not None

    def names_better(self, ctx: TurnContext) -> bool:
        """"创业担保贷款要什么材料", "高新技术企业15%": a message another flow would take names a policy outright and no
        item as well.
        """
        if ctx.parse.intent in ITEM_ONLY_INTENTS or ctx.parse.intent in NOT_QUESTIONS:
            return False  # "多久办好", "预约": asked of items; "稳岗返还跑了两趟办不了": a complaint
        if _asks_for_its_policies(ctx):
            # "我们公司80人一般纳税人 有什么补贴" (公司 names 企业设立登记 and 企业简易注销 a little), unless the
            # message only names an item
            items = ctx.search(ctx.text, ["item", "bundle"], limit=1)
            return not items or not ctx.services.kb.current.names_only(ctx.text, items[0])
        hit = _named_policy(ctx)
        if hit is None or hit.score < NAMED_OUTRIGHT:
            return False
        items = ctx.search(ctx.text, ["item", "bundle"], limit=1)
        return not items or items[0].score < hit.score - NAMED_MARGIN

    def claims(self, ctx: TurnContext) -> bool:
        """A message that names a policy ("研发费用加计扣除比例是多少") is a policy question; so is one that describes
        the enterprise ("小微 一般纳税人 想了解贷款": two of scale, taxpayer type, industry and what it wants).
        """
        return _describes_enterprise(ctx) or _asks_for_its_policies(ctx) or _named_policy(ctx) is not None

    async def handle(self, ctx: TurnContext) -> list[Reply]:
        """Answer a profile question, a follow-up, a named policy, or start narrowing."""
        kb = ctx.services.kb.current
        slots = ctx.slots
        profile: dict[str, Any] = slots.setdefault("profile", {})
        listed: dict[str, str] = slots.get("listed", {})
        if ctx.text in listed:
            return self._detail(ctx, kb.policies[listed[ctx.text]])
        known_who = {k: str(v) for k, v in profile.items() if k in PROFILE_WHO and v not in (None, "skip")}
        asked = self._asked_of_listed(ctx, slots)
        if asked is not None:
            policy, what = kb.policies[asked[0]], asked[1]
            ctx.slots["policy"] = policy.id
            if what is None and known_who and _asks_if_we_qualify(ctx):  # "3 我们能享受吗"
                return [Reply(self._applies(ctx, policy, known_who))]
            return self._follow_up(ctx, policy, what) if what else self._detail(ctx, policy)
        if ctx.text in MORE_WORDS and slots.get("more"):
            return self._page(ctx, [kb.policies[i] for i in slots.pop("more") if i in kb.policies], len(listed))
        asking = slots.pop("asking", None)
        if asking and _asks_of_a_policy_not_found_yet(ctx):
            # "怎么申请" half-way through the narrowing: each policy listed says how; the question stands
            return [Reply(ctx.texts.get("policy_asked_before_list")), *self._next(ctx, profile)]
        if asking:
            value = None if ctx.text in SKIP else self._answer_value(ctx, asking)
            if value is None and ctx.text not in SKIP and not SELF_DESCRIBED.match(ctx.text) and \
                    not _describes_who(ctx) and (named := _named_policy(ctx)) is not None:
                # "研发费用加计扣除" to "最想了解哪方面": that policy, not a list with it somewhere in it
                return self._detail(ctx, kb.policies[named.key])
            if value is None and ctx.text not in SKIP:
                before = dict(profile)
                self._profile_from_entities(ctx, profile)
                changed = [str(v) for k, v in profile.items() if before.get(k) != v]
                # "不对，我们是一般纳税人": an earlier answer corrected; "我们是小规模纳税人" to the size question:
                # noted. Either way the question still stands.
                key = "policy_corrected" if any(before.get(k) not in (None, "skip") for k in profile
                                                if before.get(k) != profile[k]) else "policy_noted"
                if changed:
                    return [Reply(ctx.texts.get(key, value="、".join(changed))), *self._next(ctx, profile)]
            profile[asking] = value if value is not None else "skip"
            return self._next(ctx, profile)
        current = kb.policies.get(slots.get("policy", ""))
        hit = _named_policy(ctx)
        asked_of = kb.policies[hit.key] if hit is not None else current
        told = layoffs_told(ctx.text, slots.get("staff")) \
            if asked_of is not None and asked_of.eligibility.layoffs else None
        if asked_of is not None and told is not None:  # "去年裁了两个人，总共25个人，还能拿吗" of 稳岗返还
            slots["policy"] = asked_of.id
            if told.staff:
                slots["staff"] = told.staff  # for "那要是裁了4个呢" next
            return [Reply(_layoffs_answer(ctx, asked_of, told))]
        people = (_staff_headcount(ctx) or _bare_headcount(ctx)) \
            if asked_of is not None and asked_of.eligibility.staff else None
        if asked_of is not None and people is not None:  # "那我们35个人呢" of 残疾人就业保障金: over its 30
            slots["policy"] = asked_of.id
            return [Reply(_staff_answer(ctx, asked_of, people))]
        about = _asks_about(ctx)
        if current is not None and about is not None:  # "那文号是啥", "执行到啥时候", "能贷多少"
            return [Reply(self._fact(ctx, current, about))]
        if current is not None and (hit is None or hit.key == current.id) and _asks_if_it_applies(ctx):
            return [Reply(self._applies(ctx, current))]
        if current is not None and hit is None and _asks_if_we_qualify(ctx):
            # "裁员率4%多，能拿吗" of 稳岗返还: who it is for and its conditions, for the enterprise told if any
            return [Reply(self._applies(ctx, current, known_who))]
        if hit is not None and hit.score >= NAMED_OUTRIGHT and known_who and _asks_if_we_qualify(ctx):
            # "小型微利企业所得税我们能享受吗" from a 个体户: answered for the enterprise told before (小型 is the
            # policy's name here, not a new description)
            policy = kb.policies[hit.key]
            ctx.slots["policy"] = policy.id
            return [Reply(self._applies(ctx, policy, known_who))]
        if listed and _describes_who(ctx):
            before = dict(profile)
            self._profile_from_entities(ctx, profile)
            changed = [str(v) for k, v in profile.items() if before.get(k) != v]
            if changed:
                slots.pop("more", None)
                return [Reply(ctx.texts.get("policy_refiltered", value="、".join(changed))), *self._list(ctx, profile)]
        follow_up = FOLLOW_UPS.get(ctx.parse.intent) or _follow_up_named(ctx.text)
        if current is not None and follow_up is not None and hit is None:
            return self._follow_up(ctx, current, follow_up)
        if listed and ctx.parse.intent in FOLLOW_UPS and hit is None:  # "怎么申请" to a list: which one?
            return [Reply(ctx.texts.get("policy_pick_first"))]
        if listed and hit is None and _asks_if_we_qualify(ctx):
            # "我们能享受吗" to a list: it was filtered by what they said; each policy's own terms are in its details
            return [Reply(ctx.texts.get("policy_list_qualify", profile=_label(profile)))]
        if hit is not None:  # "稳岗补贴怎么申请": what is asked of it, else its details
            asked_of_it = FOLLOW_UPS.get(ctx.parse.intent) or _follow_up_named(ctx.text)
            return self._follow_up(ctx, kb.policies[hit.key], asked_of_it or "who")
        if not listed and current is None and _for_people(ctx):
            # "高龄补贴咋申请": a benefit for people, not an enterprise's; asking its 企业规模 would only confuse
            await ctx.services.gaps.record(ctx.text, "policy")
            return [Reply(ctx.texts.get("policy_for_people", name=kb.core(ctx.text)),
                          buttons=(Button(ctx.texts.get("button_person"), "转人工"),))]
        self._profile_from_entities(ctx, profile)
        replies = self._next(ctx, profile)
        if not slots.get("introduced") and "asking" in slots:  # "先确认几点" only before a question
            replies.insert(0, Reply(ctx.texts.get("policy_intro")))
        slots["introduced"] = True
        return replies

    @staticmethod
    def _asked_of_listed(ctx: TurnContext, slots: dict[str, Any]) -> tuple[str, str | None] | None:
        """("2", "6 怎么申请") the listed policy the message picks by the number the list gave it, on this page or
        an earlier one, and what it asks of it (a FOLLOW_UPS value; None: its details); None when the message
        does not start with a listed policy's number.
        """
        picked = leading_choice(ctx.text)
        policy_id = slots.get("numbers", {}).get(str(picked[0])) if picked is not None else None
        if picked is None or policy_id not in ctx.services.kb.current.policies:
            return None
        if not picked[1]:
            return policy_id, None
        # The number reads as choose_option; what is asked of the choice is the best follow-up intent after it.
        asked = next((intent for intent, confidence in ctx.parse.ranking
                      if intent in FOLLOW_UPS and confidence >= FOLLOW_UP_AFTER_NUMBER), ctx.parse.intent)
        return policy_id, FOLLOW_UPS.get(asked)

    def _profile_from_entities(self, ctx: TurnContext, profile: dict[str, Any]) -> None:
        who = _who_said(ctx)
        if "scale" in profile and "scale" not in _who_named(ctx):
            who.pop("scale", None)  # a headcount does not change a size told before
        profile.update(who)
        for entity in ctx.parse.entities:
            if entity.entity == "policy_domain" and entity.value in DOMAIN_NEEDS:
                profile["need"] = DOMAIN_NEEDS[entity.value]
                said = ctx.text[entity.start:entity.end]
                if not any(need in said for need in NEEDS):  # "节能减排" names an area; "贷款" only what they want
                    profile["domain"] = entity.value  # "节能减排方面有啥补贴": that area's, not every 补贴
        if "need" not in profile:  # "个体户有啥补贴"
            need = next((n for n in NEEDS if n in ctx.text), None)
            if need is not None:
                profile["need"] = need

    def _answer_value(self, ctx: TurnContext, field: str) -> str | None:
        text = ctx.text
        if field == "scale":
            found = [e.value for e in ctx.parse.entities if e.entity == "enterprise_scale"]
            value = SCALE_WORDS.get(found[0]) if found else SCALE_WORDS.get(text)
            people = headcount(text) if value is None else None
            return _scale_by_headcount(people) if people is not None else value
        if field == "taxpayer_type":
            found = [e.value for e in ctx.parse.entities if e.entity == "taxpayer_type"]
            return found[0] if found else (text if text in ("小规模纳税人", "一般纳税人") else None)
        return next((n for n in NEEDS if n in text), None)

    def _next(self, ctx: TurnContext, profile: dict[str, Any]) -> list[Reply]:
        for field in QUESTIONS:
            if field not in profile:
                ctx.slots["asking"] = field
                return [Reply(ctx.texts.get(f"policy_ask_{field}"),
                              buttons=menu_buttons(ctx.texts.menu(f"policy_{field}")))]
        return self._list(ctx, profile)

    def _list(self, ctx: TurnContext, profile: dict[str, Any]) -> list[Reply]:
        kb = ctx.services.kb.current
        known = {k: v for k, v in profile.items() if v not in (None, "skip")}
        eligible = kb.eligible(Profile(scale=known.get("scale"), taxpayer_type=known.get("taxpayer_type"),
                                       industry=known.get("industry"),
                                       needs=(known["need"],) if known.get("need") else ()), today_local())
        # What they want to know about: only those, when any offer it; in an area named ("节能减排方面有啥补贴"),
        # that area's policies, those offering it first
        wanted = [p for p in eligible if known["need"] in p.needs] if known.get("need") else []
        in_area = [p for p in eligible if p.domain == known["domain"]] if known.get("domain") else []
        eligible = sorted(in_area, key=lambda p: p not in wanted) if in_area else (wanted or eligible)
        label = _label(profile)
        if not eligible:
            return [Reply(ctx.texts.get("policy_none", profile=label))]
        ctx.slots["listed"], ctx.slots["numbers"] = {}, {}
        return self._page(ctx, eligible, 0, head=ctx.texts.get("policy_list", profile=label))

    def _page(self, ctx: TurnContext, policies: list[Policy], shown_before: int,
              head: str | None = None) -> list[Reply]:
        """The next LIST_SIZE policies, numbered on from the previous page; the rest waits for "更多"."""
        page, rest = policies[:LIST_SIZE], policies[LIST_SIZE:]
        lines = [head] if head else []
        # A policy without a 文号 is listed without one (its details say where to look).
        lines += [ctx.texts.get("policy_list_line", n=i, title=p.title, benefit=p.benefit, doc=p.doc_no) if p.doc_no
                  else ctx.texts.get("policy_list_line_no_doc", n=i, title=p.title, benefit=p.benefit)
                  for i, p in enumerate(page, shown_before + 1)]
        lines.append(ctx.texts.get("policy_list_footer"))
        if rest:
            ctx.slots["more"] = [p.id for p in rest]
            lines.append(ctx.texts.get("more", count=len(rest)))
        ctx.slots.setdefault("listed", {}).update({p.title: p.id for p in page})
        ctx.slots.setdefault("numbers", {}).update({str(n): p.id for n, p in enumerate(page, shown_before + 1)})
        # Numbered on from the page before, so "6" picks what the text calls 6.
        buttons = tuple(Button(p.title, p.title, number=n if shown_before else None)
                        for n, p in enumerate(page, shown_before + 1))
        return [Reply("\n".join(lines), buttons=buttons)]

    def _detail(self, ctx: TurnContext, policy: Policy) -> list[Reply]:
        ctx.slots["policy"] = policy.id
        today = today_local()
        if policy.expired(today) and policy.valid_until is not None:
            end = policy.valid_until
            return [Reply(ctx.texts.get("policy_expired", title=policy.title,
                                        date=f"{end.year}年{end.month}月{end.day}日"))]
        validity = (f"至{policy.valid_until.year}年{policy.valid_until.month}月{policy.valid_until.day}日"
                    if policy.valid_until else ctx.texts.get("policy_long_term"))
        lines = [ctx.texts.get("policy_detail", title=policy.title, benefit=policy.benefit or policy.summary),
                 ctx.texts.get("policy_detail_basis", doc=_doc(ctx, policy)),
                 ctx.texts.get("policy_detail_valid", validity=validity)]
        who = _who(ctx, policy)
        if who:
            lines.append(ctx.texts.get("policy_detail_who", who=who))
        lines.append(ctx.texts.get("policy_detail_footer"))
        return [Reply("\n".join(lines), buttons=menu_buttons(ctx.texts.menu("policy_follow_ups")))]

    @staticmethod
    def _fact(ctx: TurnContext, policy: Policy, about: str) -> str:
        """The policy's 文号, validity or what it gives, asked about on its own."""
        if about == "doc":
            return ctx.texts.get("policy_fact_doc", title=policy.title, doc=_doc(ctx, policy))
        if about == "benefit":
            return ctx.texts.get("policy_fact_benefit", title=policy.title, benefit=policy.benefit or policy.summary)
        end = policy.valid_until
        validity = f"{end.year}年{end.month}月{end.day}日" if end else None
        if validity is None:
            return ctx.texts.get("policy_fact_long_term", title=policy.title)
        key = "policy_fact_expired" if policy.expired(today_local()) else "policy_fact_until"
        return ctx.texts.get(key, title=policy.title, date=validity)

    @staticmethod
    def _applies(ctx: TurnContext, policy: Policy, said: dict[str, str] | None = None) -> str:
        """"制造业也是100%吗", "那餐饮业呢": whether the policy is for an enterprise like the one the message
        describes (or `said`: the one told before), with what it gives and the conditions left to meet, or who it
        is for instead.
        """
        texts = ctx.texts
        said = said if said is not None else _who_said(ctx)
        described = "、".join(_shown(value, field) for field, value in said.items())
        if not described:
            who, benefit = _who(ctx, policy) or texts.get("policy_for_anyone"), policy.benefit or policy.summary
            return texts.get("policy_fact_applies", title=policy.title, who=who, benefit=benefit)
        if not fits(policy, Profile(**said)):
            # "住宿和餐饮业不在…适用范围内": what rules it out, not every detail told (小型企业、小规模纳税人 fit)
            ruling_out = {field: value for field, value in said.items() if not fits(policy, Profile(**{field: value}))}
            asked = "、".join(_shown(value, field) for field, value in ruling_out.items()) or described
            return texts.get("policy_applies_no", asked=asked, title=policy.title, who=_who(ctx, policy))
        text = texts.get("policy_applies_yes", asked=described, title=policy.title,
                         benefit=policy.benefit or policy.summary)
        if policy.eligibility.other:
            text += "\n" + texts.get("policy_applies_other", other="；".join(policy.eligibility.other))
        return text

    def _follow_up(self, ctx: TurnContext, policy: Policy, what: str) -> list[Reply]:
        """What is asked of the policy (how to apply, materials, window), with the same buttons as its details so
        that "2" after "1" still picks one; else its details."""
        texts = ctx.texts
        if what == "how":
            text = texts.get("policy_how", title=policy.title, text=policy.how_to_apply or policy.summary)
        elif what == "materials":
            listed = [texts.get("policy_materials", title=policy.title), *(f"• {m}" for m in policy.materials)]
            text = "\n".join(listed) if policy.materials else texts.get("policy_no_materials", title=policy.title)
        elif what == "window":
            text = texts.get("policy_window", title=policy.title, window=policy.window or "惠企政策综合窗口")
        elif what == "time":  # "要多久": a policy has no promised time limit as an item does; how it is applied for
            text = texts.get("policy_time", title=policy.title, how=policy.how_to_apply or policy.summary)
        else:
            return self._detail(ctx, policy)
        return [Reply(text, buttons=menu_buttons(texts.menu("policy_follow_ups")))]


def _asks_about(ctx: TurnContext) -> str | None:
    """"doc" for a question about the 文号, "valid" for one about how long the policy runs, "benefit" for one
    about how much it gives ("能贷多少", "比例是多少", "利息呢") that names no item and no other policy outright;
    else None.
    """
    text = ctx.text
    if any(word in text for word in DOC_WORDS):
        return "doc"
    if any(word in text for word in VALIDITY_WORDS):
        return "valid"
    if not any(word in text for word in ctx.texts.words("policy_amount")):
        return None
    if ctx.best(text, ["item", "bundle"]) is not None:
        return None  # "社保卡补办要多少钱": the item's fee
    other = _named_policy(ctx)
    current = ctx.session.slots_of("policy").get("policy")
    return "benefit" if other is None or other.key == current or other.score < NAMED_OUTRIGHT else None


def _asks_of_a_policy_not_found_yet(ctx: TurnContext) -> bool:
    """"怎么申请", "要什么材料" while the narrowing questions are asked: a follow-up with no policy to ask it of, that
    names no item and no policy.
    """
    follow_up = ctx.parse.intent in FOLLOW_UPS or _follow_up_named(ctx.text) is not None
    return follow_up and not ctx.session.slots_of("policy").get("policy") and _named_policy(ctx) is None \
        and ctx.best(ctx.text, ["item", "bundle"]) is None


def _names_an_item(ctx: TurnContext, policy: Policy | None) -> bool:
    """Whether the message names an item or bundle, not counting a word the policy in context uses itself ("认定要啥
    条件" of 高新技术企业认定 is not 门诊慢特病待遇认定; "怎么申报" of 加计扣除 is not 存量房交易税费申报).
    """
    hit = ctx.best(ctx.text, ["item", "bundle"])
    if hit is None:
        return False
    kb = ctx.services.kb.current
    core = kb.core(ctx.text)
    if len(core) <= GENERIC_WORD_CHARS and not kb.is_the_title_of(ctx.text, hit):
        return False  # "怎么申报" of 稳岗返还: a bare verb, not 存量房交易税费申报
    words = "".join([policy.title, policy.summary, policy.how_to_apply, *policy.keywords]) if policy else ""
    return not (core and core in words)


def _follow_up_named(text: str) -> str | None:
    """The FOLLOW_UPS value a question names in words ("怎么申请" → how), whatever the classifier read."""
    return next((what for what, words in FOLLOW_UP_WORDS.items() if any(word in text for word in words)), None)


def _for_people(ctx: TurnContext) -> bool:
    """Whether the message asks about a benefit for people (高龄补贴, 低保) and says nothing of an enterprise."""
    return any(mark in ctx.text for mark in ctx.texts.words("for_people")) and not _describes_who(ctx) \
        and not STAFF_SIZE.search(ctx.text)


def _label(profile: dict[str, Any]) -> str:
    """What the list was filtered by, in words ("小型·一般纳税人·减税"), or "不限条件"; a want the area named says
    already is not said twice ("减税降费", not "减税·减税降费").
    """
    said = [str(v) for v in profile.values() if v not in (None, "skip")]
    return "·".join(v for v in said if not any(v != other and v in other for other in said)) or "不限条件"


def _layoffs_of_context(ctx: TurnContext, slots: dict[str, Any]) -> Layoffs | None:
    """The layoff rate a message tells of the policy in context, when that policy limits it."""
    policy = ctx.services.kb.current.policies.get(slots.get("policy", ""))
    if policy is None or policy.eligibility.layoffs is None:
        return None
    return layoffs_told(ctx.text, slots.get("staff"))


def _layoffs_answer(ctx: TurnContext, policy: Policy, told: Layoffs) -> str:
    """Whether the 裁员率 told is within the policy's limit, worked out ("约 8%（2÷25）"), with what the policy
    gives and its other conditions when it is.
    """
    texts = ctx.texts
    rule = policy.eligibility.layoffs
    assert rule is not None
    limit, small = limit_for(rule, told)
    shown = f"{told.percent:g}%" + (f"（{told.laid_off}÷{told.staff}）" if told.staff else "")
    limit_text = texts.get("policy_layoffs_small_limit", staff=rule.small_firm_staff, percent=f"{limit:g}") \
        if small else texts.get("policy_layoffs_limit", percent=f"{limit:g}")
    if told.percent > limit:
        return texts.get("policy_layoffs_over", told=shown, limit=limit_text, title=policy.title)
    text = texts.get("policy_layoffs_within", told=shown, limit=limit_text, title=policy.title,
                     benefit=policy.benefit or policy.summary)
    # the other conditions still to meet: not the layoff ones just checked, nor who else it extends to (参照实施)
    others = [c for c in policy.eligibility.other if "裁员" not in c and "参照" not in c]
    return text + ("\n" + texts.get("policy_applies_other", other="；".join(others)) if others else "")


def _staff_answer(ctx: TurnContext, policy: Policy, people: int) -> str:
    """Whether the headcount told is within the policy's cap on staff, with what is got within it (and the
    other conditions to meet), or what is left over it.
    """
    texts = ctx.texts
    rule = policy.eligibility.staff
    assert rule is not None
    told = {"people": people, "counted": rule.counted, "most": rule.max_staff, "title": policy.title}
    if people > rule.max_staff:
        if not rule.within:
            return texts.get("policy_staff_over", **told)
        text = texts.get("policy_staff_over_part", gets=rule.within, **told)
        return text + (texts.get("policy_staff_over_rest", rest=rule.over) if rule.over else "")
    text = texts.get("policy_staff_within", gets=rule.within or policy.benefit or policy.summary, **told)
    # the other conditions still to meet, not the headcount just checked
    others = [c for c in policy.eligibility.other if "人数" not in c and "人（含）" not in c]
    return text + ("\n" + texts.get("policy_applies_other", other="；".join(others)) if others else "")


def _asks_if_we_qualify(ctx: TurnContext) -> bool:
    """"我们能享受吗", "我们符合吗": whether the enterprise told about qualifies for the policy named."""
    return any(word in ctx.text for word in QUALIFY_WORDS)


def _asks_if_it_applies(ctx: TurnContext) -> bool:
    """Whether the message asks if the policy applies to an enterprise it describes ("个体户也可以吗"); telling how
    many people it has ("我们去年营收3000万，60个人") is asking that too.
    """
    if _staff_headcount(ctx) is not None and not LIST_QUESTION.search(ctx.text):
        return True  # (not "厂里50个人，有啥政策": that asks for a list)
    return any(e.entity in WHO_ENTITIES for e in ctx.parse.entities) and any(w in ctx.text for w in APPLIES_WORDS)


def _who(ctx: TurnContext, policy: Policy) -> str:
    """The policy's eligibility in words ("小型、微型、一般纳税人、…"), then the industries it is not for; empty when
    it is for any enterprise. Every enterprise size is said as "各类企业（不含个体工商户）", not as a list of four.
    """
    rules = policy.eligibility
    scales = [ctx.texts.get("policy_who_any_enterprise")] if set(rules.scales) >= ENTERPRISE_SCALES \
        else list(rules.scales)
    who = "、".join([*scales, *rules.taxpayer_types, *rules.industries])
    if rules.other:  # conditions, each a clause of its own: "足额缴纳失业保险费12个月以上；上年度未裁员或…"
        who += ("；" if who else "") + "；".join(rules.other)
    if rules.excluded_industries:
        who += ("；" if who else "") + "不适用于" + "、".join(rules.excluded_industries)
    return who


def _scale_by_headcount(people: int) -> str:
    """"我们二十几个人" → 小型: the size by the number of staff, on the thresholds for industry (工信部联企业
    〔2011〕300号: under 20 微型, under 300 小型, under 1000 中型); other sectors' are close enough to narrow by.
    """
    return next(scale for limit, scale in HEADCOUNT_SCALES if people < limit)


def _who_said(ctx: TurnContext) -> dict[str, str]:
    """The scale, taxpayer type and industry the message describes, as profile fields; the scale may be told by
    a headcount ("厂里50个人" → 小型; not "招了3个人").
    """
    said = _who_named(ctx)
    if "scale" not in said and (people := _staff_headcount(ctx)) is not None:
        said["scale"] = _scale_by_headcount(people)
    return said


def _staff_headcount(ctx: TurnContext) -> int | None:
    """How many people the enterprise has, when the message says ("我们60个人", not "招了3个人")."""
    if STAFF_SIZE.search(ctx.text) and not HIRING.search(ctx.text):
        return headcount(ctx.text)
    return None


def _bare_headcount(ctx: TurnContext) -> int | None:
    """A headcount said alone ("那200人呢", "35个人的话"), asked of the policy in context."""
    return headcount(ctx.text) if BARE_HEADCOUNT.match(ctx.text) else None


def _who_named(ctx: TurnContext) -> dict[str, str]:
    """The scale, taxpayer type and industry the message names in words."""
    said: dict[str, str] = {}
    for entity in ctx.parse.entities:
        if entity.entity == "enterprise_scale" and entity.value in SCALE_WORDS:
            said["scale"] = SCALE_WORDS[entity.value]
        elif entity.entity == "taxpayer_type":
            said["taxpayer_type"] = entity.value
        elif entity.entity == "industry":
            said["industry"] = entity.value
    return said


def _shown(value: str, field: str) -> str:
    """"小型" → "小型企业"; a taxpayer type or an industry as it is."""
    return f"{value}企业" if field == "scale" and not value.endswith("户") else value


def _describes_who(ctx: TurnContext) -> bool:
    """Whether the message tells the enterprise's scale, taxpayer type or industry."""
    return any(e.entity in WHO_ENTITIES for e in ctx.parse.entities)


def _describes_enterprise(ctx: TurnContext) -> bool:
    """Whether the message tells two or more of scale, taxpayer type, industry and what the enterprise wants."""
    return len({e.entity for e in ctx.parse.entities} & PROFILE_ENTITIES) >= 2


def _asks_for_its_policies(ctx: TurnContext) -> bool:
    """Whether the message tells the enterprise's scale, taxpayer type or industry and asks what it can get
    ("我们公司80人一般纳税人 有什么补贴").
    """
    told = {e.entity for e in ctx.parse.entities} & PROFILE_ENTITIES - {"policy_domain"}
    return bool(told) and any(word in ctx.text for word in ctx.texts.words("asks_for_policies"))


def _named_policy(ctx: TurnContext) -> Hit | None:
    """The one policy the message names; None when it names none, or when several fit about as well ("个体户有什么
    优惠政策" matches many a little): that is a question for the narrowing, not about one policy.
    """
    hits = ctx.search(without_headcount(ctx.text), ["policy"], limit=3)
    if not hits or not hits[0].confident:
        return None
    policies = ctx.services.kb.current.policies
    ended = policies[hits[0].key]
    if ended.expired(today_local()) and YEAR.search(ended.title) and not YEAR.search(ctx.text):
        # "小规模纳税人免征增值税": the policy in force now with about the same name, not the 2022 edition that
        # ended (asked by its year, that one). One without a year in its title ended for good ("服务业加计抵减"):
        # it is the one asked about, and says it ended.
        current = [h for h in hits if h.confident and hits[0].score - h.score < NAMED_MARGIN
                   and not policies[h.key].expired(today_local())]
        hits = current[:1] + [h for h in hits if h not in current[:1]] if current else hits
    # A near-exact name is the policy asked about, unless the message describes an enterprise: then the names
    # it shares with several policies (小微, 贷款) are part of the description.
    outright = hits[0].score >= NAMED_OUTRIGHT and not _describes_enterprise(ctx)
    sample = policies[hits[0].key]
    if sample.sample and SAMPLE_MARK.sub("", sample.title) not in ctx.text and \
            not any(len(word) >= SAMPLE_WORD_CHARS and word in ctx.text for word in sample.keywords):
        # "招工有补贴吗": the question is what there is, not the one local example policy it matches; a word of its
        # own said in full ("应急转贷资金怎么申请", "专精特新企业有什么奖补") names it
        return None
    if not outright and len(hits) > 1 and hits[1].confident and 0 <= hits[0].score - hits[1].score < NAMED_MARGIN:
        return None
    if LIST_QUESTION.search(ctx.text) and not _named_beyond_who(ctx, hits[0]):
        return None
    return hits[0]


def _named_beyond_who(ctx: TurnContext, hit: Hit) -> bool:
    """Whether the message still names the policy without the words that describe the enterprise: "小微企业所得税有
    什么优惠" does (所得税), "小微企业有什么减税政策" does not.
    """
    spans = sorted((e.start, e.end) for e in ctx.parse.entities if e.entity in WHO_ENTITIES)
    if not spans:
        return True
    rest, position = [], 0
    for start, end in spans:
        rest.append(ctx.text[position:start])
        position = max(position, end)
    rest.append(ctx.text[position:])
    again = ctx.search("".join(rest), ["policy"], limit=1)
    return bool(again and again[0].confident and again[0].key == hit.key)


def _doc(ctx: TurnContext, policy: Policy) -> str:
    return policy.doc_no or ctx.texts.get("policy_doc_unknown")
