"""Material pre-check (材料预审): every missing material in one reply, 容缺受理 by the rule, a numbered record."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from bot.choices_materials import material_numbers
from tests.conftest import Visitor, new_visitor


@pytest.mark.parametrize(
    ("text", "numbers"),
    [("有1 2 3", {1, 2, 3}), ("我有1、3、4", {1, 3, 4}), ("１，２", {1, 2}), ("1到4都有", {1, 2, 3, 4}),
     ("都有", {1, 2, 3, 4, 5}), ("都没有", set()), ("第一和第三", {1, 3}), ("有9", None), ("你好", None),
     ("1到3都有，4没有，5有", {1, 2, 3, 5}), ("有1，没有2、3", {1}), ("1有，其他都没有", {1}),
     ("缺3，别的都有", {1, 2, 4, 5}), ("除了2都有", {1, 3, 4, 5}), ("就差3", {1, 2, 4, 5}), ("只缺2和4", {1, 3, 5})],
)
def test_reading_which_materials_someone_has(text: str, numbers: set[int] | None) -> None:
    assert material_numbers(text, 5) == numbers


RENTAL_WITHDRAWAL = [("居民身份证", "身份证"), ("本人及配偶无自有住房的书面承诺",),
                     ("房屋租赁合同", "租房合同", "租赁合同"), ("结婚证",), ("本人银行卡", "本人银行账户")]
RESALE = [("不动产登记申请书",), ("买卖双方身份证明",), ("不动产权证书", "房产证"), ("存量房买卖合同",),
          ("授权委托书及代理人身份证明",), ("监护人身份证件", "监护人身份证")]


@pytest.mark.parametrize(
    ("text", "numbers"),
    [("我有身份证和租房合同", {1, 3}), ("身份证、银行卡都有", {1, 5}), ("有身份证，没有结婚证", {1}),
     ("我有身份证，其他都没有", {1}), ("书面承诺也带了", {2}), ("身份证和3", {1, 3}), ("材料都有", {1, 2, 3, 4, 5}),
     ("都没有", set()), ("你好", None), ("我没有身份证", None), ("没有结婚证和银行卡，别的都有", {1, 2, 3}),
     ("身份证有，没带租房合同", {1}), ("除了结婚证都有", {1, 2, 3, 5})],
)
def test_reading_materials_named_in_words(text: str, numbers: set[int] | None) -> None:
    assert material_numbers(text, 5, RENTAL_WITHDRAWAL) == numbers


@pytest.mark.parametrize(("text", "numbers"), [("有身份证和房产证", {2, 3}), ("监护人身份证带了", {6}),
                                               ("身份证有", {2})])
def test_a_word_of_several_names_means_the_first_of_them(text: str, numbers: set[int]) -> None:
    assert material_numbers(text, 6, RESALE) == numbers


async def start_precheck(visitor: Visitor) -> None:
    await visitor.say("二手房过户要带啥")
    checklist = await visitor.say("预审")
    assert checklist["flow"] == "guide"
    assert checklist["replies"][0]["text"].startswith("【存量房转移登记】材料预审")
    assert checklist["replies"][0]["buttons"] == [], "a bare number must mean a material, not a button"


async def test_missing_main_material_is_named_with_all_others_at_once(client: TestClient, visitor: Visitor) -> None:
    await start_precheck(visitor)
    result = await visitor.say("有1 2 3")
    text = result["replies"][0]["text"]
    assert text.startswith("还缺以下材料（一次性告知）：")
    for missing in ("存量房买卖合同：网签备案合同", "婚姻状况声明或结婚证", "共有人同意处分的书面材料"):
        assert missing in text
    assert "存量房买卖合同是主要材料，补齐后即可受理" in text
    card = result["replies"][0]["card"]
    assert card["decision"] == "incomplete" and card["number"].startswith("YS")
    assert f"预审单号 {card['number']}" in text
    record = await client.get(f"/api/v1/prechecks/{card['number']}", headers=visitor.headers)
    body = await record.json()
    assert record.status == 200 and body["have"] == [1, 2, 3] and body["decision"] == "incomplete"
    assert [m["name"] for m in body["missing"]][:2] == ["存量房买卖合同", "婚姻状况声明或结婚证"]


async def test_deferrable_acceptance_says_what_and_by_when(visitor: Visitor) -> None:
    await start_precheck(visitor)
    result = await visitor.say("1到4都有")
    text = result["replies"][0]["text"]
    assert text.startswith("主要材料已备齐，可以容缺受理")
    assert "婚姻状况声明或结婚证" in text and "工作日内补交，最晚" in text
    assert result["replies"][0]["card"]["decision"] == "deferrable"
    assert result["replies"][0]["card"]["supply_by"] > "2026-01-01"


async def test_everything_present_goes_straight_to_the_window(visitor: Visitor) -> None:
    await start_precheck(visitor)
    result = await visitor.say("都有")
    assert result["replies"][0]["text"].startswith("材料齐全，可以直接到")
    assert result["replies"][0]["card"]["decision"] == "complete"


async def test_numbers_count_per_day_and_records_are_private(client: TestClient, visitor: Visitor) -> None:
    await start_precheck(visitor)
    first = (await visitor.say("都有"))["replies"][0]["card"]["number"]
    await visitor.say("预审")
    second = (await visitor.say("有1"))["replies"][0]["card"]["number"]
    assert first[:-4] == second[:-4] and int(second[-4:]) == int(first[-4:]) + 1
    stranger = await new_visitor(client)
    for url, headers in ((f"/api/v1/prechecks/{first}", stranger.headers),
                         ("/api/v1/prechecks/YS20991231-0001", visitor.headers)):
        resp = await client.get(url, headers=headers)
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    assert (await client.get(f"/api/v1/prechecks/{first}")).status == 401


async def test_precheck_without_an_item_asks_for_it_first(visitor: Visitor) -> None:
    ask = await visitor.say("帮我看看材料齐不齐")
    assert "请问您要办理什么事项" in ask["replies"][0]["text"]
    checklist = await visitor.say("护照")
    assert "材料预审" in checklist["replies"][0]["text"]


async def test_saying_what_one_has_right_after_the_list_checks_it(visitor: Visitor) -> None:
    listed = await visitor.say("公积金租房提取要什么材料")
    text = listed["replies"][0]["text"]
    assert text.startswith("【住房公积金提取（租赁住房）】需要 5 项材料")
    assert "“我有1、2”或“我有身份证”" in text  # what to say next, in one line
    result = await visitor.say("我有身份证和租房合同")
    assert result["flow"] == "guide"
    text = result["replies"][0]["text"]
    assert text.startswith("还缺以下材料（一次性告知）："), text  # this item's check, not the ID card's guide
    for missing in ("本人及配偶无自有住房的书面承诺", "本人银行卡", "结婚证"):
        assert missing in text
    assert "居民身份证" not in text and "房屋租赁合同" not in text
    assert result["replies"][0]["card"]["item"] == "住房公积金提取（租赁住房）"


async def test_numbers_right_after_the_list_check_it_too(visitor: Visitor) -> None:
    await visitor.say("二手房过户要带啥")
    result = await visitor.say("我有1、2、3")
    assert result["flow"] == "guide"
    assert result["replies"][0]["text"].startswith("还缺以下材料（一次性告知）：")
    assert result["replies"][0]["card"]["item"] == "存量房转移登记"


async def test_a_question_after_the_list_is_still_answered_as_a_question(visitor: Visitor) -> None:
    await visitor.say("二手房过户要带啥")
    question = await visitor.say("不动产权证书丢了怎么办")
    assert "预审单号" not in question["replies"][0]["text"]


async def test_a_checklist_answered_with_names_keeps_its_item(visitor: Visitor) -> None:
    await start_precheck(visitor)
    result = await visitor.say("有身份证和房产证，其他都没有")
    text = result["replies"][0]["text"]
    assert text.startswith("还缺以下材料（一次性告知）："), text
    assert "存量房买卖合同" in text and "不动产权证书：" not in text
    card = result["replies"][0]["card"]
    assert card["item"] == "存量房转移登记"


async def test_asking_for_a_check_while_naming_what_one_has_gets_the_result_at_once(visitor: Visitor) -> None:
    await visitor.say("身份证过期了怎么办")
    result = await visitor.say("我有旧身份证和户口本")
    text = result["replies"][0]["text"]
    # The photo and the form are taken and printed at the window: nothing to bring but these two.
    assert text.startswith("材料齐全"), text
    assert "居民身份证相片、居民身份证申领登记表在窗口现场办理" in text
    assert "原居民身份证" not in text and "居民户口簿" not in text
    assert result["replies"][0]["card"]["item"] == "居民身份证换领、补领"


async def test_an_answer_to_the_checklist_that_names_nothing_asks_again(visitor: Visitor) -> None:
    await start_precheck(visitor)
    unclear = await visitor.say("我带了那个")
    assert unclear["flow"] == "guide"
    assert unclear["replies"][0]["text"].startswith("抱歉，没看出是哪几项。请用序号或材料名称告诉我")
    assert "card" not in unclear["replies"][0] or not unclear["replies"][0]["card"], "nothing was checked yet"
    result = await visitor.say("有1 2 3")  # the checklist is still open
    assert result["replies"][0]["text"].startswith("还缺以下材料（一次性告知）：")
    assert result["replies"][0]["card"]["item"] == "存量房转移登记"


async def test_another_matter_during_the_checklist_is_not_taken_for_an_answer(visitor: Visitor) -> None:
    await start_precheck(visitor)
    complaint = await visitor.say("我有个问题要投诉，窗口不给办")
    assert complaint["flow"] == "complaint"


async def test_a_bundle_is_prechecked_against_its_merged_list(client: TestClient, visitor: Visitor) -> None:
    listed = await visitor.say("开公司要办哪些")
    assert listed["replies"][0]["text"].startswith("【企业开办】一件事")
    checklist = await visitor.say("预审")
    text = checklist["replies"][0]["text"]
    assert text.startswith("【企业开办】材料预审"), text
    assert "11 社会保险登记表" in text and "14 职工住房公积金账户设立清册（可容缺）" in text  # all 14, no paging
    # the licence and the seals are made within the bundle: not on its list
    assert "营业执照" not in text and "预留印鉴" not in text, text
    result = await visitor.say("1到10都有，11没有，12、13、14有")
    text = result["replies"][0]["text"]
    assert text.startswith("还缺以下材料（一次性告知）："), text
    assert "社会保险登记表是主要材料" in text and "公司章程" not in text
    card = result["replies"][0]["card"]
    assert card["item"] == "企业开办" and card["decision"] == "incomplete"
    record = await (await client.get(f"/api/v1/prechecks/{card['number']}", headers=visitor.headers)).json()
    assert record["item_name"] == "企业开办" and 11 not in record["have"] and 12 in record["have"]


async def test_numbers_right_after_a_bundle_list_check_the_merged_list(visitor: Visitor) -> None:
    listed = await visitor.say("开公司要办哪些")
    assert "“我有1、2”或“我有身份证”" in listed["replies"][0]["text"]
    result = await visitor.say("我有1到6")
    text = result["replies"][0]["text"]
    assert result["flow"] == "guide" and text.startswith("还缺以下材料（一次性告知）："), text
    for missing in ("经办人身份证件", "新办纳税人涉税事项综合申请表", "社会保险登记表", "住房公积金单位缴存登记表"):
        assert missing in text
    assert result["replies"][0]["card"]["item"] == "企业开办"


async def test_naming_materials_while_an_item_is_discussed_checks_that_item(visitor: Visitor) -> None:
    overview = await visitor.say("社保卡补办")
    assert overview["replies"][0]["text"].startswith("【社会保障卡申领、补换】")
    result = await visitor.say("我有身份证")
    text = result["replies"][0]["text"]
    assert result["replies"][0]["card"]["item"] == "社会保障卡申领、补换", text  # not the 身份证 item's check
    assert "社会保障卡申领登记表" in text and "居民身份证申领登记表" not in text
    other = await visitor.say("我有身份证，想办居住证")  # a new question, not more of the same check
    assert other["replies"][0]["text"].startswith("【居住证申领】") and not other["replies"][0].get("card", {}).get(
        "number")


async def test_more_materials_right_after_a_result_are_added_to_it(visitor: Visitor) -> None:
    await start_precheck(visitor)
    await visitor.say("有1 2 3")
    more = await visitor.say("4也有")
    assert more["replies"][0]["text"].startswith("主要材料已备齐，可以容缺受理"), more
    assert more["replies"][0]["card"]["decision"] == "deferrable"
    last = await visitor.say("结婚证也带了")
    assert last["replies"][0]["text"].startswith("材料齐全，可以直接到")
    # one pre-check updated, one number: a new 预审单号 for each addition confused people at the window
    numbers = {more["replies"][0]["card"]["number"], last["replies"][0]["card"]["number"]}
    assert len(numbers) == 1, numbers
    record = await visitor.client.get(f"/api/v1/prechecks/{numbers.pop()}", headers=visitor.headers)
    assert (await record.json())["decision"] == "complete"
    everything = await visitor.say("都有了")
    assert everything["replies"][0]["card"]["decision"] == "complete"
    assert last["replies"][0]["card"]["item"] == "存量房转移登记"
    question = await visitor.say("要多久")  # the check is over: a question is a question again
    assert question["replies"][0]["text"].startswith("【存量房转移登记】承诺")
    await visitor.say("预审")
    await visitor.say("有1 2 3")
    other = await visitor.say("我有身份证，想办居住证")  # a new question right after a result
    assert other["replies"][0]["text"].startswith("【居住证申领】")


async def test_all_but_one_is_read_as_a_checklist_answer_not_a_request_for_help(visitor: Visitor) -> None:
    for answer in ("除了住址证明都有", "除了3都有", "就差住址证明"):
        await visitor.say("重新开始")
        listed = await visitor.say("居住证要带什么")
        assert "3 居住地住址证明" in listed["replies"][0]["text"]
        result = await visitor.say(answer)
        assert result["flow"] == "guide", (answer, result)
        text = result["replies"][0]["text"]
        assert text.startswith("还缺以下材料") and "居住地住址证明" in text and "居民身份证" not in text, text


async def test_what_is_made_at_the_window_is_never_missing(visitor: Visitor) -> None:
    listed = await visitor.say("办护照要带什么")
    assert "中国公民出入境证件申请表（窗口现场办理）" in listed["replies"][0]["text"]
    result = await visitor.say("我有身份证")
    text = result["replies"][0]["text"]
    assert text.startswith("材料齐全"), text
    assert "中国公民出入境证件申请表、出入境证件照片在窗口现场办理，不用提前准备。" in text


async def test_a_material_the_item_does_not_need_does_not_switch_to_another_item(visitor: Visitor) -> None:
    await visitor.say("办护照")
    result = await visitor.say("身份证有，户口本没带")  # 户口本 is not on a passport's list
    assert result["flow"] == "guide" and result["replies"][0]["card"]["item"].startswith("普通护照签发"), result
    assert result["replies"][0]["text"].startswith("材料齐全")


async def test_a_document_that_serves_as_a_material_counts_as_it(visitor: Visitor) -> None:
    await visitor.say("居住证要什么材料")
    checked = await visitor.say("我有身份证和租房合同")  # 租房合同 is one of the 居住地住址证明 it accepts
    text = checked["replies"][0]["text"]
    assert checked["flow"] == "guide" and "居住地住址证明" not in text, text
    # 就业或就读证明 is only for those applying by work or study: listed with its situation, not to supply later
    assert text.startswith("材料齐全") and "如涉及以下情形，还需提供：\n• 就业或就读证明" in text, text


async def test_materials_named_before_the_matter_ask_for_the_matter(visitor: Visitor) -> None:
    await visitor.say("材料预审")
    named = await visitor.say("我有身份证 户口本")  # 身份证 is also an item's name: still materials, not the matter
    assert named["replies"][0]["text"].startswith("请先告诉我要办理什么事项"), named
    checklist = await visitor.say("办居住证")
    assert "材料预审" in checklist["replies"][0]["text"], checklist


async def test_everyday_names_of_materials_count(visitor: Visitor) -> None:
    await visitor.say("护照要什么材料")
    passport = await visitor.say("我有身份证和旧护照")  # 旧护照 is the 原护照 asked for on renewal
    assert passport["replies"][0]["text"].startswith("材料齐全"), passport
    assert "原护照" not in passport["replies"][0]["text"]
    await visitor.say("个体户营业执照要什么材料")
    lease = await visitor.say("我有身份证 租房合同")  # a lease is what 经营场所使用证明 means
    text = lease["replies"][0]["text"]
    assert lease["flow"] == "guide" and text.startswith("还缺以下材料"), lease
    assert "个体工商户登记（备案）申请书" in text and "经营场所使用证明" not in text, text
    await visitor.say("二手房过户要带啥")
    await visitor.say("我有身份证")
    deed = await visitor.say("房本也有")  # 房本 is the 不动产权证书, added to the result; not 不动产权证书补发
    text = deed["replies"][0]["text"]
    assert deed["flow"] == "guide" and text.startswith("还缺以下材料") and "不动产权证书" not in text, deed


async def test_with_a_main_material_missing_the_deferrable_ones_are_still_marked(visitor: Visitor) -> None:
    await visitor.say("二手房过户要什么材料")
    result = await visitor.say("我只有房产证")
    text = result["replies"][0]["text"]
    assert text.startswith("还缺以下材料（一次性告知）："), text
    assert "• 存量房买卖合同：" in text  # main: no mark
    assert "• 婚姻状况声明或结婚证（可容缺，受理后补交）：" in text, text
    # needed only in some situations ("信息比对无法确认时提交"): listed with them, not as 容缺 for everyone
    await visitor.say("失业金要什么材料")
    jobless = (await visitor.say("我只有银行卡"))["replies"][0]["text"]
    assert "如涉及以下情形，还需提供：\n• 解除或终止劳动关系证明：" in jobless and "容缺" not in jobless, jobless


async def test_asking_what_is_still_missing_is_no_claim_to_have_everything(visitor: Visitor) -> None:
    for item in ("二手房过户要带啥", "居住证要带什么材料"):
        await visitor.say(item)
        for asked in ("还缺啥", "还缺什么"):
            reply = await visitor.say(asked)  # read as "就差…": 材料齐全 and a pre-check number
            text = reply["replies"][0]["text"]
            assert "材料齐全" not in text and "预审单号" not in text, (item, asked, reply)
            assert "材料预审" in text, (item, asked, reply)  # the checklist, to say what one has


async def test_a_precheck_looked_up_later_marks_what_is_only_sometimes_needed(visitor: Visitor) -> None:
    await visitor.say("二手房过户要带啥")
    result = await visitor.say("我有身份证和房产证，户口本没带")
    number = result["replies"][0]["card"]["number"]
    looked_up = (await visitor.say(number))["replies"][0]["text"]
    assert "  - 存量房买卖合同\n" in looked_up, looked_up  # main: plainly missing
    assert "  - 婚姻状况声明或结婚证（可容缺，受理后补交）" in looked_up
    assert "  - 授权委托书及代理人身份证明（视情况提供）" in looked_up


async def test_a_material_of_the_item_in_context_is_asked_about_that_item(visitor: Visitor) -> None:
    await visitor.say("二手房过户要带啥")
    deferred = await visitor.say("结婚证没带能先办吗")  # not 结婚登记, which 结婚证 names too
    assert deferred["replies"][0]["text"] == \
        "【存量房转移登记】的“婚姻状况声明或结婚证”可以容缺：没带也能先受理，5 个工作日内补交就行。", deferred
    fee = await visitor.say("要交多少钱")  # still 存量房
    assert fee["replies"][0]["text"].startswith("【存量房转移登记】收费"), fee
    main = await visitor.say("房产证没带能先办吗")
    assert main["replies"][0]["text"].startswith("【存量房转移登记】的“不动产权证书”是主要材料"), main
    sometimes = await visitor.say("委托书要吗")  # not "没太明白"
    expected = "【存量房转移登记】的“授权委托书及代理人身份证明”只在有些情况下"
    assert sometimes["replies"][0]["text"].startswith(expected), sometimes
    await visitor.say("二手房过户要带啥")
    answer = await visitor.say("我有身份证 房产证，结婚证没带")  # what one has: the checklist's answer
    assert answer["replies"][0]["text"].startswith("还缺以下材料"), answer
    other = await visitor.say("身份证丢了怎么补")  # another item named outright still switches
    assert other["replies"][0]["text"].startswith("【居民身份证换领、补领】"), other


async def test_a_material_asked_about_by_part_of_its_name_after_a_result(client: TestClient) -> None:
    newborn = await new_visitor(client)
    await newborn.say("孩子出生了上户口")
    await newborn.say("我有出生医学证明和户口本")
    await newborn.say("身份证也有")
    later = await newborn.say("结婚证没带 能先办吗")  # 父母结婚证 of 出生登记, not 结婚登记
    expected = "【出生登记（新生儿落户）】的“父母结婚证”可以容缺：没带也能先受理，5 个工作日内补交就行。"
    assert later["replies"][0]["text"] == expected, later
    jobless = await new_visitor(client)
    await jobless.say("失业金要啥材料")
    await jobless.say("我有身份证 银行卡")
    proof = await jobless.say("离职证明还没拿到能先办吗")  # not 公积金提取（解除劳动关系）
    assert proof["replies"][0]["text"].startswith("【失业保险金申领】的“解除或终止劳动关系证明”可以容缺"), proof


async def test_what_is_still_missing_after_a_result_is_said_in_a_line(visitor: Visitor) -> None:
    await visitor.say("二手房过户")
    await visitor.say("我有身份证和房产证")
    for question in ("还缺啥", "还差什么"):  # not the whole checklist again
        still = await visitor.say(question)
        expected = "【存量房转移登记】按您说的，还缺：存量房买卖合同、婚姻状况声明或结婚证（可容缺）。"
        assert still["replies"][0]["text"] == expected, (question, still)
    await visitor.say("合同也有了")
    await visitor.say("结婚证也带了")
    done = await visitor.say("还缺啥")
    assert done["replies"][0]["text"] == "【存量房转移登记】按您说的，材料都齐了。", done


async def test_both_ids_brought_is_not_everything_brought(client: TestClient) -> None:
    for said in ("我俩身份证都带了", "两个人身份证都有"):
        visitor = await new_visitor(client)
        await visitor.say("孩子出生了要上户口")
        result = await visitor.say(said)  # the parents' IDs: not "材料齐全"
        text = result["replies"][0]["text"]
        assert "还缺以下材料" in text and "《出生医学证明》" in text and "户口簿" in text, (said, result)
        assert "父母居民身份证" not in text, (said, result)
    poor = await new_visitor(client)
    await poor.say("我要办低保")
    await poor.say("啥材料")
    both = await poor.say("户口本有身份证有")  # two materials, no comma: not the 身份证 item
    assert both["flow"] == "guide" and "最低生活保障" in str(both["replies"][0].get("card")), both


async def test_a_material_asked_about_by_its_last_word(client: TestClient) -> None:
    residence = await new_visitor(client)
    await residence.say("办居住证要带啥")
    photo = await residence.say("照片没带能先办吗")  # not "暂时没有“照片没带先”的办事指南"
    assert photo["replies"][0]["text"].startswith("【居住证申领】的“近期免冠证件照片”"), photo
    job = await residence.say("就业证明没有咋办")  # not 《就业创业证》申领
    assert job["replies"][0]["text"].startswith("【居住证申领】的“就业或就读证明”可以容缺"), job
    house = await new_visitor(client)
    await house.say("二手房过户要带啥")
    contract = await house.say("合同没带能先办吗")  # the sale contract: a main material
    assert contract["replies"][0]["text"].startswith("【存量房转移登记】的“存量房买卖合同”是主要材料"), contract


async def test_where_to_go_when_complete_reads_as_a_sentence(visitor: Visitor) -> None:
    await visitor.say("居住证预审")
    done = await visitor.say("都有")
    expected = "材料齐全，可以直接到县政务服务中心一楼综合窗口（户政），或居住地派出所办理。"
    assert done["replies"][0]["text"].startswith(expected), done


async def test_answers_without_punctuation_that_mix_had_and_missing(client: TestClient) -> None:
    cases = (
        # (item asked, answer, missing expected, had that must not be listed as missing)
        ("二手房过户要带啥", "身份证 房产证 合同都有 结婚证没有", "婚姻状况声明或结婚证",
         ("买卖双方身份证明", "不动产权证书")),
        ("二手房过户要带啥", "我有身份证 房产证 还有买卖合同 结婚证忘带了", "婚姻状况声明或结婚证", ("不动产权证书",)),
        ("公积金租房提取要带啥", "我有身份证和银行卡 租房合同没有", "租赁", ("本人银行卡",)),
    )
    for question, answer, missing, had in cases:
        visitor = await new_visitor(client)
        await visitor.say(question)
        checked = await visitor.say(answer)
        text = checked["replies"][0]["text"]
        assert checked["flow"] == "guide" and missing in text and "材料齐全" not in text, (answer, checked)
        for name in had:
            assert f"• {name}" not in text, (answer, name, text)


async def test_a_material_needed_only_in_some_cases_is_not_owed_as_deferred(visitor: Visitor) -> None:
    await visitor.say("公积金买房提取要带啥")
    checked = await visitor.say("身份证 购房合同 发票都有 银行卡也有")
    text = checked["replies"][0]["text"]
    # it said "容缺受理…5 个工作日内补交：结婚证", though the 结婚证 is only for drawing on the spouse's account
    assert text.startswith("材料齐全") and "容缺" not in text and "提取配偶账户时提交" in text, checked


async def test_whether_the_window_accepts_now_is_answered_from_the_result(visitor: Visitor) -> None:
    await visitor.say("二手房过户 帮我预审一下材料")
    await visitor.say("我有房产证")
    not_yet = await visitor.say("能先收吗")  # was "没太明白"
    assert not_yet["flow"] == "guide"
    text = not_yet["replies"][0]["text"]
    assert text.startswith("【存量房转移登记】还不能先受理：") and "存量房买卖合同" in text, not_yet
    assert text.endswith("备齐后，婚姻状况声明或结婚证可以受理后再补交。"), not_yet
    await visitor.say("申请书 身份证明 买卖合同都有了")
    now = await visitor.say("可以先受理吗")
    text = now["replies"][0]["text"]
    assert text.startswith("【存量房转移登记】可以先受理"), now
    assert "婚姻状况声明或结婚证签承诺书后 5 个工作日内补交" in text, now
    await visitor.say("结婚证也带了")
    done = await visitor.say("能先办吗")
    assert done["replies"][0]["text"] == "【存量房转移登记】材料都齐了，可以直接受理，不用容缺。", done


async def test_whether_a_missing_material_can_wait_is_asked_of_the_right_item_and_material(client: TestClient) -> None:
    first = await new_visitor(client)
    resale = await first.say("二手房过户 没带结婚证能先办吗")  # was 结婚登记's checklist (结婚证 names it too)
    assert resale["replies"][0]["text"].startswith("【存量房转移登记】的“婚姻状况声明或结婚证”可以容缺"), resale
    fund = await (await new_visitor(client)).say("公积金租房提取 结婚证忘带了 能先受理吗")  # was the conditions
    assert fund["replies"][0]["text"].startswith("【住房公积金提取（租赁住房）】的“结婚证”可以容缺"), fund
    trader = await new_visitor(client)
    await trader.say("个体户要带啥")
    said = await trader.say("我只有身份证 没有经营场所证明 能先办吗")  # the one missing, not the 身份证 they have
    assert said["replies"][0]["text"].startswith("【个体工商户设立登记】的“经营场所使用证明”是主要材料"), said
