"""Enterprise policy consultation (flow `policy`) as an enterprise has it, through the HTTP API."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from bot.messages import Reply
from bot.typedefs import KB
from tests.conftest import Visitor, new_visitor


async def test_narrowing_one_question_at_a_time_then_a_list_with_document_numbers(visitor: Visitor) -> None:
    start = await visitor.say("我们是做机械加工的小厂，有啥优惠政策？")
    assert start["flow"] == "policy"
    texts = [r["text"] for r in start["replies"]]
    assert texts[0].startswith("好的，帮您筛选适用的惠企政策")
    # scale and industry were said already, so the next question is the taxpayer type, with a skip button
    assert texts[1] == "增值税纳税人类型？"
    assert [b["title"] for b in start["replies"][1]["buttons"]] == ["小规模纳税人", "一般纳税人", "跳过"]
    need = await visitor.say("1")
    assert need["replies"][0]["text"] == "最想了解哪方面？"
    listing = await visitor.say("减税")
    text = listing["replies"][0]["text"]
    assert text.startswith("按“制造业·小型·小规模纳税人·减税”，您可关注以下政策：")
    assert "财政部 税务总局公告2023年第19号" in text  # 增值税小规模纳税人减免, with its 文号
    assert "示例" not in text, "national policies come before local samples"
    assert "2022年" not in text, "expired policies are never offered as current"
    first = listing["replies"][0]["buttons"][0]["title"]
    detail = await visitor.say("1")
    assert detail["replies"][0]["text"].startswith(f"【{first}】")
    assert "依据：" in detail["replies"][0]["text"] and "有效期：" in detail["replies"][0]["text"]
    how = await visitor.say("怎么申请")
    assert how["flow"] == "policy" and how["replies"][0]["text"].startswith(f"【{first}】申请方式")


async def test_skipping_every_question_still_lists_policies(visitor: Visitor) -> None:
    await visitor.say("有什么优惠政策")
    for _ in range(3):
        reply = await visitor.say("跳过")
    assert reply["replies"][0]["text"].startswith("按“不限条件”")


async def test_a_direct_question_is_answered_from_the_policy(visitor: Visitor) -> None:
    answer = await visitor.say("研发费用加计扣除比例是多少")
    text = answer["replies"][0]["text"]
    assert answer["flow"] == "policy"
    assert text.startswith("【研发费用税前加计扣除】研发费用100%加计扣除")
    assert "财政部 税务总局公告2023年第7号" in text
    assert "适用对象：各类企业（不含个体工商户）；会计核算健全" in text, text  # not 大型、中型、小型、微型
    where = await visitor.say("到哪办")
    assert where["replies"][0]["text"].startswith("【研发费用税前加计扣除】办理窗口")


async def test_an_expired_policy_says_it_expired(visitor: Visitor) -> None:
    answer = await visitor.say("2022年小规模纳税人免征增值税还有吗")
    assert "已于2022年12月31日到期，目前不再执行" in answer["replies"][0]["text"]


async def test_a_long_list_is_paged_and_numbered_on(visitor: Visitor) -> None:
    await visitor.say("有什么优惠政策")
    for _ in range(3):
        listing = await visitor.say("跳过")
    text = listing["replies"][0]["text"]
    assert "6." not in text and "回复“更多”查看其余" in text
    rest = int(text.split("查看其余 ")[1].split(" ")[0])
    more = await visitor.say("更多")
    assert more["flow"] == "policy" and more["replies"][0]["text"].startswith("6. ")
    shown = len(more["replies"][0]["buttons"])
    assert shown == min(5, rest)
    sixth = more["replies"][0]["buttons"][0]["title"]
    detail = await visitor.say(sixth)
    assert detail["replies"][0]["text"].startswith(f"【{sixth}】")


async def list_every_policy(visitor: Visitor) -> list[str]:
    """Skip the questions and page once; the titles of policies 1–10 as the list numbers them."""
    await visitor.say("有什么优惠政策")
    for _ in range(3):
        first_page = await visitor.say("跳过")
    second_page = await visitor.say("更多")
    return [b["title"] for page in (first_page, second_page) for b in page["replies"][0]["buttons"]]


async def test_numbers_pick_what_the_list_numbers_them_on_any_page(client: TestClient, visitor: Visitor) -> None:
    titles = await list_every_policy(visitor)
    assert len(titles) == 10
    sixth = await visitor.say("6")  # the first button of the second page, as its text numbers it
    assert sixth["flow"] == "policy" and sixth["replies"][0]["text"].startswith(f"【{titles[5]}】"), sixth
    other = await new_visitor(client)
    assert await list_every_policy(other) == titles
    second = await other.say("第二个")  # shown on the first page, still picked by its number from the second
    assert second["replies"][0]["text"].startswith(f"【{titles[1]}】"), second


async def test_a_number_with_a_question_answers_it_for_that_policy(visitor: Visitor) -> None:
    titles = await list_every_policy(visitor)
    how = await visitor.say("2 怎么申请")
    assert how["flow"] == "policy" and how["replies"][0]["text"].startswith(f"【{titles[1]}】申请方式"), how
    where = await visitor.say("7 到哪办")
    assert where["replies"][0]["text"].startswith(f"【{titles[6]}】办理窗口"), where


async def test_a_later_page_gives_its_buttons_the_numbers_of_its_text(visitor: Visitor) -> None:
    await visitor.say("有什么优惠政策")
    for _ in range(3):
        await visitor.say("跳过")
    page = (await visitor.say("更多"))["replies"][0]
    assert [b["number"] for b in page["buttons"]] == list(range(6, 6 + len(page["buttons"])))
    # WeChat shows buttons as lines to reply with, but these the list's own lines number already: once each.
    plain = Reply.from_json(page).as_plain_text()
    assert plain == page["text"] and plain.count(page["buttons"][0]["title"]) == 1
    assert Reply.from_json({**page, "text": "请选择："}).as_plain_text().splitlines()[1].startswith("回复 6 ")


async def test_a_stray_yes_is_not_read_as_a_policy_holding_the_word(visitor: Visitor) -> None:
    stray = await visitor.say("确认")  # nothing to confirm; 项目确认书 is in a policy, which is beside the point
    assert stray["flow"] == "fallback", stray
    assert not stray["replies"][0]["buttons"], "nor is a policy suggested for it"


async def test_a_question_many_policies_fit_a_little_is_narrowed_not_answered_by_one(client: TestClient,
                                                                                  visitor: Visitor) -> None:
    start = await visitor.say("个体户有什么优惠政策")
    texts = [r["text"] for r in start["replies"]]
    assert start["flow"] == "policy" and texts[-1] == "增值税纳税人类型？", texts  # 个体户 was said already
    described = await new_visitor(client)
    listing = await described.say("小微 一般纳税人 想了解贷款")
    assert listing["flow"] == "policy"
    text = listing["replies"][-1]["text"]
    assert text.startswith("按“小型·一般纳税人·贷款”，您可关注以下政策：")
    kb = client.app[KB].current
    titles = [b["title"] for b in listing["replies"][-1]["buttons"]]
    assert titles and all("贷款" in next(p for p in kb.policies.values() if p.title == t).needs for t in titles)
    named = await described.say("研发费用加计扣除比例是多少")  # one policy clearly named is still answered
    assert named["replies"][0]["text"].startswith("【研发费用税前加计扣除】")


async def test_what_they_want_is_taken_from_the_question_and_a_follow_up_to_a_list_asks_which(
        visitor: Visitor) -> None:
    start = await visitor.say("开了个奶茶店，个体户有啥补贴")
    assert start["replies"][-1]["text"] == "增值税纳税人类型？"  # 个体户 and 补贴 were said already
    listing = await visitor.say("小规模")
    assert listing["replies"][0]["text"].startswith("按“住宿和餐饮业·个体工商户·补贴·小规模纳税人”")
    which = await visitor.say("怎么申请")
    assert which["flow"] == "policy" and which["replies"][0]["text"].startswith("想了解哪一项？请先回复它的序号")
    first = listing["replies"][0]["buttons"][0]["title"]
    await visitor.say("1")
    how = await visitor.say("怎么申请")
    assert how["replies"][0]["text"].startswith(f"【{first}】申请方式：")


async def test_the_document_number_and_validity_asked_on_their_own(client: TestClient, visitor: Visitor) -> None:
    detail = await visitor.say("研发费用加计扣除比例是多少")
    assert detail["replies"][0]["text"].startswith("【研发费用税前加计扣除】")
    policy = next(p for p in client.app[KB].current.policies.values() if p.title == "研发费用税前加计扣除")
    doc = await visitor.say("那文号是啥")
    assert doc["flow"] == "policy"
    basis = policy.doc_no or "以主管部门当年发布的文件为准"
    assert doc["replies"][0]["text"] == f"【研发费用税前加计扣除】的依据：{basis}。"
    until = (await visitor.say("执行到啥时候"))["replies"][0]["text"]
    end = policy.valid_until
    assert until == (f"【研发费用税前加计扣除】执行到{end.year}年{end.month}月{end.day}日。" if end
                     else "【研发费用税前加计扣除】长期有效，没有截止日期。")


async def test_a_policy_named_at_a_narrowing_question_is_answered_and_asked_about(visitor: Visitor) -> None:
    await visitor.say("我们是做机械加工的小厂，有啥优惠政策？")
    need = await visitor.say("一般纳税人")
    assert need["replies"][0]["text"] == "最想了解哪方面？"
    named = await visitor.say("研发费用加计扣除")  # not one of the offered needs: the policy it names
    assert named["flow"] == "policy" and named["replies"][0]["text"].startswith("【研发费用税前加计扣除】")
    applies = await visitor.say("制造业也是100%吗")  # a yes, with what it gives and what is still required
    text = applies["replies"][0]["text"]
    assert applies["flow"] == "policy"
    assert text.startswith("制造业可以享受【研发费用税前加计扣除】：研发费用100%加计扣除"), text
    assert "还需满足：会计核算健全" in text
    catering = await visitor.say("那餐饮业呢")  # a no: the document rules the industry out
    text = catering["replies"][0]["text"]
    assert catering["flow"] == "policy"
    assert text.startswith("住宿和餐饮业不在【研发费用税前加计扣除】的适用范围内。适用对象："), text
    assert "不适用于烟草制造业、住宿和餐饮业" in text
    sole_trader = await visitor.say("个体户可以吗")  # not an enterprise: the policy is for enterprises
    assert sole_trader["replies"][0]["text"].startswith("个体工商户不在【研发费用税前加计扣除】的适用范围内")


async def test_a_named_policy_asked_how_to_apply_gets_how(visitor: Visitor) -> None:
    how = await visitor.say("研发费用加计扣除怎么申请")  # the classifier reads a policy question, the words say how
    assert how["flow"] == "policy"
    assert how["replies"][0]["text"].startswith("【研发费用税前加计扣除】申请方式：无需审批")


async def test_an_earlier_answer_corrected_while_narrowing_is_taken(visitor: Visitor) -> None:
    await visitor.say("有什么优惠政策")
    await visitor.say("小微")
    need = await visitor.say("小规模纳税人")
    assert need["replies"][0]["text"] == "最想了解哪方面？"
    corrected = await visitor.say("不对，我们是一般纳税人")
    texts = [r["text"] for r in corrected["replies"]]
    assert corrected["flow"] == "policy" and texts == ["好的，已改为“一般纳税人”。", "最想了解哪方面？"], corrected
    listed = await visitor.say("减税")
    assert "一般纳税人" in listed["replies"][0]["text"] and "小规模纳税人·" not in listed["replies"][0]["text"]


async def test_an_answer_to_another_question_while_narrowing_is_noted_not_called_a_correction(
        visitor: Visitor) -> None:
    await visitor.say("有什么优惠政策")
    noted = await visitor.say("我们是小规模纳税人")  # to "企业规模？": nothing was said of the taxpayer type before
    texts = [r["text"] for r in noted["replies"]]
    assert texts == ["好的，记下了：小规模纳税人。", "企业规模？"], texts
    listed = (await visitor.say("小微"))["replies"][0]["text"]  # the taxpayer type is not asked again
    assert listed == "最想了解哪方面？", listed


async def test_a_question_naming_a_policy_outright_is_answered_from_the_policy_not_a_similar_item(
        visitor: Visitor) -> None:
    materials = await visitor.say("创业担保贷款要什么材料")
    assert materials["flow"] == "policy", materials
    assert materials["replies"][0]["text"].startswith("【创业担保贷款及财政贴息】"), materials
    rate = await visitor.say("失业保险费率现在是多少，还降吗")  # not the fee of 失业保险金申领
    assert rate["flow"] == "policy" and rate["replies"][0]["text"].startswith("【阶段性降低失业保险费率至1%】")
    item = await visitor.say("就业创业证要什么材料")  # the item itself is still the guide's
    assert item["flow"] == "guide" and item["replies"][0]["text"].startswith("【《就业创业证》申领】")


async def test_what_policies_an_enterprise_has_is_a_list_not_the_policy_its_description_names(
        client: TestClient) -> None:
    visitor = await new_visitor(client)
    asked = await visitor.say("小微企业有什么减税政策")  # 小微企业 is also in 小型微利企业所得税优惠's name
    assert asked["flow"] == "policy"
    assert asked["replies"][-1]["text"] == "增值税纳税人类型？", asked
    listed = await visitor.say("小规模纳税人")
    text = listed["replies"][0]["text"]
    assert text.startswith("按“小型·减税·小规模纳税人”") and "小型微利企业所得税优惠" in text
    assert "“六税两费”减半征收" in text
    named = await (await new_visitor(client)).say("小微企业所得税有什么优惠")  # 所得税 names the one policy
    assert named["replies"][0]["text"].startswith("【小型微利企业所得税优惠】")


async def test_a_correction_after_the_list_lists_again_for_it(visitor: Visitor) -> None:
    for answer in ("有什么优惠政策", "小型", "小规模纳税人"):
        await visitor.say(answer)
    first = await visitor.say("减税")
    assert first["replies"][0]["text"].startswith("按“小型·小规模纳税人·减税”")
    assert "增值税小规模纳税人减免增值税" in first["replies"][0]["text"]
    corrected = await visitor.say("不对，我们是一般纳税人")
    assert corrected["flow"] == "policy"
    texts = [r["text"] for r in corrected["replies"]]
    assert texts[0] == "好的，按“一般纳税人”重新筛选。"
    assert texts[1].startswith("按“小型·一般纳税人·减税”") and "增值税小规模纳税人减免增值税" not in texts[1]
    industry = await visitor.say("那制造业呢")
    assert industry["replies"][1]["text"].startswith("按“小型·一般纳税人·减税·制造业”"), industry


async def test_a_policy_named_without_its_year_is_the_one_in_force(client: TestClient) -> None:
    visitor = await new_visitor(client)
    current = await visitor.say("小规模纳税人免征增值税")  # the 2022 one that ended has this very name
    assert current["replies"][0]["text"].startswith("【增值税小规模纳税人减免增值税】"), current
    ended = await (await new_visitor(client)).say("2022年小规模纳税人免征增值税")  # by its year, that one
    assert "已于2022年12月31日到期" in ended["replies"][0]["text"], ended


async def test_a_general_question_a_local_example_matches_is_narrowed(visitor: Visitor) -> None:
    asked = await visitor.say("招工有补贴吗")
    assert asked["flow"] == "policy"
    assert asked["replies"][0]["text"].startswith("好的，帮您筛选适用的惠企政策"), asked
    assert "示例" not in asked["replies"][0]["text"]


async def test_a_question_after_a_greeting_is_answered(visitor: Visitor) -> None:
    asked = await visitor.say("你好，我想问下稳岗返还")
    assert asked["flow"] == "policy" and asked["replies"][0]["text"].startswith("【失业保险稳岗返还】"), asked
    hello = await visitor.say("你好！")  # a greeting alone is still greeted
    assert hello["flow"] == "smalltalk" and "政务服务智能助手" in hello["replies"][0]["text"]


async def test_a_policy_named_by_what_it_gives_is_the_policy_not_an_item_sharing_a_word(client: TestClient) -> None:
    for asked, title in (("高新技术企业15%", "高新技术企业减按15%税率征收企业所得税"),  # not 企业设立登记
                         ("养老保险单位缴费比例", "城镇职工基本养老保险单位缴费比例降至16%")):  # not 社保参保证明
        answer = await (await new_visitor(client)).say(asked)
        assert answer["flow"] == "policy" and answer["replies"][0]["text"].startswith(f"【{title}】"), answer


async def test_how_much_a_policy_gives_is_asked_of_the_policy_in_context(visitor: Visitor) -> None:
    await visitor.say("创业担保贷款")
    for asked in ("能贷多少", "利息呢"):  # not an item's fee, nor the other policy with 利息 in its name
        answer = await visitor.say(asked)
        assert answer["flow"] == "policy", answer
        assert answer["replies"][0]["text"].startswith("【创业担保贷款及财政贴息】优惠内容：个人最高20万元"), answer
    fee = await visitor.say("社保卡补办要多少钱")  # an item named: its fee
    assert fee["flow"] == "guide" and fee["replies"][0]["text"].startswith("【社会保障卡申领、补换】收费"), fee
    other = await visitor.say("那高新技术企业税率多少")  # another policy named outright: that one
    assert other["replies"][0]["text"].startswith("【高新技术企业减按15%税率征收企业所得税】"), other


async def test_narrowing_answered_in_own_words_then_paged_to_the_end(visitor: Visitor) -> None:
    await visitor.say("有什么优惠政策")
    size = await visitor.say("我们二十几个人")  # a headcount for the size: 20–299 people is 小型
    assert size["flow"] == "policy" and size["replies"][0]["text"] == "增值税纳税人类型？", size
    skipped = await visitor.say("不知道")  # skips the question, not a request for the help menu
    assert skipped["flow"] == "policy" and skipped["replies"][0]["text"] == "最想了解哪方面？", skipped
    listing = await visitor.say("补贴")
    text = listing["replies"][0]["text"]
    assert text.startswith("按“小型·补贴”"), text
    assert "以主管部门" not in text and "待核实" not in text, "a policy without a 文号 is listed without one"
    page = listing
    while "回复“更多”" in page["replies"][0]["text"]:
        page = await visitor.say("更多")
    end = await visitor.say("更多")  # past the last page
    assert end["replies"][0]["text"].startswith("已经是全部内容了"), end
    bundle = await visitor.say("企业开办一件事")  # the bundle, not the policy list again
    assert bundle["flow"] == "guide" and bundle["replies"][0]["text"].startswith("【企业开办】一件事"), bundle
    menu = await visitor.say("返回")
    assert menu["replies"][0]["text"].startswith("我可以帮您办下面这些事"), menu  # back to the menu


async def test_an_area_named_lists_that_areas_policies(visitor: Visitor) -> None:
    for answer in ("节能减排方面有啥补贴", "中型"):
        await visitor.say(answer)
    listed = await visitor.say("一般纳税人")
    text = listed["replies"][0]["text"]
    assert text.startswith("按“补贴·节能减排·中型·一般纳税人”"), text
    assert "节能" in text.split("\n")[1], text  # the area's subsidy first
    assert "扩岗" not in text and "技能提升" not in text, "employment subsidies are not 节能减排"
    assert "购置节能节水、环境保护专用设备投资额10%抵免企业所得税" in text, text


async def test_whether_a_policy_still_runs_this_year_is_its_validity(visitor: Visitor) -> None:
    await visitor.say("稳岗返还")
    still = await visitor.say("今年还有吗")  # not "没太明白"
    assert still["flow"] == "policy", still
    assert still["replies"][0]["text"].startswith("【失业保险稳岗返还】"), still
    assert any(w in still["replies"][0]["text"] for w in ("执行到", "长期有效", "到期")), still


async def test_whether_we_qualify_for_a_named_policy_is_answered_for_the_enterprise_told(visitor: Visitor) -> None:
    await visitor.say("我是做餐饮的个体户 有啥减税政策")
    await visitor.say("小规模")
    no = await visitor.say("小型微利企业所得税我们能享受吗")  # 小型 is the policy's name, not a new size
    text = no["replies"][0]["text"]
    assert "个体工商户" in text and "不在【小型微利企业所得税优惠】的适用范围内" in text, no
    yes = await visitor.say("六税两费我们能享受吗")
    assert "可以享受【“六税两费”减半征收】" in yes["replies"][0]["text"], yes


async def test_a_policy_that_ended_for_good_is_the_one_asked_about(visitor: Visitor) -> None:
    ended = await visitor.say("服务业增值税加计抵减今年还能用吗")  # not 先进制造业加计抵减, which runs on
    text = ended["replies"][0]["text"]
    assert text.startswith("【生产性、生活性服务业增值税加计抵减（已到期）】") and "到期" in text, ended


async def test_a_headcount_in_the_first_question_is_the_size(visitor: Visitor) -> None:
    asked = await visitor.say("厂里50个人，能享受啥政策")
    texts = [r["text"] for r in asked["replies"]]
    assert asked["flow"] == "policy" and "企业规模？" not in texts, asked  # 50 people: 小型, not asked again
    assert texts[-1] == "增值税纳税人类型？", texts


async def test_whether_we_qualify_asked_of_a_list_says_what_it_was_filtered_by(visitor: Visitor) -> None:
    listed = await visitor.say("我们是小微企业，一般纳税人，有啥减税政策")
    texts = [r["text"] for r in listed["replies"]]
    assert len(texts) == 1 and texts[0].startswith("按“小型·一般纳税人·减税”"), texts  # nothing left to ask first
    qualify = await visitor.say("我们能享受吗")
    assert qualify["replies"][0]["text"].startswith("上面这些是按“小型·一般纳税人·减税”筛出来的"), qualify
    number = next(line.split(".")[0] for line in texts[0].splitlines() if "“六税两费”减半征收" in line)
    one = await visitor.say(f"{number} 我们能享受吗")
    text = one["replies"][0]["text"]
    assert text.startswith("小型企业、一般纳税人可以享受【“六税两费”减半征收】"), text
    assert "一般纳税人须属于小型微利企业" in text, text


async def test_the_follow_up_buttons_stay_after_one_is_pressed(visitor: Visitor) -> None:
    card = await visitor.say("稳岗返还")
    assert card["replies"][0]["text"].startswith("【") and card["replies"][0]["buttons"], card
    assert "足额缴纳失业保险费12个月以上；上年度未裁员" in card["replies"][0]["text"], card  # clauses, not a list
    title = card["replies"][0]["text"][1:card["replies"][0]["text"].index("】")]
    for number, starts in (("1", ("申请方式",)), ("2", ("需要的材料", "无需单独提交")), ("3", ("办理窗口",))):
        answer = await visitor.say(number)
        text = answer["replies"][0]["text"]
        assert answer["flow"] == "policy" and text.startswith(tuple(f"【{title}】{s}" for s in starts)), answer
        assert [b["title"] for b in answer["replies"][-1]["buttons"]] == ["怎么申请", "要什么材料", "到哪办"]


async def test_how_long_a_policy_takes_is_asked_of_the_policy_not_an_item(visitor: Visitor) -> None:
    await visitor.say("稳岗返还")
    how_long = await visitor.say("要多久")  # not "请问您要办理什么事项"
    text = how_long["replies"][0]["text"]
    assert how_long["flow"] == "policy" and text.startswith("【失业保险稳岗返还】的政策文件没有规定办理时限"), how_long
    where = await visitor.say("在哪办")
    assert where["replies"][0]["text"].startswith("【失业保险稳岗返还】办理窗口"), where
    named = await visitor.say("高新技术企业认定要多久")  # not 企业设立登记, which shares 企业
    assert named["replies"][0]["text"].startswith("【高新技术企业减按15%税率征收企业所得税】的政策文件没有规定"), named
    item = await visitor.say("社保卡补办要多久")  # an item's time limit is still the item's
    assert item["flow"] == "guide" and item["replies"][0]["text"].startswith("【社会保障卡申领、补换】承诺"), item


async def test_export_tax_refund_is_answered_from_its_document(visitor: Visitor) -> None:
    asked = await visitor.say("我们是做外贸的，想问下有啥出口退税的政策")  # not the narrowing, then 减税 policies
    text = asked["replies"][0]["text"]
    assert text.startswith("【出口货物劳务增值税和消费税退（免）税】") and "财税〔2012〕39号" in text, asked
    how = await visitor.say("怎么申请")
    assert "出口退（免）税备案" in how["replies"][0]["text"], how


async def test_an_area_and_the_want_it_holds_are_said_once(visitor: Visitor) -> None:
    await visitor.say("税收优惠有哪些")  # 税收优惠: the area 减税降费 and the want 减税
    for answer in ("跳过", "跳过"):
        listed = await visitor.say(answer)
    assert listed["replies"][0]["text"].startswith("按“减税降费”"), listed  # not "减税·减税降费"


async def test_a_headcount_told_of_the_policy_in_context_asks_whether_it_applies(visitor: Visitor) -> None:
    await visitor.say("研发费用加计扣除")
    told = await visitor.say("我们去年营收3000万，60个人")  # 个人 is no 个体工商户个人所得税
    text = told["replies"][0]["text"]
    assert told["flow"] == "policy" and text.startswith("小型企业可以享受【研发费用税前加计扣除】"), told
    listing = await visitor.say("我们厂50个人，有哪些优惠政策")  # a list asked for, not the policy in context
    assert not listing["replies"][0]["text"].startswith("小型企业可以享受"), listing


async def test_a_benefit_for_people_is_not_narrowed_as_an_enterprise_policy(client: TestClient) -> None:
    for question, name in (("高龄补贴咋申请", "高龄补贴"), ("老人补贴", "老人补贴")):
        visitor = await new_visitor(client)
        answer = await visitor.say(question)  # not "企业规模？"
        texts = [r["text"] for r in answer["replies"]]
        assert texts == [f"“{name}”是给个人的，暂时还没有它的办事指南，已记下来供我们补充；"
                         "可以联系工作人员解答。"], texts
    enterprise = await (await new_visitor(client)).say("我们厂招残疾人有补贴吗")  # an enterprise's question still
    assert enterprise["replies"][-1]["text"] == "企业规模？", enterprise


async def test_whether_we_can_get_the_policy_in_context_is_answered_with_its_conditions(visitor: Visitor) -> None:
    await visitor.say("稳岗返还")
    asked = await visitor.say("我们公司去年裁了5个人，总共120人，裁员率算下来4%多，能拿吗")  # not 企业 items
    text = asked["replies"][0]["text"]
    assert asked["flow"] == "policy" and text.startswith("按您说的，裁员率约 4.2%（5÷120），不超过5.5%"), asked
    assert "符合【失业保险稳岗返还】：中小微企业返还不超过60%" in text, text
    assert "还需满足：足额缴纳失业保险费12个月以上。" in text and "参照实施" not in text, text


async def test_the_layoff_rate_told_is_worked_out_against_the_limit(client: TestClient) -> None:
    small = await new_visitor(client)
    asked = await small.say("稳岗返还 我们去年裁了两个人，总共25个人，还能拿吗")  # 8%: over 5.5%, within 20%
    text = asked["replies"][0]["text"]
    assert text.startswith("按您说的，裁员率约 8%（2÷25），不超过参保职工30人（含）以下企业的20%"), asked
    over = await small.say("那要是裁了4个呢")  # 16%, still a firm of 25: within
    assert over["replies"][0]["text"].startswith("按您说的，裁员率约 16%（4÷25）"), over
    big = await new_visitor(client)
    await big.say("稳岗返还")
    refused = await big.say("公司一共100人，去年辞退了8个，能拿吗")
    expected = "按您说的，裁员率约 8%（8÷100），超过了5.5%，按这一条拿不到【失业保险稳岗返还】。"
    assert refused["replies"][0]["text"] == expected, refused
    rate = await big.say("裁员率是3%呢")
    assert rate["replies"][0]["text"].startswith("按您说的，裁员率约 3%，不超过5.5%"), rate
    none = await big.say("我们没裁员，能拿吗")
    assert none["replies"][0]["text"].startswith("按您说的，裁员率约 0%"), none


async def test_a_follow_up_in_the_policys_own_words_stays_with_it(client: TestClient) -> None:
    tech = await new_visitor(client)
    await tech.say("高新技术企业所得税优惠")
    conditions = await tech.say("认定要啥条件")  # not 门诊慢特病待遇认定
    assert conditions["flow"] == "policy" and "高新技术企业" in conditions["replies"][0]["text"], conditions
    rnd = await new_visitor(client)
    await rnd.say("研发费用加计扣除")
    how = await rnd.say("怎么申报")  # not 存量房交易税费申报
    assert how["flow"] == "policy" and how["replies"][0]["text"].startswith("【研发费用税前加计扣除】申请方式"), how
    refund = await new_visitor(client)
    await refund.say("稳岗返还")
    declared = await refund.say("怎么申报")  # 申报 is no word of 稳岗返还's own, and still no 存量房交易税费申报
    assert declared["replies"][0]["text"].startswith("【失业保险稳岗返还】申请方式"), declared
    item = await rnd.say("社保卡怎么补办")  # an item named outright still leaves the policy
    assert item["flow"] == "guide", item


async def test_how_to_apply_asked_before_any_policy_is_listed_keeps_the_questions(visitor: Visitor) -> None:
    await visitor.say("小微企业有啥税收优惠")
    await visitor.say("我是个体户能享受吗")
    how = await visitor.say("怎么申请")  # not "请问您要办理什么事项"
    texts = [r["text"] for r in how["replies"]]
    assert how["flow"] == "policy" and texts[0].startswith("先帮您把适用的政策找出来"), how
    assert texts[1] == "增值税纳税人类型？", how
    listed = await visitor.say("小规模")
    assert listed["flow"] == "policy" and "个体工商户" in listed["replies"][0]["text"], listed


async def test_asking_what_there_is_at_a_narrowing_question_lists_them_all(visitor: Visitor) -> None:
    await visitor.say("个体户有啥扶持政策")
    await visitor.say("小规模")
    listed = await visitor.say("有哪些")  # to "最想了解哪方面": all areas, not the help menu
    assert listed["flow"] == "policy" and "个体工商户" in listed["replies"][0]["text"], listed


async def test_saying_who_one_is_at_a_narrowing_question_is_no_policy_name(visitor: Visitor) -> None:
    await visitor.say("我想贷款开个小店 有政策吗")
    told = await visitor.say("我是退役军人")  # not 企业招用自主就业退役士兵税收扣减, an employer's tax break
    texts = " ".join(r["text"] for r in told["replies"])
    assert told["flow"] == "policy" and "招用自主就业退役士兵" not in texts, told
    listed = told
    for _ in range(3):  # the narrowing questions left, skipped
        if not listed["replies"][-1]["text"].endswith("？"):
            break
        listed = await visitor.say("跳过")
    assert "创业担保贷款" in " ".join(r["text"] for r in listed["replies"]), listed


async def test_a_headcount_is_no_item_name(visitor: Visitor) -> None:
    asked = await visitor.say("我们公司去年没裁员 60个人 交了社保 稳岗返还能返多少")  # 个人 is no 灵活就业人员参保
    assert asked["flow"] == "policy", asked
    assert asked["replies"][0]["text"].startswith("按您说的，裁员率约 0%"), asked


async def test_a_size_given_to_another_narrowing_question_is_noted_not_a_policy(visitor: Visitor) -> None:
    await visitor.say("我们是做机械加工的小厂，有啥优惠政策")
    noted = await visitor.say("小微企业")  # to "增值税纳税人类型": the size, not the 小型微利 card
    assert not noted["replies"][0]["text"].startswith("【"), noted
    assert noted["replies"][-1]["text"] == "最想了解哪方面？", noted  # the narrowing goes on


async def test_an_enterprise_described_asking_for_subsidies_gets_policies_not_company_registration(
        client: TestClient) -> None:
    for question in ("我们公司80人一般纳税人 有什么补贴", "我们是建筑公司 200人 一般纳税人 年收入5000万 有补贴吗"):
        visitor = await new_visitor(client)
        answer = await visitor.say(question)  # it offered 企业简易注销登记 / 企业设立登记 / 企业开办
        assert answer["flow"] == "policy", (question, answer)
        assert "您要办理的是" not in answer["replies"][0]["text"], (question, answer)
    builder = await new_visitor(client)
    listed = await builder.say("我们是建筑公司 200人 一般纳税人 年收入5000万 有补贴吗")
    assert listed["replies"][0]["text"].startswith("按“建筑业·一般纳税人"), listed
    licence = await new_visitor(client)
    guided = await licence.say("小规模纳税人注销要带什么")  # an item's materials, whatever it tells of the firm
    assert guided["flow"] == "guide", guided


async def test_a_headcount_told_is_compared_with_a_policys_cap_on_staff(client: TestClient) -> None:
    levy = await new_visitor(client)
    small = await levy.say("残疾人就业保障金 我们30个人要交吗")
    text = small["replies"][0]["text"]
    assert "30人（含）以内" in text and "免征残疾人就业保障金" in text, small
    over = await levy.say("那我们35个人呢")  # it said "小型企业可以享受…30人以下企业免征"
    text = over["replies"][0]["text"]
    assert "超过30人，不能免征" in text and "按应缴费额的50%缴纳" in text, over
    income_tax = await new_visitor(client)
    await income_tax.say("小型微利企业所得税优惠")
    too_big = await income_tax.say("我们公司350人能享受吗")
    assert "超过300人，不能享受【小型微利企业所得税优惠】" in too_big["replies"][0]["text"], too_big
    within = await income_tax.say("那200人呢")  # a headcount alone, of the policy in context
    text = within["replies"][0]["text"]
    assert within["flow"] == "policy" and "300人（含）以内" in text, within
    assert "年应纳税所得额不超过300万元" in text and "从业人数不超过300人" not in text, within


async def test_not_qualifying_names_what_rules_it_out_not_every_detail_told(visitor: Visitor) -> None:
    await visitor.say("我们是做餐饮的小型企业 有啥减税政策")
    await visitor.say("小规模")
    no = await visitor.say("研发费用加计扣除我们能享受吗")
    text = no["replies"][0]["text"]
    # was "住宿和餐饮业、小型企业、小规模纳税人不在…": only the industry rules it out
    assert text.startswith("住宿和餐饮业不在【研发费用税前加计扣除】的适用范围内"), no


async def test_asking_what_a_narrowing_answer_means_is_explained_not_taken_as_the_answer(visitor: Visitor) -> None:
    await visitor.say("我想了解一下惠企政策")
    asked = await visitor.say("小规模纳税人和一般纳税人有什么区别")  # was "好的，记下了：一般纳税人。"
    text = asked["replies"][0]["text"]
    assert text.startswith("小规模纳税人和一般纳税人是增值税的两类纳税人"), asked
    assert "记下了" not in text


async def test_a_local_policy_named_by_its_own_words_is_answered(client: TestClient) -> None:
    for said, title in (("应急转贷资金怎么申请", "县中小企业应急转贷资金"),
                        ("专精特新企业有什么奖补", "县专精特新企业奖补"),
                        ("科技型中小企业贷款贴息有吗", "县科技型中小企业贷款贴息")):
        visitor = await new_visitor(client)
        answer = await visitor.say(said)  # was "请问您要办理什么事项？" or the narrowing questions
        assert answer["flow"] == "policy" and answer["replies"][0]["text"].startswith(f"【{title}"), (said, answer)
    generic = await (await new_visitor(client)).say("招工有补贴吗")  # what there is: not the one local example
    assert not generic["replies"][0]["text"].startswith("【县重点企业招工补贴"), generic


async def test_a_choice_said_in_a_sentence_picks_it(client: TestClient) -> None:
    for said, number in (("看看第三个", 3), ("那第4个呢", 4), ("就第二项吧", 2)):
        visitor = await new_visitor(client)
        titles = await list_every_policy(visitor)
        picked = await visitor.say(said)  # was "抱歉，我没太明白"
        assert picked["replies"][0]["text"].startswith(f"【{titles[number - 1]}】"), (said, picked)
