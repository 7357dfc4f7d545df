"""The service-guide conversation (flow `guide`) as a citizen has it, through the HTTP API."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.typedefs import CALENDAR, GAPS
from core.clock import now_local, today_local
from core.settings import Settings
from handoff.calendar import date_in_words
from tests.conftest import Visitor, new_visitor


async def test_materials_then_follow_ups_keep_the_item(visitor: Visitor) -> None:
    first = await visitor.say("二手房过户要带啥")
    assert first["flow"] == "guide"
    text = first["replies"][0]["text"]
    assert text.startswith("【存量房转移登记】需要 7 项材料")
    assert "婚姻状况声明或结婚证（可容缺）" in text and "可先受理、后补交" in text
    assert first["replies"][0]["card"]["code"] == "BDC-0001"
    how_long = await visitor.say("那要多久")
    assert "【存量房转移登记】承诺 5 个工作日" in how_long["replies"][0]["text"]
    where = await visitor.say("在哪办")
    assert "不动产登记窗口" in where["replies"][0]["text"]


async def test_field_buttons_answer_for_the_item_in_context(visitor: Visitor) -> None:
    answer = await visitor.say("办护照")
    assert answer["flow"] == "guide" and answer["replies"][0]["text"].startswith("【普通护照签发")
    titles = [b["title"] for b in answer["replies"][0]["buttons"]]
    assert titles == ["材料清单", "办理时限", "办理地点", "收费标准", "办理流程"]
    for choice, expected in (("1", "项材料"), ("2", "承诺"), ("3", "办理地点"), ("4", "每本120元"), ("5", "办理流程")):
        reply = await visitor.say(choice)
        assert reply["flow"] == "guide" and expected in reply["replies"][0]["text"], (choice, reply)
        assert "普通护照" in reply["replies"][0]["text"]


async def test_ambiguous_question_offers_three_choices_and_remembers_the_question(visitor: Visitor) -> None:
    ask = await visitor.say("公积金怎么取")
    assert ask["replies"][0]["text"] == "您要办理的是："
    options = [b["title"] for b in ask["replies"][0]["buttons"]]
    assert len(options) == 3 and all("公积金提取" in o for o in options)
    chosen = await visitor.say("第二个")
    reply = chosen["replies"][0]["text"]
    assert reply.startswith(f"【{options[1]}】办理流程")  # the question asked before the choice


async def test_a_new_item_replaces_the_context(visitor: Visitor) -> None:
    await visitor.say("二手房过户要带啥")
    other = await visitor.say("那护照收费吗")
    assert "每本120元" in other["replies"][0]["text"]
    again = await visitor.say("要多久")
    assert "普通护照" in again["replies"][0]["text"]


async def test_naming_several_items_of_a_bundle_together_answers_the_bundle(visitor: Visitor) -> None:
    together = await visitor.say("孩子出生了 出生证户口医保能一起办吗")
    assert together["replies"][0]["text"].startswith("【新生儿出生一件事】"), together
    single = await visitor.say("重新开始")
    single = await visitor.say("出生证明怎么办")
    assert single["replies"][0]["text"].startswith("【出生医学证明首次签发】"), single


async def test_bundle_lists_items_and_merged_materials_with_paging(visitor: Visitor) -> None:
    bundle = await visitor.say("开公司要办哪些")
    text = bundle["replies"][0]["text"]
    assert text.startswith("【企业开办】一件事") and "合并后共需" in text and "回复“更多”" in text
    more = await visitor.say("更多")
    assert more["flow"] == "guide" and more["replies"][0]["text"].startswith("13 ")


async def test_question_without_an_item_asks_which_and_then_answers_it(visitor: Visitor) -> None:
    ask = await visitor.say("要带哪些材料啊")
    assert "请问您要办理什么事项" in ask["replies"][0]["text"]
    answer = await visitor.say("社保卡")
    assert answer["replies"][0]["text"].startswith("【社会保障卡申领、补换】需要")


async def test_help_in_the_middle_does_not_lose_the_item(visitor: Visitor) -> None:
    await visitor.say("二手房过户要带啥")
    menu = await visitor.say("帮助")
    assert menu["flow"] == "smalltalk"
    back = await visitor.say("收费吗")
    assert "【存量房转移登记】收费" in back["replies"][0]["text"]


async def test_a_trip_abroad_named_by_its_country_is_offered_the_passport(visitor: Visitor) -> None:
    reply = await visitor.say("下周去新加坡 要办什么证件")
    buttons = [b["title"] for b in reply["replies"][0]["buttons"]]
    assert buttons[0].startswith("普通护照签发"), reply
    answer = await visitor.say("1")
    assert answer["replies"][0]["text"].startswith("【普通护照签发")


async def test_not_this_one_but_another_item_answers_the_other(visitor: Visitor) -> None:
    await visitor.say("公积金购房提取要啥")
    other = await visitor.say("不是这个，我是要租房提取")
    assert other["flow"] == "guide" and other["replies"][0]["text"].startswith("【住房公积金提取（租赁住房）】")
    bare = await visitor.say("不是")  # a bare 不是 names nothing: asked to say more, no record suggested
    assert bare["flow"] == "fallback" and not bare["replies"][0]["buttons"]


async def test_never_mind_then_another_question_leaves_the_complaint_for_it(visitor: Visitor) -> None:
    await visitor.say("我要投诉")
    other = await visitor.say("算了 还是问问社保卡补办")
    assert other["flow"] == "guide" and other["replies"][0]["text"].startswith("【社会保障卡申领、补换】")
    materials = await visitor.say("要带啥")
    assert materials["replies"][0]["text"].startswith("【社会保障卡申领、补换】需要")
    await visitor.say("我要投诉")
    cancelled = await visitor.say("算了")  # the bare command still just cancels
    assert cancelled["flow"] == "smalltalk" and "已取消" in cancelled["replies"][0]["text"]


async def test_a_time_limit_without_a_legal_one_says_only_the_promise(visitor: Visitor) -> None:
    answer = await visitor.say("社保卡补办要多久")
    text = answer["replies"][0]["text"]
    assert text == "【社会保障卡申领、补换】承诺 5 个工作日办结，材料齐全受理后开始计算。", text
    other = await visitor.say("二手房过户要多久")
    assert "个工作日办结（法定 " in other["replies"][0]["text"]


async def test_a_bundle_answers_its_time_limit_place_and_fees(visitor: Visitor) -> None:
    await visitor.say("开公司要办哪些")
    days = await visitor.say("要几天")
    assert days["replies"][0]["text"] == "【企业开办】一件事，材料齐全后承诺 1 个工作日内全部办结。"
    place = await visitor.say("在哪办")
    assert place["replies"][0]["text"].startswith("【企业开办】在县政务服务中心一楼企业开办专区一窗提交")
    fees = (await visitor.say("要花钱吗"))["replies"][0]["text"]
    assert fees.startswith("【企业开办】收费情况：") and "• 公章刻制备案：" in fees
    assert fees.endswith("其他事项不收费。")
    assert "合并后共需" not in days["replies"][0]["text"] + place["replies"][0]["text"] + fees
    materials = await visitor.say("要带啥")
    assert "合并后共需 14 项材料" in materials["replies"][0]["text"]


async def test_a_bare_ok_with_nothing_asked_is_acknowledged(visitor: Visitor) -> None:
    await visitor.say("社保卡补办要带啥")
    for word in ("好的", "嗯", "ＯＫ"):
        ok = await visitor.say(word)
        assert ok["flow"] == "smalltalk" and ok["replies"][0]["text"] == "好的。还有别的需要，随时告诉我。", word
    again = await visitor.say("要多久")  # the item is still the one being discussed
    assert again["replies"][0]["text"].startswith("【社会保障卡申领、补换】承诺")
    nonsense = await visitor.say("阿巴阿巴")
    assert nonsense["flow"] == "fallback"


async def test_the_centres_hours_and_whether_a_day_is_open(client: TestClient, visitor: Visitor) -> None:
    hours = await visitor.say("你们几点下班")
    assert hours["flow"] == "smalltalk"
    assert hours["replies"][0]["text"].startswith("县政务服务中心办公时间：工作日 9:00–12:00、13:30–17:30")
    saturday = await visitor.say("政务中心周六上班不")
    asked = next(e["value"] for e in saturday["nlu"]["entities"] if e["entity"] == "date")
    calendar = client.app[CALENDAR]
    day = date.fromisoformat(asked)
    if calendar.is_workday(day):  # a 调休 Saturday
        expected = f"{date_in_words(day)}是工作日，政务服务中心照常办公。"
    else:
        expected = f"{date_in_words(day)}休息，政务服务中心不办公；最近的工作日是" \
                   f"{date_in_words(calendar.add_working_days(day, 1)[0])}。"
    assert saturday["replies"][0]["text"] == expected
    hall = await visitor.say("办事大厅在哪")
    assert hall["replies"][0]["text"].startswith("县政务服务中心办公时间")
    where = await visitor.say("在哪办")  # no item named: the centre, then which item's window
    texts = [r["text"] for r in where["replies"]]
    assert texts[0].startswith("县政务服务中心办公时间") and texts[-1].startswith("请问您要办理什么事项"), texts
    for question in ("周六能办吗", "星期天可以去办吗"):  # not "which matter": whether the day is open
        weekend = await visitor.say(question)
        day = date.fromisoformat(next(e["value"] for e in weekend["nlu"]["entities"] if e["entity"] == "date"))
        assert weekend["replies"][0]["text"].startswith(date_in_words(day)), weekend
        assert "请问您要办理什么事项" not in weekend["replies"][-1]["text"]
    item_day = await visitor.say("明天能去办社保卡吗")  # the day, then where the item is done
    texts = [r["text"] for r in item_day["replies"]]
    tomorrow = date.fromisoformat(next(e["value"] for e in item_day["nlu"]["entities"] if e["entity"] == "date"))
    assert texts[0].startswith(date_in_words(tomorrow)), texts
    assert texts[1].startswith("【社会保障卡申领、补换】办理地点"), texts


async def test_missing_again_and_again_offers_a_person_not_the_same_words(visitor: Visitor) -> None:
    replies = [(await visitor.say(text))["replies"][0] for text in ("阿巴阿巴", "咕噜咕噜", "嘀嘀嗒嗒", "呜啦啦")]
    assert replies[0]["text"].startswith("抱歉，我没太明白")
    assert replies[1]["text"].startswith("抱歉，我还是没能理解") and len(replies[1]["buttons"]) > 2
    for later in replies[2:]:
        assert later["text"].startswith("这个问题我答不好，建议转给工作人员")
        assert [b["payload"] for b in later["buttons"]] == ["转人工"]


async def test_the_help_menu_s_guide_entry_asks_which_matter(visitor: Visitor) -> None:
    menu = await visitor.say("帮助")
    assert "办事指南" in menu["replies"][-1]["buttons"][1]["title"]
    chosen = await visitor.say("2")  # it showed the menu again
    assert chosen["flow"] == "guide" and chosen["replies"][0]["text"].startswith("请问您要办理什么事项"), chosen


async def test_a_holiday_named_is_answered_with_its_days_off(client: TestClient, visitor: Visitor) -> None:
    calendar = client.app[CALENDAR]
    first, last, provisional = calendar.holiday_period("national_day", today_local()) or (None, None, None)
    assert first is not None and last is not None
    answer = await visitor.say("国庆放几天")
    assert answer["flow"] == "smalltalk", answer
    text = answer["replies"][0]["text"]
    assert f"{date_in_words(first)}至{date_in_words(last)}" in text, text
    assert ("还没有公布" in text) == provisional


async def test_the_centres_address_is_said_where_the_deployment_gives_it(aiohttp_client: Any,
                                                                         settings: Settings) -> None:
    address = "城关镇人民路88号（县行政服务大楼一楼）"
    client = await aiohttp_client(create_app(settings.model_copy(update={"centre_address": address})))
    visitor = await new_visitor(client)
    for question in ("地址在哪", "政务中心地址在哪", "办事大厅怎么走"):
        texts = [r["text"] for r in (await visitor.say(question))["replies"]]
        assert texts[0] == f"县政务服务中心地址：{address}。", (question, texts)
        assert texts[1].startswith("县政务服务中心办公时间"), texts
    hours = await visitor.say("你们几点下班")  # the hours alone
    assert hours["replies"][0]["text"].startswith("县政务服务中心办公时间"), hours
    item = await visitor.say("社保卡在哪办")  # an item's own window, not the centre's address
    assert address not in item["replies"][0]["text"] and "社会保障卡" in item["replies"][0]["text"], item


async def test_whether_it_is_open_now_is_answered_from_the_clock(client: TestClient, visitor: Visitor) -> None:
    answer = await visitor.say("现在还能去办吗")
    calendar = client.app[CALENDAR]
    now = now_local(calendar.tz)
    opening = calendar.next_opening(now)
    text = answer["replies"][0]["text"]
    if opening.date() == now.date() and opening.time() <= now.time():
        assert text.startswith("现在是办公时间"), text
    elif opening.date() == now.date():
        assert text.startswith("现在不在办公时间，今天"), text
    else:
        assert text.startswith(f"今天已经下班了，下次办公是{date_in_words(opening.date())}"), text


async def test_how_to_get_a_business_licence_offers_registering_a_company(visitor: Visitor) -> None:
    choices = await visitor.say("营业执照怎么办")
    titles = [b["title"] for b in choices["replies"][0]["buttons"]]
    assert "企业设立登记（有限责任公司）" in titles and "个体工商户设立登记" in titles, titles


async def test_an_item_named_with_typos_is_asked_about_not_complained_of(client: TestClient) -> None:
    typo = await (await new_visitor(client)).say("社报卡补半")  # the classifier guesses a complaint
    assert typo["flow"] == "guide", typo
    assert "社会保障卡申领、补换" in typo["replies"][0]["text"]
    failed = await (await new_visitor(client)).say("社保卡补办不了")  # says more than the name: a complaint
    assert failed["flow"] == "complaint"


async def test_a_matter_the_guide_lacks_is_said_to_be_missing_not_asked_for_again(client: TestClient) -> None:
    visitor = await new_visitor(client)
    missing = await visitor.say("出租车营运证能帮办代办吗")
    reply = missing["replies"][0]
    assert reply["text"].startswith("抱歉，暂时没有“出租车营运证”的办事指南"), missing
    assert [b["payload"] for b in reply["buttons"]] == ["转人工"]
    assert any(g.example == "出租车营运证能帮办代办吗" for g in await client.app[GAPS].top())
    nothing_named = await visitor.say("要带什么材料")
    assert nothing_named["replies"][0]["text"].startswith("请问您要办理什么事项")
    rephrased = await visitor.say("居住证")  # the question still stands for the matter named next
    assert "【居住证" in rephrased["replies"][0]["text"] and "材料" in rephrased["replies"][0]["text"]


async def test_how_much_an_item_pays_is_its_standard_not_its_fee(visitor: Visitor) -> None:
    await visitor.say("失业金怎么领")
    paid = await visitor.say("能领多少钱")  # not "收费：不收费"
    text = paid["replies"][0]["text"]
    assert text.startswith("【失业保险金申领】待遇标准：") and "最长24个月" in text, paid
    here = await visitor.say("外地户口能在这领吗")  # 户口 in passing: still 失业金, not 户口迁移
    assert here["replies"][0]["text"].startswith("【失业保险金申领】受理条件"), here
    unknown = await visitor.say("公积金租房提取能取多少")  # an item without a standard in the guide says so
    assert unknown["replies"][0]["text"].startswith("办事指南里没有【住房公积金提取（租赁住房）】的金额标准"), unknown
    assert [b["payload"] for b in unknown["replies"][0]["buttons"]] == ["转人工"]


async def test_a_question_while_choosing_keeps_the_choices_and_is_answered_for_the_one_chosen(
        visitor: Visitor) -> None:
    offered = await visitor.say("公积金提取")
    options = [b["title"] for b in offered["replies"][0]["buttons"]]
    again = await visitor.say("要啥材料")  # not "请问您要办理什么事项": the choices stand
    assert again["replies"][0]["text"] == "请先选一下是哪一项，我再告诉您：", again
    assert [b["title"] for b in again["replies"][0]["buttons"]] == options
    chosen = await visitor.say("1")
    assert chosen["replies"][0]["text"].startswith(f"【{options[0]}】需要"), chosen  # its materials


async def test_a_bundle_does_not_ask_for_what_it_makes_or_what_does_not_apply(visitor: Visitor) -> None:
    listed = await visitor.say("新生儿出生一件事要什么材料")
    text = listed["replies"][0]["text"]
    materials = [line.split(" ", 1)[1] for line in text.split("重复的只交一份）：\n", 1)[1].split("\n")
                 if line[:1].isdigit()]
    # 出生医学证明 is issued by the bundle's first item; a newborn has no 身份证 and no old card to hand back
    for not_asked in ("出生医学证明", "居民身份证", "原社会保障卡（视情况提供）"):
        assert not_asked not in materials, (not_asked, text)
    # 父母结婚证 only for married parents: in some situations, not 容缺 for everyone
    tags = ("父母结婚证（视情况提供）", "近期免冠证件照片（窗口现场办理）", "授权委托书及代理人身份证明（视情况提供）")
    for tagged in tags:
        assert tagged in materials, (tagged, text)


async def test_invoices_can_be_applied_for_online_as_their_steps_say(visitor: Visitor) -> None:
    online = await visitor.say("发票能网上领吗")  # its steps and notes say 电子税务局: not "暂不支持网上办理"
    text = online["replies"][0]["text"]
    assert text.startswith("【发票领用（新办纳税人首次申领）】") and "https://etax.chinatax.gov.cn" in text, text
    assert "暂不支持" not in text


async def test_an_offered_item_is_picked_by_describing_it(visitor: Visitor) -> None:
    offered = await visitor.say("公积金提取")
    options = [b["title"] for b in offered["replies"][0]["buttons"]]
    assert "住房公积金提取（购买自住住房）" in options, options
    picked = await visitor.say("我是买房子")  # not "没太明白"
    assert picked["flow"] == "guide", picked
    assert picked["replies"][0]["text"].startswith("【住房公积金提取（购买自住住房）】"), picked


async def test_a_matter_next_to_an_item_is_not_answered_with_it(visitor: Visitor) -> None:
    divorce = await visitor.say("离婚登记要带什么")  # not 结婚登记's materials
    text = divorce["replies"][0]["text"]
    assert "结婚登记" not in text and text.startswith("抱歉，暂时没有“离婚登记”的办事指南"), divorce
    asked = await visitor.say("想问下离婚登记要带啥")
    assert asked["replies"][0]["text"].startswith("抱歉，暂时没有“离婚登记”的办事指南"), asked  # not “下离婚登记”
    pension = await visitor.say("高龄津贴")  # not 职工退休's conditions
    assert pension["replies"][0]["text"].startswith("抱歉，暂时没有“高龄津贴”的办事指南"), pension
    for bare in ("办离婚", "离婚"):  # the matter's name alone: missing, not "没太明白"
        named = await visitor.say(bare)
        assert named["flow"] == "guide" and named["replies"][0]["text"].startswith("抱歉，暂时没有“离婚"), named
    marriage = await visitor.say("结婚登记要带什么")
    assert marriage["replies"][0]["text"].startswith("【内地居民结婚登记】需要"), marriage
    newborn = await visitor.say("上户口要多久")  # a newborn's 出生登记, not 跨省户口迁移
    assert newborn["replies"][0]["text"].startswith("【出生登记（新生儿落户）】"), newborn
    moving = await visitor.say("迁户口要什么材料")
    assert moving["replies"][0]["text"].startswith("【户口迁移（跨省迁入地一站式办理）】"), moving


async def test_several_questions_in_one_message_are_each_answered(visitor: Visitor) -> None:
    asked = await visitor.say("办护照要多久？多少钱？在哪办？")
    texts = [r["text"] for r in asked["replies"]]
    assert len(texts) == 3, texts
    assert "承诺 7 个工作日办结" in texts[0] and "收费：每本120元" in texts[1] and "办理地点" in texts[2], texts
    assert asked["replies"][-1]["buttons"] and not asked["replies"][0]["buttons"]  # one set of buttons, at the end
    one = await visitor.say("社保卡补办要多久")
    assert len(one["replies"]) == 1, one
    # said as people type it: "要钱不" was dropped and only the time limit answered
    both = await visitor.say("社保卡补办要多久 要钱不")
    texts = [r["text"] for r in both["replies"]]
    assert len(texts) == 2 and "工作日" in texts[0] and "收费" in texts[1], texts


async def test_a_follow_up_several_items_match_stays_on_the_one_in_context(visitor: Visitor) -> None:
    await visitor.say("医保报销咋弄，在外地住院的")
    follow = await visitor.say("需要备案吗")  # 备案 is in three items' names: the one being discussed
    assert follow["replies"][0]["text"].startswith("【基本医疗保险跨省异地就医备案】"), follow


async def test_resident_medical_insurance_and_tax_registration_are_their_own_items(visitor: Visitor) -> None:
    fee = await visitor.say("城乡居民医保今年交多少钱")  # not 城乡居民养老保险's
    assert fee["replies"][0]["text"].startswith("【城乡居民基本医疗保险参保缴费】收费"), fee
    where = await visitor.say("在哪交")
    assert where["replies"][0]["text"].startswith("【城乡居民基本医疗保险参保缴费】"), where
    tax = await visitor.say("税务登记怎么弄")  # a new enterprise's 新办纳税人 matters, not 社保登记 or 结婚登记
    assert tax["replies"][0]["text"].startswith("【发票领用（新办纳税人首次申领）】"), tax


async def test_a_matter_the_guide_lacks_is_not_answered_with_the_item_in_context(visitor: Visitor) -> None:
    await visitor.say("公积金租房提取要什么条件")
    for question in ("狗证", "我想问下狗证在哪办"):  # not 公积金's time limit and window
        answer = await visitor.say(question)
        assert answer["replies"][0]["text"].startswith("抱歉，暂时没有“狗证”的办事指南"), (question, answer)
    await visitor.say("公积金租房提取要什么条件")
    same = await visitor.say("那要多久")  # a follow-up naming nothing is still about the item
    assert same["replies"][0]["text"].startswith("【住房公积金提取（租赁住房）】承诺"), same
    aside = await visitor.say("有补贴吗")  # a mark word alone names no other matter
    assert "狗证" not in aside["replies"][0]["text"] and "暂时没有" not in aside["replies"][0]["text"], aside


async def test_what_comes_after_a_step_of_a_bundle_is_the_rest_of_it(visitor: Visitor) -> None:
    for question in ("营业执照办好了，下一步干啥", "执照办好了 下一步干嘛", "营业执照刚下来了，接下来还要办啥"):
        answer = await visitor.say(question)  # not 进度 (no records), not 企业设立登记 again
        text = answer["replies"][0]["text"]
        expected = "【企业设立登记（有限责任公司）】办好后，“企业开办一件事”还有"
        assert answer["flow"] == "guide" and text.startswith(expected), (question, answer)
        assert "公章刻制备案" in text and "企业银行开户预约" in text
    together = await visitor.say("能一起办吗")  # the 企业开办 一件事, not 二手房过户
    assert together["replies"][0]["text"].startswith("【企业开办】一件事"), together
    await visitor.say("营业执照办好了，下一步干啥")
    seal = await visitor.say("1")
    assert seal["replies"][0]["text"].startswith("【公章刻制备案】"), seal
    born = await visitor.say("出生医学证明拿到了，然后呢")
    assert born["replies"][0]["text"].startswith("【出生医学证明首次签发】办好后，“新生儿出生一件事”还有 3 项"), born


async def test_the_assistants_own_words_are_explained_and_the_item_stays(visitor: Visitor) -> None:
    await visitor.say("二手房过户要带啥")
    for question in ("容缺受理是啥意思", "容缺是什么意思"):  # a word the checklist uses: not "没太明白", not the list
        meaning = await visitor.say(question)
        assert meaning["flow"] == "glossary", meaning
        assert meaning["replies"][0]["text"].startswith("容缺受理：主要材料齐全、只差次要材料时，窗口先受理"), meaning
        assert "5 个工作日内" in meaning["replies"][0]["text"]  # YICHUANG_DEFERRED_SUPPLY_DAYS
    still = await visitor.say("要多久")  # the item asked about before is still the one in context
    assert still["replies"][0]["text"].startswith("【存量房转移登记】承诺"), still
    bundle = await visitor.say("啥叫一件事")
    assert bundle["replies"][0]["text"].startswith("“一件事一次办”"), bundle
    check = await visitor.say("预审")  # the word alone is still the request
    assert check["flow"] == "guide" and "材料预审" in check["replies"][0]["text"], check


async def test_someone_lost_is_answered_plainly_and_offered_a_person(visitor: Visitor) -> None:
    await visitor.say("养老金怎么领")
    for message in ("听不懂", "说简单点", "慢点说"):  # not "没太明白"
        plain = await visitor.say(message)
        assert plain["replies"][0]["text"].startswith("不好意思，我说简单点"), (message, plain)
        assert [b["payload"] for b in plain["replies"][0]["buttons"]] == ["转人工"]


async def test_doing_it_all_together_is_the_bundle_of_what_is_discussed(client: TestClient) -> None:
    offered = await new_visitor(client)
    await offered.say("孩子刚生 要办哪些东西")
    together = await offered.say("能一起办吗")  # not the 二手房 bundle, whose alias has 一起办
    assert together["replies"][0]["text"].startswith("【新生儿出生一件事】一件事"), together
    item = await new_visitor(client)
    registered = await item.say("出生登记要带啥")  # 出生登记, not 户口迁移 (落户 is its synonym)
    assert registered["replies"][0]["text"].startswith("【出生登记（新生儿落户）】需要"), registered
    bundle = await item.say("能一起办吗")
    assert bundle["replies"][0]["text"].startswith("【新生儿出生一件事】一件事"), bundle
    alone = await new_visitor(client)
    which = await alone.say("能一起办吗")  # nothing discussed yet: which 一件事, not 二手房过户 by its alias
    text = which["replies"][0]["text"]
    assert which["flow"] == "guide" and not text.startswith("【"), which
    titles = [b["title"] for b in which["replies"][0]["buttons"]]
    assert titles == ["企业开办", "二手房转移登记及水电气网联动过户", "新生儿出生一件事"], which
    chosen = await alone.say("3")
    assert chosen["replies"][0]["text"].startswith("【新生儿出生一件事】一件事"), chosen


async def test_asking_to_hurry_an_item_says_how_not_a_complaint(client: TestClient) -> None:
    visitor = await new_visitor(client)
    await visitor.say("办护照")
    for question in ("能加急吗", "我下周要出国，能快点吗"):  # not the time limit alone, not "没有正在办理的反映"
        hurry = await visitor.say(question)
        text = hurry["replies"][0]["text"]
        assert hurry["flow"] == "guide" and text.startswith("【普通护照签发"), (question, hurry)
        assert "承诺 7 个工作日" in text and "急用" in text and "出示证明" in text, (question, hurry)
    unnamed = await new_visitor(client)
    which = await unnamed.say("能加急吗")
    assert which["replies"][0]["text"].startswith("请问您要办理什么事项"), which
    named = await unnamed.say("居住证")
    assert "急用" in named["replies"][0]["text"], named
    urged = await visitor.say("请尽快处理我的问题")  # a case to hurry (催办), not the passport's time limit
    assert urged["flow"] == "progress", urged


async def test_asking_who_has_to_come_is_answered_from_the_items_guide(client: TestClient) -> None:
    couple = await new_visitor(client)
    await couple.say("结婚登记要带什么")
    for question in ("两个人都要去吗", "必须本人去吗", "能让别人代办吗"):  # not "没太明白", not a 帮办代办 booking
        answer = await couple.say(question)
        text = answer["replies"][0]["text"]
        assert answer["flow"] == "guide" and text.startswith("【内地居民结婚登记】本人到场"), (question, answer)
        assert "双方亲自到婚姻登记机关共同申请" in text and "不能代办" in text, (question, answer)
    family = await new_visitor(client)
    answer = await family.say("社保卡补办能让家里人去办吗")
    text = answer["replies"][0]["text"]
    assert text.startswith("【社会保障卡申领、补换】本人到场") and "监护人" in text, answer
    assert "办事指南没有写明" in text and "0000-" in text, answer  # an adult's proxy: not said; the window's phone
    second_hand = await new_visitor(client)
    answer = await second_hand.say("二手房过户卖方不能到场可以委托吗")
    assert "授权委托书及代理人身份证明" in answer["replies"][0]["text"], answer
    helped = await family.say("能帮我代办吗")  # the centre's own staff: still a 帮办代办 booking
    assert helped["replies"][0]["text"].startswith("帮办代办【社会保障卡申领、补换】"), helped


async def test_a_question_while_a_bundle_is_discussed_means_its_own_item(client: TestClient) -> None:
    newborn = await new_visitor(client)
    await newborn.say("孩子刚出生要办哪些手续")
    asked = (("医保怎么交", "【新生儿参加城乡居民基本医疗保险】"), ("户口怎么上", "【出生登记（新生儿落户）】"))
    for question, item in asked:
        answer = await newborn.say(question)  # not 城乡居民医保缴费, not 跨省户口迁移
        assert answer["replies"][0]["text"].startswith(item), (question, answer)
    claim = await newborn.say("医保怎么报销")  # named clearly: another item, whatever is in context
    assert claim["replies"][0]["text"].startswith("【医疗费用手工（零星）报销】"), claim
    adult = await new_visitor(client)
    alone = await adult.say("医保怎么交")
    assert alone["replies"][0]["text"].startswith("【城乡居民基本医疗保险参保缴费】"), alone


async def test_a_misspelt_material_is_still_ticked_off(visitor: Visitor) -> None:
    await visitor.say("二手房过户预审")
    result = await visitor.say("我有身分证和房本")  # 身分证 is the sellers' and buyers' 身份证明
    text = result["replies"][0]["text"]
    assert "还缺以下材料" in text and "存量房买卖合同" in text, result
    assert "• 买卖双方身份证明" not in text and "• 不动产权证书" not in text, result


async def test_materials_said_with_or_before_the_matter_are_checked_against_its_list(client: TestClient) -> None:
    passport = await new_visitor(client)
    checked = await passport.say("护照 我有身份证")  # the passport's checklist, not the 身份证 item's
    text = checked["replies"][0]["text"]
    assert checked["flow"] == "guide" and "户政" not in text and "出入境" in text, checked
    firm = await new_visitor(client)
    offered = await firm.say("我想开个公司")
    titles = [b["title"] for b in offered["replies"][0]["buttons"]]
    pick = await firm.say("我有身份证和租房合同")  # which matter first: not the 身份证 item
    assert pick["replies"][0]["text"] == "请先选一下是哪一项，我再告诉您：", pick
    assert [b["title"] for b in pick["replies"][0]["buttons"]] == titles, pick
    chosen = await firm.say("企业开办")
    assert "材料预审" in chosen["replies"][0]["text"] and "企业开办" in chosen["replies"][0]["text"], chosen
    named = await (await new_visitor(client)).say("企业开办")  # the bundle's own name: not the policy questions
    assert named["flow"] == "guide" and named["replies"][0]["text"].startswith("【企业开办】一件事"), named


async def test_yes_no_questions_misread_as_online_ones_are_answered(client: TestClient) -> None:
    renew = await new_visitor(client)
    await renew.say("身份证过期了换证")
    hurry = await renew.say("加急能办吗")  # the time limit and how to ask, not the website
    assert "急用" in hurry["replies"][0]["text"] and "http" not in hurry["replies"][0]["text"], hurry
    child = await new_visitor(client)
    await child.say("办护照要多少钱")
    minor = await child.say("小孩也能办吗")  # who may apply, not the website
    assert minor["replies"][0]["text"].startswith("【普通护照签发（首次申请、换发、补发）】受理条件"), minor
    online = await child.say("能网上办吗")  # still the website when it is asked
    assert "http" in online["replies"][0]["text"], online


async def test_maternity_benefits_are_a_matter_the_guide_lacks(visitor: Visitor) -> None:
    asked = await visitor.say("生育津贴咋领")  # not 医疗费用手工（零星）报销
    assert asked["replies"][0]["text"].startswith("抱歉，暂时没有“生育津贴”的办事指南"), asked


async def test_a_part_of_the_bundle_said_done_walks_on_to_the_rest(visitor: Visitor) -> None:
    await visitor.say("新生儿出生一件事")
    done = await visitor.say("出生证明有了")  # not the materials for issuing it
    text = done["replies"][0]["text"]
    assert text.startswith("【出生医学证明首次签发】办好后，“新生儿出生一件事”还有 3 项"), done
    had = await visitor.say("户口本有了")  # a material: still not a step done
    assert not had["replies"][0]["text"].startswith("【"), had


async def test_the_words_of_a_pre_check_are_explained_too(visitor: Visitor) -> None:
    await visitor.say("二手房过户要带啥")
    for question, start in (("预审单号是干啥的", "预审单号："), ("承诺书是啥", "承诺书："), ("啥是网签", "网签：")):
        meaning = await visitor.say(question)  # not "这个问题我答不好"
        assert meaning["flow"] == "glossary" and meaning["replies"][0]["text"].startswith(start), (question, meaning)


async def test_how_much_a_month_is_the_amount_paid(visitor: Visitor) -> None:
    await visitor.say("我要领失业金")
    month = await visitor.say("多少钱一个月")  # what is paid, not the fee (不收费)
    assert "不收费" not in month["replies"][0]["text"] and "失业保险金" in month["replies"][0]["text"], month


async def test_doing_the_bundle_shown_together_is_answered_yes(visitor: Visitor) -> None:
    await visitor.say("开公司要办哪些")
    together = await visitor.say("能一起办吗")  # yes, and how: not the 14-item list again
    text = together["replies"][0]["text"]
    assert text.startswith("可以。【企业开办】这 6 个事项一起办：一次提交材料，一个窗口受理。"), together


async def test_only_near_matches_are_offered_as_choices(visitor: Visitor) -> None:
    offered = await visitor.say("注册公司")
    titles = [b["title"] for b in offered["replies"][0]["buttons"]]
    assert titles == ["企业设立登记（有限责任公司）", "企业开办"], offered  # not 企业简易注销登记


async def test_a_material_not_on_the_checklist_of_the_item_in_context_is_not_needed(visitor: Visitor) -> None:
    await visitor.say("结婚登记要带什么")
    asked = await visitor.say("户口本要带吗")  # was answered with 户口迁移's checklist
    assert asked["replies"][0]["text"] == ("【内地居民结婚登记】的材料清单里没有户口本，不用带。"
                                           "要带的是：双方居民身份证、双方近期半身免冠合影照片。"), asked
    own = await visitor.say("照片要带吗")  # one of its own: needed
    assert own["replies"][0]["text"].startswith("【内地居民结婚登记】的“双方近期半身免冠合影照片”是主要材料"), own
    other = await visitor.say("迁户口要带户口本吗")  # another item named: that item's answer
    assert other["replies"][0]["text"].startswith("【户口迁移"), other


async def test_whether_ones_circumstance_qualifies_stays_on_the_item_in_context(visitor: Visitor) -> None:
    await visitor.say("失业金怎么领")
    quit_job = await visitor.say("我是自己辞职的能领吗")  # was 公积金提取（解除劳动关系）, whose aliases say 辞职
    text = quit_job["replies"][0]["text"]
    assert text.startswith("【失业保险金申领】关于“辞职”"), text
    assert "主动辞职（本人意愿中断就业）不符合领取条件" in text, text
    laid_off = await visitor.say("被辞退的能领吗")
    assert laid_off["replies"][0]["text"].startswith("【失业保险金申领】受理条件："), laid_off
    fund = await visitor.say("辞职了公积金能取吗")  # names 公积金: that item
    assert fund["replies"][0]["text"].startswith("【住房公积金提取（与单位解除劳动关系"), fund


async def test_naming_three_items_of_a_bundle_asks_for_the_bundle(visitor: Visitor) -> None:
    for said in ("孩子刚生 要上户口 还要办医保 社保卡", "出生证、户口、医保能一起办吗"):
        await visitor.say("重新开始")
        answer = await visitor.say(said)  # was only 出生登记, or a choice between it and the bundle
        assert answer["replies"][0]["text"].startswith("【新生儿出生一件事】一件事"), (said, answer)


async def test_an_unsure_reading_does_not_cancel_or_book_what_was_not_asked(visitor: Visitor) -> None:
    await visitor.say("社保卡补办要带啥")
    lost = await visitor.say("旧卡丢了")  # read as 取消: the conversation was dropped ("好的，已取消")
    assert not lost["replies"][0]["text"].startswith("好的，已取消"), lost
    assert any("社会保障卡" in b["title"] for b in lost["replies"][-1]["buttons"]), lost
    called_off = await visitor.say("算了")
    assert called_off["replies"][0]["text"].startswith("好的，已取消"), called_off
    poor = await visitor.say("家里困难 想申请低保")  # read as 帮办代办: a booking nobody asked for
    assert poor["replies"][0]["text"].startswith("【最低生活保障申请】\n实施部门"), poor
    helped = await visitor.say("我腿脚不便 能上门办低保吗")
    assert helped["replies"][0]["text"].startswith("帮办代办【最低生活保障申请】"), helped


async def test_a_word_only_one_of_the_near_matches_has_picks_it(visitor: Visitor) -> None:
    for said, item in (("公积金怎么取出来 我要买房", "住房公积金提取（购买自住住房）"),
                       ("公鸡金怎么提取 我租房的", "住房公积金提取（租赁住房）")):
        await visitor.say("重新开始")
        answer = await visitor.say(said)  # was a choice among three 公积金提取
        assert answer["replies"][0]["text"].startswith(f"【{item}】"), (said, answer)
    await visitor.say("重新开始")
    unsure = await visitor.say("公积金怎么提取")  # nothing tells them apart: asked which
    assert unsure["replies"][0]["text"] == "您要办理的是：", unsure


async def test_a_day_and_fields_asked_together_are_all_answered(visitor: Visitor) -> None:
    both = await visitor.say("结婚登记在哪办 周六上班吗")  # was the centre's office hours only
    texts = [r["text"] for r in both["replies"]]
    assert "（周六）休息" in texts[0] and texts[1].startswith("【内地居民结婚登记】办理地点"), texts
    await visitor.say("重新开始")
    three = await visitor.say("我明天去办居住证 要带啥 几点开门")  # the materials were dropped
    texts = [r["text"] for r in three["replies"]]
    assert any(t.startswith("【居住证申领】需要") for t in texts), texts
    assert any(t.startswith("【居住证申领】办理地点") for t in texts), texts
    assert "就业或就读证明（视情况提供）" in "".join(texts), texts  # only for those applying by work or study


async def test_a_lost_household_register_is_not_a_move_of_it(visitor: Visitor) -> None:
    lost = await visitor.say("户口本丢了怎么补")  # was 户口迁移's steps: the guide lacks this matter
    assert lost["replies"][0]["text"].startswith("抱歉，暂时没有“户口本"), lost
    moving = await visitor.say("迁户口要什么材料")
    assert moving["replies"][0]["text"].startswith("【户口迁移（跨省迁入地一站式办理）】"), moving


async def test_a_correction_says_what_it_is_instead(visitor: Visitor) -> None:
    await visitor.say("我想办结婚登记")
    divorce = await visitor.say("不对 是离婚")  # was "没太明白"; the next question still got the marriage list
    assert divorce["replies"][0]["text"].startswith("抱歉，暂时没有“离婚"), divorce
    await visitor.say("公积金怎么提取")
    renting = await visitor.say("不是这个，我是要租房提取")
    assert renting["replies"][0]["text"].startswith("【住房公积金提取（租赁住房）】"), renting


async def test_moving_insurance_from_another_province_is_its_transfer(visitor: Visitor) -> None:
    moved = await visitor.say("我老家是河南的 在这边交社保 医保能转过来吗")  # was 城乡居民医保's 参保缴费
    assert moved["replies"][0]["text"].startswith("【基本医疗保险关系转移接续】"), moved
