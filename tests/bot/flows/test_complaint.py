"""The "办不成事" intake in chat (flow `complaint`), progress and 好差评, through the HTTP API."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from bot.choices import resolve_choice
from bot.flows.feedback import rating_buttons
from bot.typedefs import CALENDAR, CASES
from core.clock import today_local
from handoff.calendar import date_in_words
from tests.conftest import Visitor, new_visitor
from tests.handoff.conftest import draft


def due_words(client: TestClient, days: int) -> str:
    """The due date a case filed today gets, in words."""
    return date_in_words(client.app[CALENDAR].deadline(today_local(), days).due_date)


async def file_the_example(visitor: Visitor) -> dict:
    """The conversation of CONVERSATIONS.md §3, up to the filing reply."""
    first = await visitor.say("我都跑了三趟了，公积金还是取不出来")
    assert first["flow"] == "complaint"
    assert first["replies"][0]["text"].startswith("非常抱歉让您多跑了")
    assert "窗口说不能办的原因" in first["replies"][1]["text"]
    await visitor.say("说我租房合同没备案，房东不给备案")
    await visitor.say("跳过")  # where and when
    await visitor.say("希望能先提取")  # what they want
    phone_question = await visitor.say("我姓王")
    assert "联系电话" in phone_question["replies"][0]["text"]
    wrong = await visitor.say("1391234")
    assert "号码好像不对" in wrong["replies"][0]["text"]
    summary = await visitor.say("１３９１２３４５６７８")
    text = summary["replies"][0]["text"]
    assert text.startswith("请确认：")
    for part in ("事项：住房公积金提取（租赁住房）", "租房合同没备案", "诉求：希望能先提取", "称呼：王"):
        assert part in text, text
    assert "电话：139****5678" in text and "13912345678" not in text
    assert [b["title"] for b in summary["replies"][0]["buttons"]] == ["确认", "修改"]
    return await visitor.say("确认")


async def test_complaint_is_collected_confirmed_and_filed(client: TestClient, visitor: Visitor) -> None:
    filed = await file_the_example(visitor)
    assert filed["flow"] == "complaint"
    text = filed["replies"][0]["text"]
    case_no = text.split("编号 ")[1].split("。")[0]
    assert case_no.startswith("BBC") and len(case_no) == len("BBC20261122-0003")
    assert f"我们将在{due_words(client, 3)}前答复您" in text
    assert f"最迟{due_words(client, 7)}前办结" in text
    case = await client.app[CASES].get(case_no)
    assert case.phone == "13912345678" and case.name == "王" and case.user_id == visitor.user_id
    assert case.item_name == "住房公积金提取（租赁住房）" and case.window == "公积金"
    assert case.happened == "我都跑了三趟了，公积金还是取不出来；说我租房合同没备案，房东不给备案"
    assert case.wants == "希望能先提取"
    # The flow is over: the next message is a new conversation.
    after = await visitor.say("谢谢")
    assert after["flow"] == "smalltalk"


async def test_edit_a_field_before_confirming(visitor: Visitor) -> None:
    await visitor.say("我要反映办不成事")
    await visitor.say("营业执照变更窗口一直拖着不给办")
    for answer in ("跳过", "跳过", "跳过", "13800001111"):
        summary = await visitor.say(answer)
    assert "138****1111" in summary["replies"][0]["text"]
    which = await visitor.say("修改")
    assert [b["title"] for b in which["replies"][0]["buttons"]][-1] == "电话"
    ask = await visitor.say("6")
    assert "联系电话" in ask["replies"][0]["text"]
    again = await visitor.say("13900002222")
    assert "139****2222" in again["replies"][0]["text"] and again["replies"][0]["text"].startswith("请确认")
    filed = await visitor.say("确认")
    assert "已受理，编号 BBC" in filed["replies"][0]["text"]


async def test_cancel_in_the_middle_files_nothing(client: TestClient, visitor: Visitor) -> None:
    await visitor.say("我要投诉，社保卡补办跑了好几次")
    cancelled = await visitor.say("取消")
    assert cancelled["replies"][0]["text"].startswith("好的，已取消")
    assert await client.app[CASES].of_user(visitor.user_id) == []


async def test_a_retried_confirmation_files_one_case(client: TestClient, visitor: Visitor) -> None:
    await visitor.say("我都跑了三趟了，公积金还是取不出来")
    for answer in ("说租房合同没备案", "跳过", "跳过", "跳过", "13912345678"):
        await visitor.say(answer)
    first = await visitor.say("确认", msg_id="confirm-1")
    again = await visitor.say("确认", msg_id="confirm-1")
    assert again == first
    assert len(await client.app[CASES].of_user(visitor.user_id)) == 1


async def test_progress_lists_own_cases_and_shows_history(client: TestClient, visitor: Visitor) -> None:
    nothing = await visitor.say("我的事办到哪了")
    assert nothing["flow"] == "progress" and "还没有办理记录" in nothing["replies"][0]["text"]
    filed = await file_the_example(visitor)
    case_no = filed["replies"][0]["buttons"][0]["payload"]
    listing = await visitor.say("查进度")
    assert case_no in listing["replies"][0]["text"] and "前答复" in listing["replies"][0]["text"]
    assert "办理中" in listing["replies"][0]["text"]
    classified = (await visitor.say(case_no))["replies"][0]["card"]["timeline"][1]["text"]
    # what happens next in plain words, not the internal category (办不了, 一般)
    assert classified == "已交市住房公积金管理中心县管理部办理，3 个工作日内答复", classified
    await client.app[CASES].transfer(case_no, "staff:li", window="公积金", department="县住房公积金管理中心")
    detail = await visitor.say(case_no)
    text = detail["replies"][0]["text"]
    assert detail["flow"] == "progress" and text.startswith(f"【{case_no}】")
    assert "已受理" in text and "已转交县住房公积金管理中心办理" in text
    card = detail["replies"][0]["card"]  # the timeline as structured JSON (mini-program, web)
    assert (card["type"], card["case_no"], card["status"]) == ("case", case_no, "transferred")
    assert [e["kind"] for e in card["timeline"]] == ["accepted", "classified", "transferred"]
    assert card["timeline"][-1]["text"] == "已转交县住房公积金管理中心办理"
    # Someone else with the number must give the phone it was filed with.
    stranger = await new_visitor(client)
    ask = await stranger.say(case_no)
    assert "手机号" in ask["replies"][0]["text"] and "租房" not in ask["replies"][0]["text"]
    wrong = await stranger.say("13800000000")
    assert "没有找到" in wrong["replies"][0]["text"]
    right = await stranger.say("13912345678")
    assert right["replies"][0]["text"].startswith(f"【{case_no}】")


async def test_a_rating_button_is_a_rating_whatever_its_number_looks_like(visitor: Visitor) -> None:
    """A button's payload is exact; the digits of its case number must not send it elsewhere. (The classifier
    read "评价 BBC20261123-… 2" as a progress query on 23 November, when every new case number had those
    digits, which its progress examples have too.)"""
    for case_no in ("BBC20261123-0008", "BBC20261122-0003", "GD20270101-0001"):
        pressed = await visitor.say(f"评价 {case_no} 2")
        assert pressed["flow"] == "feedback", (case_no, pressed)
        assert pressed["replies"][0]["text"] == "这个案件已经评价过，或还没有办结，暂时不能评价。"


async def test_resolution_is_pushed_and_rated_in_the_same_chat(client: TestClient, visitor: Visitor) -> None:
    filed = await file_the_example(visitor)
    case_no = filed["replies"][0]["buttons"][0]["payload"]
    await client.app[CASES].resolve(case_no, "staff:li", result="已协调，可凭承诺书提取")
    pushed = await client.get("/api/v1/messages", headers=visitor.headers)
    messages = (await pushed.json())["messages"]
    assert "已办结：已协调，可凭承诺书提取" in messages[-2]["text"]
    buttons = messages[-1]["buttons"]
    assert [b["title"] for b in buttons] == ["非常不满意", "不满意", "基本满意", "满意", "非常满意"]
    ask = await visitor.say(buttons[1]["payload"])
    assert ask["flow"] == "feedback" and "意见或建议" in ask["replies"][0]["text"]
    done = await visitor.say("等太久了")
    assert "已转主管跟进" in done["replies"][0]["text"]
    case = await client.app[CASES].get(case_no)
    assert (case.status, case.rating) == ("closed", 2)
    twice = await visitor.say(buttons[0]["payload"])
    assert "暂时不能评价" in twice["replies"][0]["text"]


async def test_a_complaint_that_names_no_matter_asks_for_it(client: TestClient, visitor: Visitor) -> None:
    first = await visitor.say("办不成事反映")
    assert first["flow"] == "complaint" and "不能办的原因" in first["replies"][1]["text"]
    ask_item = await visitor.say("窗口说我材料不全，让我回去再准备")
    assert "您当时想办理什么事" in ask_item["replies"][0]["text"]
    await visitor.say("社保卡补办")
    for answer in ("跳过", "跳过", "跳过"):
        await visitor.say(answer)
    summary = await visitor.say("13912345678")
    assert "事项：社会保障卡申领、补换" in summary["replies"][0]["text"]
    which = await visitor.say("修改")
    again = await visitor.say("1")  # 事项
    assert "您当时想办理什么事" in again["replies"][0]["text"]
    back = await visitor.say("公积金提取")
    assert back["replies"][0]["text"].startswith("请确认") and which["flow"] == "complaint"


async def test_a_phone_number_given_for_the_matter_is_kept_as_the_phone(client: TestClient, visitor: Visitor) -> None:
    await visitor.say("办不成事反映")
    ask_item = await visitor.say("窗口说我材料不全，让我回去再准备")
    assert "您当时想办理什么事" in ask_item["replies"][0]["text"]
    noted = await visitor.say("139 1234 5678")
    texts = [reply["text"] for reply in noted["replies"]]
    assert noted["flow"] == "complaint" and texts[0] == "好的，电话 139****5678 已记下。"
    assert "您当时想办理什么事" in texts[1]  # asked again, not filed as the matter
    await visitor.say("社保卡补办")
    await visitor.say("跳过")  # where and when
    await visitor.say("跳过")  # what they want
    summary = await visitor.say("13800001111")  # a number given for the name is kept as the phone too
    assert summary["replies"][0]["text"] == "好的，电话 138****1111 已记下。"
    summary = await visitor.say("跳过")  # the name; the phone is not asked for again
    text = summary["replies"][0]["text"]
    assert text.startswith("请确认：") and "事项：社会保障卡申领、补换" in text and "电话：138****1111" in text
    filed = await visitor.say("确认")
    case_no = filed["replies"][0]["text"].split("编号 ")[1].split("。")[0]
    case = await client.app[CASES].get(case_no)
    assert (case.phone, case.name, case.item_name) == ("13800001111", None, "社会保障卡申领、补换")


async def test_help_in_the_middle_of_a_complaint_then_carry_on(client: TestClient, visitor: Visitor) -> None:
    await visitor.say("我都跑了三趟了，公积金还是取不出来")
    await visitor.say("说租房合同没备案")
    menu = await visitor.say("帮助")
    assert menu["flow"] == "smalltalk" and menu["replies"][0]["buttons"]
    # the question that was pending is still pending: the answer goes on where it left off
    for answer in ("跳过", "跳过", "跳过"):
        reply = await visitor.say(answer)
    assert "联系电话" in reply["replies"][0]["text"]
    summary = await visitor.say("13912345678")
    assert summary["flow"] == "complaint" and summary["replies"][0]["text"].startswith("请确认")


async def test_a_stray_word_is_not_filed_as_an_answer(client: TestClient, visitor: Visitor) -> None:
    await visitor.say("办不成事反映")
    stray = await visitor.say("确认")  # to "窗口说不能办的原因是什么？"
    texts = [reply["text"] for reply in stray["replies"]]
    assert stray["flow"] == "complaint" and texts[0].startswith("抱歉，我没太明白。请回答下面的问题")
    assert "不能办的原因" in texts[1]  # the same question again, not the next one
    progress = await visitor.say("进度")
    texts = [reply["text"] for reply in progress["replies"]]
    assert texts[0].startswith("这次的反映还没有提交。要查以前的办理进度，请先回复“取消”")
    assert "不能办的原因" in texts[1]
    await visitor.say("窗口说我材料不全，让我回去再准备")
    again = await visitor.say("好的")  # to "您当时想办理什么事？"
    assert "您当时想办理什么事" in again["replies"][1]["text"]
    await visitor.say("社保卡补办")
    await visitor.say("没有")  # where and when: a skip word still skips an optional question
    await visitor.say("跳过")
    await visitor.say("跳过")
    summary = await visitor.say("13912345678")
    text = summary["replies"][0]["text"]
    assert text.startswith("请确认：") and "事项：社会保障卡申领、补换" in text
    assert "情况：窗口说我材料不全，让我回去再准备" in text
    filed = await visitor.say("确认")
    case_no = filed["replies"][0]["text"].split("编号 ")[1].split("。")[0]
    case = await client.app[CASES].get(case_no)
    assert case.happened == "窗口说我材料不全，让我回去再准备" and case.where_when == ""


async def test_corrections_at_the_summary_are_taken(client: TestClient, visitor: Visitor) -> None:
    await visitor.say("我都跑了三趟了，公积金还是取不出来")
    await visitor.say("说我租房合同没备案")
    when = await visitor.say("那要多久有结果")  # a question, not the time and place
    texts = [reply["text"] for reply in when["replies"]]
    assert texts[0].startswith("提交后，我们一般在 3 个工作日内答复；情况复杂的，最长 7 个工作日")
    assert "什么时候、在哪个窗口" in texts[1]
    for answer in ("跳过", "跳过", "跳过", "13912345678"):
        summary = await visitor.say(answer)
    assert "时间地点" not in summary["replies"][0]["text"]
    changed = await visitor.say("电话写错了，是13700006666")
    texts = [reply["text"] for reply in changed["replies"]]
    assert texts[0] == "好的，电话已改为 137****6666。" and "电话：137****6666" in texts[1]
    await visitor.say("修改")
    ask = await visitor.say("诉求")  # the button's title typed, not pressed
    assert "您希望怎么解决" in ask["replies"][0]["text"]
    await visitor.say("希望尽快提取")
    await visitor.say("修改")
    ask = await visitor.say("手机号")
    assert "联系电话" in ask["replies"][0]["text"]
    await visitor.say("13800001111")
    filed = await visitor.say("确认")
    case_no = filed["replies"][0]["text"].split("编号 ")[1].split("。")[0]
    case = await client.app[CASES].get(case_no)
    assert (case.phone, case.wants, case.where_when) == ("13800001111", "希望尽快提取", "")


async def test_a_resolved_case_is_rated_by_typing_the_level(client: TestClient, visitor: Visitor) -> None:
    filed = await file_the_example(visitor)
    case_no = filed["replies"][0]["buttons"][0]["payload"]
    await client.app[CASES].resolve(case_no, "staff:li", result="已协调，可凭承诺书提取")
    ask = await visitor.say("满意")  # typed, as a WeChat follower does, not the pushed notice's button
    assert ask["flow"] == "feedback" and "意见或建议" in ask["replies"][0]["text"]
    done = await visitor.say("跳过")
    assert done["replies"][0]["text"] == "已收到您的评价：满意。谢谢！"
    assert (await client.app[CASES].get(case_no)).rating == 4



def test_a_button_title_typed_chooses_that_button() -> None:
    buttons = [b.to_json() for b in rating_buttons("BBC20261124-0001")]
    assert resolve_choice("满意", buttons) == "评价 BBC20261124-0001 4"
    assert resolve_choice("非常不满意", buttons) == "评价 BBC20261124-0001 1"
    assert resolve_choice("2", buttons) == "评价 BBC20261124-0001 2"  # by its place, worst first
    assert resolve_choice("5", buttons) == "评价 BBC20261124-0001 5"  # a typed "5" is five stars
    assert resolve_choice("挺满意", buttons) is None


async def test_urging_a_case_reaches_its_history_once_a_day(client: TestClient, visitor: Visitor) -> None:
    nothing = await visitor.say("能催一下吗")
    assert nothing["flow"] == "progress" and nothing["replies"][0]["text"].startswith("您目前没有正在办理的反映")
    filed = await file_the_example(visitor)
    case_no = filed["replies"][0]["buttons"][0]["payload"]
    urged = await visitor.say("能催一下吗")
    assert urged["flow"] == "progress", urged
    text = urged["replies"][0]["text"]
    assert text.startswith(f"已为您催办 {case_no}，已提醒市住房公积金管理中心县管理部尽快处理")
    assert f"最迟 {due_words(client, 3)}前答复您" in text
    again = await visitor.say("帮我催一下")
    assert again["replies"][0]["text"].startswith(f"{case_no} 今天已经催办过了")
    service = client.app[CASES]
    events = await service.events(await service.get(case_no), public_only=True)
    assert [e.kind for e in events].count("urged") == 1 and events[-1].actor == "citizen"
    history = (await visitor.say(case_no))["replies"][0]["card"]["timeline"]
    assert history[-1]["text"] == "您催办了一次"

    # Two open cases: which one? The button urges the one chosen.
    second, _ = await service.file(draft(user_id=visitor.user_id, phone="13900001111", item_name="社会保障卡补领"))
    which = await visitor.say("催办")
    assert which["replies"][0]["text"] == "您有几件正在办理的反映，要催办哪一件？"
    assert [b["payload"] for b in which["replies"][0]["buttons"]] == [f"催办 {second.case_no}", f"催办 {case_no}"]
    chosen = await visitor.say("1")
    assert chosen["replies"][0]["text"].startswith(f"已为您催办 {second.case_no}")

    # Someone else's number is not theirs to urge, nor to learn anything about.
    stranger = await new_visitor(client)
    refused = await stranger.say(f"催办 {case_no}")
    assert refused["replies"][0]["text"] == "没有找到您的这个案件编号，请核对。"
    await service.resolve(second.case_no, "staff:li", result="已补领")
    finished = await visitor.say(f"催办 {second.case_no}")
    assert finished["replies"][0]["text"] == f"{second.case_no} 已办结：已补领。"
    # With nothing open, "能催一下吗" says what became of the latest case rather than only "nothing open".
    await service.resolve(case_no, "staff:li", result="已协调提取")
    latest = await visitor.say("能催一下吗")
    assert latest["replies"][0]["text"] == f"{second.case_no} 已办结：已补领。", latest  # the newest case


async def test_an_id_number_in_a_complaint_is_neither_kept_nor_taken_for_the_matter(
        client: TestClient, visitor: Visitor) -> None:
    await visitor.say("办不成事反映")
    await visitor.say("社保窗口说我档案年龄不对，不给办退休；我身份证号320102196501011234")
    for answer in ("跳过", "跳过", "跳过"):  # where and when, what they want, their name
        asked = await visitor.say(answer)
    assert "联系电话" in asked["replies"][-1]["text"], asked
    summary = await visitor.say("13311112222")
    text = summary["replies"][0]["text"]
    assert text.startswith("请确认：") and "档案年龄不对" in text
    assert "320102" not in text and "身份证" not in text, text
    filed = await visitor.say("确认")
    case_no = filed["replies"][0]["buttons"][0]["payload"]
    case = await client.app[CASES].get(case_no)
    assert "320102" not in case.happened and "身份证" not in (case.item_name or "")


async def test_short_answers_to_the_questions_skip_them_and_lose_nothing(client: TestClient, visitor: Visitor) -> None:
    await visitor.say("我都跑了三趟了，公积金还是取不出来")
    reason = await visitor.say("房东不配合")  # read as a refusal by the classifier, but it is the reason
    assert "什么时候、在哪个窗口" in reason["replies"][0]["text"], reason
    forgot = await visitor.say("不记得了")  # not 取消
    assert forgot["flow"] == "complaint" and "您希望怎么解决" in forgot["replies"][0]["text"], forgot
    wants = await visitor.say("希望一次告诉我要什么")  # an answer, though the classifier may read 帮助 into it
    assert wants["flow"] == "complaint" and "怎么称呼您" in wants["replies"][0]["text"], wants
    # A bare 不是 is still no name.
    assert (await visitor.say("不是"))["replies"][0]["text"].startswith("抱歉，我没太明白")
    await visitor.say("跳过")
    summary = await visitor.say("0571-88889999")
    text = summary["replies"][0]["text"]
    assert "房东不配合" in text and "诉求：希望一次告诉我要什么" in text
    assert "电话：0571-****9999" in text  # a landline keeps its area code
    filed = await visitor.say("确认")
    assert filed["replies"][0]["text"].startswith("已受理")


async def test_a_level_typed_with_its_reason_rates_and_keeps_the_reason(client: TestClient, visitor: Visitor) -> None:
    filed = await file_the_example(visitor)
    case_no = filed["replies"][0]["buttons"][0]["payload"]
    await client.app[CASES].resolve(case_no, "staff:li", result="已协调")
    rated = await visitor.say("不满意，拖了这么久")
    assert rated["flow"] == "feedback" and "已转主管跟进" in rated["replies"][0]["text"], rated
    case = await client.app[CASES].get(case_no)
    assert case.rating == 2
    events = await client.app[CASES].events(case, public_only=False)
    assert events[-1].kind == "feedback" and events[-1].note == "拖了这么久"
    # With nothing to rate, "满意，谢谢你们" is thanks for the answer.
    assert (await visitor.say("满意，谢谢你们"))["replies"][0]["text"].startswith("不客气")


async def test_a_paused_case_is_supplemented_in_the_chat(client: TestClient, visitor: Visitor) -> None:
    filed = await file_the_example(visitor)
    case_no = filed["replies"][0]["buttons"][0]["payload"]
    service = client.app[CASES]
    await service.pause(case_no, "staff:li", reason="房东拒绝备案的情况说明")
    messages = (await (await client.get("/api/v1/messages", headers=visitor.headers)).json())["messages"]
    notice = messages[-1]
    assert "需要您补充：房东拒绝备案的情况说明" in notice["text"] and "点“补充说明”" in notice["text"]
    assert [b["title"] for b in notice["buttons"]] == ["补充说明", "查询进度"]
    asked = await visitor.say("1")  # the pushed notice's first button
    assert asked["flow"] == "progress" and asked["replies"][0]["text"].startswith("请直接发送要补充的说明"), asked
    done = await visitor.say("房东说要先交齐押金才给备案，我已经打了 12345 热线")
    assert done["replies"][0]["text"].startswith("已收到您的补充说明，已转给市住房公积金管理中心县管理部")
    events = await service.events(await service.get(case_no), public_only=True)
    assert (events[-1].kind, events[-1].actor) == ("supplemented", "citizen")
    assert events[-1].note == "房东说要先交齐押金才给备案，我已经打了 12345 热线"
    # Once the supplement is in, the next message is an ordinary one again.
    assert (await visitor.say("你好"))["flow"] == "smalltalk"
    # Typed instead of pressed: the case still waiting for the citizen takes it.
    typed = await visitor.say("我要补充材料")
    assert typed["flow"] == "progress" and typed["replies"][0]["text"].startswith("请直接发送要补充的说明"), typed
    await visitor.say("租房合同备案回执明天送到窗口")
    events = await service.events(await service.get(case_no), public_only=True)
    assert events[-1].note == "租房合同备案回执明天送到窗口"
    nobody = await new_visitor(client)
    assert (await nobody.say("我要补充材料"))["replies"][0]["text"].startswith("您目前没有正在办理的反映")
    about_item = await nobody.say("居住证补充材料要带什么")  # names a service item: a guide question
    assert about_item["flow"] == "guide", about_item
    stranger = await new_visitor(client)
    refused = await stranger.say(f"补正 {case_no}")
    assert refused["replies"][0]["text"] == "没有找到您的这个案件编号，请核对。"


async def test_something_added_to_a_case_being_worked_is_kept_on_it(client: TestClient, visitor: Visitor) -> None:
    filed = await file_the_example(visitor)
    case_no = filed["replies"][0]["buttons"][0]["payload"]
    service = client.app[CASES]
    added = await visitor.say("我再补充一点 窗口那个人态度也很差")  # not a new complaint
    assert added["flow"] == "progress" and added["replies"][0]["text"] == \
        "已收到您的补充说明，已转给市住房公积金管理中心县管理部。", added  # not paused: nothing to resume
    named = await visitor.say(f"补充说明 {case_no} 窗口态度差")
    assert named["replies"][0]["text"].startswith("已收到您的补充说明"), named
    asked = await visitor.say("我要补充一下")  # nothing said yet: asked for
    assert asked["replies"][0]["text"].startswith(f"请直接发送要补充的说明（编号 {case_no}）"), asked
    await visitor.say("他们推来推去")
    notes = [e.note for e in await service.events(await service.get(case_no), public_only=True)
             if e.kind == "supplemented"]
    assert notes == ["我再补充一点 窗口那个人态度也很差", f"补充说明 {case_no} 窗口态度差", "他们推来推去"]
    assert len(await service.of_user(visitor.user_id, limit=10)) == 1  # no second case


async def test_a_case_is_withdrawn_after_a_confirmation(client: TestClient, visitor: Visitor) -> None:
    filed = await file_the_example(visitor)
    case_no = filed["replies"][0]["buttons"][0]["payload"]
    asked = await visitor.say("我的问题解决了，撤销反映")
    assert asked["flow"] == "progress", asked
    assert asked["replies"][0]["text"].startswith(f"确定撤回 {case_no}（住房公积金提取（租赁住房））吗")
    assert [b["title"] for b in asked["replies"][0]["buttons"]] == ["确认撤回", "继续办理"]
    assert (await client.app[CASES].get(case_no)).status != "withdrawn"  # nothing until confirmed
    kept = await visitor.say("不了")  # a typed no keeps it
    assert kept["replies"][0]["text"] == f"好的，{case_no} 继续办理。", kept
    await visitor.say("撤销反映")
    done = await visitor.say("确认")  # typed, not the button
    assert done["replies"][0]["text"].startswith(f"已撤回 {case_no}"), done
    case = await client.app[CASES].get(case_no)
    assert case.status == "withdrawn" and not case.is_open
    assert "已撤回" in (await visitor.say("查进度"))["replies"][0]["text"]
    again = await visitor.say("撤销反映")
    assert [r["text"] for r in again["replies"]] == [f"{case_no} 已撤回。", "您目前没有正在办理的反映，不需要撤回。"]
    # While a complaint is being written, 撤销 is its own cancel, not a withdrawal of an older case.
    await visitor.say("我都跑了三趟了，公积金还是取不出来")
    assert (await visitor.say("撤销反映"))["flow"] != "progress"


async def test_a_reason_given_in_the_first_message_is_not_asked_for_again(visitor: Visitor) -> None:
    first = await visitor.say("公积金窗口说我租房合同没备案不给提取，已经跑了三趟了")
    assert first["flow"] == "complaint"
    asked = first["replies"][-1]["text"]
    assert "原因" not in asked and "什么时候、在哪个窗口" in asked, first
    for answer in ("跳过", "跳过", "跳过"):
        summary = await visitor.say(answer)
    summary = await visitor.say("13912345678")
    assert "情况：公积金窗口说我租房合同没备案不给提取，已经跑了三趟了" in summary["replies"][0]["text"]


async def test_a_question_about_something_else_is_answered_and_the_complaint_taken_up_again(
        client: TestClient, visitor: Visitor) -> None:
    await visitor.say("我都跑了三趟了，公积金还是取不出来")
    aside = await visitor.say("对了，护照要带什么材料")
    assert aside["flow"] == "guide"
    assert "【普通护照签发" in aside["replies"][0]["text"]
    hint = aside["replies"][-1]
    assert "反映还没登记完" in hint["text"] and [b["payload"] for b in hint["buttons"]] == ["继续登记"]
    fee = await visitor.say("要多少钱")  # the guide keeps the conversation meanwhile
    assert fee["flow"] == "guide" and "收费" in fee["replies"][0]["text"]
    back = await visitor.say("继续登记")
    assert back["flow"] == "complaint"
    assert [r["text"] for r in back["replies"]][-1].startswith("窗口说不能办的原因是什么")
    await visitor.say("说租房合同没备案")
    hours = await visitor.say("你们几点下班")  # answered in one turn: the complaint's question follows at once
    assert hours["replies"][0]["text"].startswith("县政务服务中心办公时间")
    assert hours["flow"] == "smalltalk" and hours["replies"][-1]["text"].startswith("大概什么时候")
    for answer in ("跳过", "跳过", "跳过"):
        summary = await visitor.say(answer)
    summary = await visitor.say("13912345678")
    text = summary["replies"][0]["text"]
    assert "租房合同没备案" in text and "护照" not in text and "下班" not in text, text


async def test_an_account_that_mentions_materials_is_still_the_account(visitor: Visitor) -> None:
    await visitor.say("我都跑了三趟了，公积金还是取不出来")
    answer = await visitor.say("窗口说要带户口本原件，我没带")  # read as a materials question, put as a statement
    assert answer["flow"] == "complaint"
    assert answer["replies"][0]["text"].startswith("大概什么时候"), answer


async def test_a_complaint_left_half_way_does_not_swallow_the_next_one(client: TestClient, visitor: Visitor) -> None:
    await visitor.say("我都跑了三趟了，公积金还是取不出来")
    await visitor.say("转人工")  # nobody is online: the complaint's draft is left behind
    await visitor.say("取消")
    again = await visitor.say("我要投诉，社保卡窗口的人态度很差")
    assert again["flow"] == "complaint"
    assert again["replies"][0]["text"].startswith("非常抱歉让您多跑了"), again


async def test_a_time_or_place_given_for_the_matter_is_kept_as_the_time_and_place(visitor: Visitor) -> None:
    await visitor.say("我要反映问题")
    when = await visitor.say("上周三")  # to "窗口说不能办的原因是什么"
    assert when["replies"][0]["text"] == "好的，时间地点“上周三”已记下。"
    assert when["replies"][1]["text"].startswith("窗口说不能办的原因是什么")
    await visitor.say("说我缺材料")
    where = await visitor.say("在三楼窗口")  # to "您当时想办理什么事"
    assert where["replies"][0]["text"] == "好的，时间地点“在三楼窗口”已记下。"
    assert where["replies"][1]["text"].startswith("您当时想办理什么事")
    await visitor.say("办社保卡")
    for answer in ("跳过", "跳过"):  # what they want, the name: the time and place are not asked again
        await visitor.say(answer)
    summary = (await visitor.say("13912345678"))["replies"][0]["text"]
    assert "事项：社会保障卡申领、补换" in summary and "时间地点：上周三，在三楼窗口" in summary, summary


async def test_a_matter_the_guide_lacks_is_kept_in_the_citizens_words(client: TestClient, visitor: Visitor) -> None:
    first = await visitor.say("办个狗证跑了好几趟")
    assert first["flow"] == "complaint"
    await visitor.say("说我缺结婚证")  # a material the window asked for: not the matter
    for answer in ("跳过", "跳过", "跳过"):
        await visitor.say(answer)
    summary = (await visitor.say("13912345678"))["replies"][0]["text"]
    assert "事项：狗证" in summary, summary
    other = await new_visitor(client)
    await other.say("我想反映一下，出租车营运证一直办不下来")
    asked = await other.say("说要交的表格不对")
    assert asked["replies"][0]["text"].startswith("大概什么时候"), asked  # the matter is not asked for


async def test_the_same_complaint_from_a_new_chat_is_followed_there(client: TestClient, visitor: Visitor) -> None:
    filed = await file_the_example(visitor)
    case_no = filed["replies"][0]["buttons"][0]["payload"]
    later = await new_visitor(client)  # the web session expired: a new chat, the same citizen
    again = await file_the_example(later)
    assert again["replies"][0]["text"].startswith(f"这个问题已经登记过了，编号 {case_no}")
    listing = await later.say("查进度")
    assert case_no in listing["replies"][0]["text"], listing
    urged = await later.say(f"催办 {case_no}")
    assert urged["flow"] == "progress" and "没有找到" not in urged["replies"][0]["text"], urged
    await client.app[CASES].resolve(case_no, "staff:li", result="已协调，可凭承诺书提取")
    for chat in (visitor, later):  # told in both chats
        messages = (await (await client.get("/api/v1/messages", headers=chat.headers)).json())["messages"]
        assert "已办结：已协调，可凭承诺书提取" in messages[-2]["text"]
    rated = await later.say(messages[-1]["buttons"][1]["payload"])
    assert rated["flow"] == "feedback" and "意见或建议" in rated["replies"][0]["text"]
    # A chat that looked the case up with its phone follows it too; a stranger without the phone sees nothing.
    looked_up = await new_visitor(client)
    await looked_up.say(case_no)
    await looked_up.say("13912345678")
    assert case_no in (await looked_up.say("查进度"))["replies"][0]["text"]
    stranger = await new_visitor(client)
    assert case_no not in (await stranger.say("查进度"))["replies"][0]["text"]


async def test_continue_typed_after_an_answer_in_passing_asks_the_pending_question(visitor: Visitor) -> None:
    await visitor.say("我都跑了三趟了，公积金还是取不出来")
    await visitor.say("说租房合同没备案")
    await visitor.say("你们几点下班")  # answered, and the complaint's question follows at once
    again = await visitor.say("继续登记")  # typed anyway: the question again, not "继续登记" taken as its answer
    assert again["flow"] == "complaint" and again["replies"][-1]["text"].startswith("大概什么时候"), again
    for answer in ("跳过", "跳过", "跳过"):
        summary = await visitor.say(answer)
    summary = await visitor.say("13912345678")
    assert "继续登记" not in summary["replies"][0]["text"], summary


async def test_a_withdrawal_confirmed_in_own_words_or_asked_in_one_word(client: TestClient,
                                                                          visitor: Visitor) -> None:
    filed = await file_the_example(visitor)
    case_no = filed["replies"][0]["buttons"][0]["payload"]
    asked = await visitor.say("撤回")
    assert asked["replies"][0]["text"].startswith(f"确定撤回 {case_no}"), asked
    done = await visitor.say("不想投诉了 撤销吧")  # a yes, though it holds the words of a cancel
    assert done["replies"][0]["text"].startswith(f"已撤回 {case_no}"), done
    assert (await client.app[CASES].get(case_no)).status == "withdrawn"


async def test_a_phone_in_the_first_message_is_not_asked_for_again(visitor: Visitor) -> None:
    await visitor.say("我要投诉，电话13912345678，社保卡补办窗口说系统故障办不了")
    for answer in ("昨天上午", "跳过", "跳过"):
        reply = await visitor.say(answer)
    text = reply["replies"][0]["text"]
    assert "请留一个联系电话" not in text and "139****5678" in text, reply  # straight to the summary


async def test_a_matter_the_account_leaves_open_is_asked_with_its_likely_items(visitor: Visitor) -> None:
    await visitor.say("我都跑了三趟了，公积金还是取不出来")
    asked = await visitor.say("说我材料不全")
    reply = asked["replies"][-1]
    assert reply["text"].startswith("您当时想办理什么事"), asked
    choices = [b["title"] for b in reply["buttons"]]
    assert len(choices) >= 2 and all(c.startswith("住房公积金提取") for c in choices), choices
    picked = await visitor.say("1")
    assert picked["replies"][0]["text"].startswith("大概什么时候"), picked
    for answer in ("跳过", "跳过", "跳过"):
        summary = await visitor.say(answer)
    summary = await visitor.say("13912345678")
    assert f"事项：{choices[0]}" in summary["replies"][0]["text"], summary


async def test_declining_to_give_a_name_is_no_name(visitor: Visitor) -> None:
    await visitor.say("社保卡补办窗口说系统故障办不了，我跑了两趟")
    for answer in ("不记得了", "希望尽快办好"):
        await visitor.say(answer)
    asked_phone = await visitor.say("不想说")  # to "怎么称呼您"
    assert asked_phone["replies"][0]["text"].startswith("请留一个联系电话"), asked_phone
    summary = await visitor.say("13912345678")
    text = summary["replies"][0]["text"]
    assert "称呼" not in text and "诉求：希望尽快办好" in text, text


async def test_a_complaint_about_a_policy_is_a_complaint_and_names_it(client: TestClient, visitor: Visitor) -> None:
    first = await visitor.say("我去税务窗口申请稳岗返还，跑了两趟都说系统不行办不了，太耽误事了")
    assert first["flow"] == "complaint", first  # not the policy's card
    assert first["replies"][-1]["text"].startswith("大概什么时候"), first  # the matter is not asked for
    for answer in ("跳过", "跳过", "跳过"):
        await visitor.say(answer)
    summary = await visitor.say("13912345678")
    assert "事项：失业保险稳岗返还" in summary["replies"][0]["text"], summary
    loan = await (await new_visitor(client)).say("创业担保贷款申请了两个月了还没批下来，银行推人社，人社推银行")
    assert loan["flow"] == "complaint", loan


async def test_a_phone_inside_an_answer_is_kept_once_and_not_in_the_answer(visitor: Visitor) -> None:
    await visitor.say("办不成事反映")
    await visitor.say("办居住证被退回三次，电话13812345678")
    where = await visitor.say("上周三在一楼窗口，我手机13812345678")
    assert where["replies"][-1]["text"].startswith("您希望怎么解决"), where
    await visitor.say("跳过")
    summary = await visitor.say("王大爷")  # the phone was given: straight to the summary
    text = summary["replies"][0]["text"]
    assert text.startswith("请确认：") and "电话：138****5678" in text, summary
    assert "13812345678" not in text and "时间地点：上周三在一楼窗口\n" in text, text


async def test_more_of_the_story_given_for_the_time_and_place_is_kept_as_what_happened(visitor: Visitor) -> None:
    await visitor.say("我都跑了三趟了，公积金还是取不出来")
    await visitor.say("说我租房合同没备案")
    more = await visitor.say("窗口说我材料不对，每次说的都不一样")  # to "什么时候、在哪个窗口"
    assert more["replies"][0]["text"] == "好的，已记到情况里。", more
    assert "您希望怎么解决" in more["replies"][1]["text"], more  # not asked for the time and place again
    await visitor.say("跳过")
    await visitor.say("跳过")
    summary = (await visitor.say("13912345678"))["replies"][0]["text"]
    happened = next(line for line in summary.splitlines() if line.startswith("情况："))
    assert "租房合同没备案" in happened and "窗口说我材料不对，每次说的都不一样" in happened, summary
    assert "时间地点：窗口说" not in summary, summary


async def test_a_question_for_the_name_is_not_taken_as_the_name(visitor: Visitor) -> None:
    await visitor.say("我都跑了三趟了，公积金还是取不出来")
    await visitor.say("说我租房合同没备案")
    await visitor.say("跳过")
    await visitor.say("跳过")
    asked = await visitor.say("怎么联系你们")  # to "怎么称呼您"
    assert asked["replies"][0]["text"].startswith("工作人员会按您留下的电话联系您。先问一下，怎么称呼您"), asked
    named = await visitor.say("称呼写错了 我姓王")
    assert "联系电话" in named["replies"][0]["text"], named
    summary = (await visitor.say("13912345678"))["replies"][0]["text"]
    assert "称呼：王" in summary and "怎么联系你们" not in summary, summary


async def test_answers_given_to_the_wrong_question_are_filed_where_they_belong(client: TestClient) -> None:
    visitor = await new_visitor(client)
    await visitor.say("办不成事")
    named = await visitor.say("社保卡补办")  # the matter, given to "原因是什么": the reason is still asked
    assert named["replies"][0]["text"] == "好的，事项是“社会保障卡申领、补换”。", named
    assert "原因是什么" in named["replies"][1]["text"], named
    await visitor.say("窗口说系统有问题")
    await visitor.say("跳过")  # when and where
    await visitor.say("跳过")  # what they want
    late = await visitor.say("希望能给办了")  # the wish, late, to "怎么称呼您": not a 取消 (the draft was lost)
    assert late["flow"] == "complaint", late
    assert late["replies"][0]["text"] == "好的，诉求“希望能给办了”已记下。", late
    assert "怎么称呼您" in late["replies"][1]["text"], late
    await visitor.say("张三")
    summary = await visitor.say("13800001111")
    text = summary["replies"][0]["text"]
    assert "事项：社会保障卡申领、补换" in text and "情况：窗口说系统有问题" in text, text
    assert "诉求：希望能给办了" in text and "称呼：张三" in text and "时间地点" not in text, text
    quitting = await new_visitor(client)
    await quitting.say("办不成事")
    cancelled = await quitting.say("算了，不反映了")  # a word that cancels still does
    assert cancelled["replies"][0]["text"].startswith("好的，已取消"), cancelled


async def test_a_name_told_early_is_the_name_not_the_time_and_place(client: TestClient) -> None:
    visitor = await new_visitor(client)
    await visitor.say("窗口不给办 说要什么证明 我也不知道")
    await visitor.say("社保转移")
    told = await visitor.say("我叫李明 电话13800001111")  # to "什么时候、在哪个窗口"
    assert told["replies"][0]["text"] == "好的，称呼“李明”、电话 138****1111 已记下。", told
    await visitor.say("跳过")  # when and where, asked again
    summary = await visitor.say("跳过")  # what they want: then nothing else is asked
    text = summary["replies"][0]["text"]
    assert text.startswith("请确认") and "称呼：李明" in text and "时间地点" not in text, summary


async def test_asides_in_the_middle_of_the_form_are_not_filed_as_answers(client: TestClient) -> None:
    visitor = await new_visitor(client)
    await visitor.say("办不成事反映")
    await visitor.say("营业执照变更被退回三次")
    more = await visitor.say("我要补充")  # to "什么时候、在哪个窗口": not the time and place
    assert more["replies"][0]["text"] == "好的，请说说要补充的情况。", more
    back = await visitor.say("每次退回的理由都不一样")
    assert "什么时候、在哪个窗口" in back["replies"][-1]["text"], back
    meaning = await visitor.say("啥意思")
    assert meaning["replies"][0]["text"].startswith("就是大概哪天、在哪个窗口"), meaning
    urged = await visitor.say("能催一下吗")
    assert urged["replies"][0]["text"].startswith("这次的反映还没有提交"), urged
    await visitor.say("跳过")
    both = await visitor.say("赵大海 13700002222")  # to "您希望怎么解决": the name and phone, not the wish
    assert both["replies"][0]["text"] == "好的，称呼“赵大海”、电话 137****2222 已记下。", both
    summary = await visitor.say("跳过")
    text = summary["replies"][0]["text"]
    assert "每次退回的理由都不一样" in text and "称呼：赵大海" in text, text
    assert "时间地点" not in text and "诉求" not in text and "啥意思" not in text, text


async def test_skipping_the_phone_is_told_it_is_needed(visitor: Visitor) -> None:
    await visitor.say("办不成事")
    await visitor.say("社保卡补办窗口说系统坏了，跑了三趟")
    for _ in range(3):  # when and where, what they want, name
        asked = await visitor.say("跳过")
    assert "联系电话" in asked["replies"][-1]["text"], asked
    skipped = await visitor.say("跳过")
    assert skipped["replies"][0]["text"].startswith("电话需要留一个"), skipped
    for refusal in ("不想留", "不留行不行", "确认"):  # each was "这个号码好像不对", in a loop
        refused = await visitor.say(refusal)
        text = refused["replies"][0]["text"]
        assert text.startswith("电话需要留一个") and "只有处理的工作人员能看到" in text, (refusal, refused)
    mistyped = await visitor.say("1381234")
    assert mistyped["replies"][0]["text"].startswith("这个号码好像不对"), mistyped
    filed = await visitor.say("13812345678")
    assert filed["replies"][0]["text"].startswith("请确认"), filed


async def test_a_complaint_that_also_gives_a_name_and_phone_is_a_complaint(client: TestClient) -> None:
    visitor = await new_visitor(client)
    first = await visitor.say("我叫张三 不动产登记办不了 说我房产证有问题 电话13700001111")
    assert first["flow"] == "complaint", first  # it was read as giving details: a pre-check of 不动产继承
    assert "预审单号" not in str(first), first
    texts = []
    for answer in ("上周三 不动产窗口", "尽快给办", "跳过", "跳过", "跳过"):
        reply = await visitor.say(answer)
        texts.append(reply["replies"][0]["text"])
        if texts[-1].startswith("请确认"):
            break
    summary = texts[-1]
    assert summary.startswith("请确认") and "称呼：张三" in summary and "137****1111" in summary, texts
    assert not any("怎么称呼您" in t or "联系电话" in t for t in texts), texts  # neither asked again
    assert "我叫张三" not in summary, summary


async def test_an_id_number_that_is_the_problem_leaves_its_word_in_the_account(client: TestClient) -> None:
    visitor = await new_visitor(client)
    await visitor.say("公积金租房提取办不了 窗口说我身份证号110101199003071234对不上")
    for answer in ("跳过", "跳过", "李四"):
        await visitor.say(answer)
    summary = (await visitor.say("13900001111"))["replies"][0]["text"]
    assert "情况：公积金租房提取办不了 窗口说身份证号对不上" in summary, summary  # was "窗口说对不上"
    assert "事项：住房公积金提取（租赁住房）" in summary and "1101011990" not in summary, summary


async def test_a_wish_that_mentions_cancelling_is_the_wish_and_withdrawing_after_filing_works(
        client: TestClient) -> None:
    visitor = await new_visitor(client)
    first = await visitor.say("公积金租房提取办不了 窗口说非要我登报声明")
    question = first["replies"][-1]["text"]
    assert "什么时候、在哪个窗口" in question, first
    wish = await visitor.say("希望取消登报这个要求")  # not 取消 (the draft was lost), nor the time and place
    assert wish["flow"] == "complaint", wish
    assert wish["replies"][0]["text"] == "好的，诉求“希望取消登报这个要求”已记下。", wish
    assert wish["replies"][1]["text"] == question, wish
    for answer in ("上周三 公积金窗口", "李四", "13900001111"):
        summary = await visitor.say(answer)
    assert "诉求：希望取消登报这个要求" in summary["replies"][0]["text"], summary
    early = await new_visitor(client)
    await early.say("公积金租房提取办不了 窗口说非要我登报声明")
    await early.say("希望尽快办理 电话13900002222")  # a wish with the phone: both kept
    for answer in ("上周三", "王五"):
        summary = await early.say(answer)
    text = summary["replies"][0]["text"]
    assert text.startswith("请确认") and "诉求：希望尽快办理" in text and "139****2222" in text, summary
    filed = await visitor.say("确认")
    case_no = filed["replies"][0]["text"].split("编号 ")[1][:16]
    asked = await visitor.say("不想反映了 撤销吧")  # it said "好的" and withdrew nothing
    assert asked["flow"] == "progress" and f"确定撤回 {case_no}" in asked["replies"][0]["text"], asked
    done = await visitor.say("确认撤回")
    assert done["replies"][0]["text"].startswith(f"已撤回 {case_no}"), done


async def test_progress_asked_in_plain_words_shows_the_case(visitor: Visitor) -> None:
    await visitor.say("社保卡补办窗口说系统坏了，跑了三趟")
    for answer in ("跳过", "跳过", "跳过", "13812345678"):
        await visitor.say(answer)
    filed = await visitor.say("确认")
    case_no = filed["replies"][0]["text"].split("编号 ")[1][:16]
    for question in ("我上次反映的那个事怎么样了", "有人处理没", "怎么还没人联系我"):  # each got "没太明白"
        answer = await visitor.say(question)
        assert answer["flow"] == "progress" and case_no in str(answer["replies"]), (question, answer)


async def test_saying_one_is_not_complaining_ends_the_intake_with_nothing_filed(visitor: Visitor) -> None:
    await visitor.say("办不成事反映")
    declined = await visitor.say("不是 我不投诉")  # it was filed as the matter: "事项：不是 我不投诉"
    assert declined["replies"][0]["text"].startswith("好的，不登记反映了"), declined
    assert "查询办理进度" in [b["title"] for b in declined["replies"][0]["buttons"]], declined
    after = await visitor.say("二手房过户要带啥")
    assert after["flow"] == "guide", after
    progress = await visitor.say("查进度")
    assert "BBC" not in str(progress["replies"]), progress


async def test_answers_in_everyday_words_are_taken_as_meant(client: TestClient) -> None:
    visitor = await new_visitor(client)
    await visitor.say("我要反映，窗口不给办居住证")
    await visitor.say("说我社保没交满半年")
    progress = await visitor.say("我的反映怎么样了")  # not the time and place
    assert "什么时候、在哪个窗口" in progress["replies"][-1]["text"], progress
    await visitor.say("上周五在政务中心")
    wish = await visitor.say("希望能办下来")  # was the reply-time notice and the same question again
    assert wish["replies"][0]["text"].startswith("怎么称呼您"), wish
    await visitor.say("叫我王师傅就行")
    summary = await visitor.say("13912345678")
    text = summary["replies"][0]["text"]
    assert "称呼：王师傅\n" in text and "诉求：希望能办下来" in text and "怎么样了" not in text, text
    renamed = await visitor.say("不对，我姓张，叫张四")  # was "要修改哪一项？"
    assert renamed["replies"][0]["text"] == "好的，称呼已改为“张四”。" and "称呼：张四" in renamed["replies"][1]["text"]

    other = await new_visitor(client)
    await other.say("我要反映，窗口不给办居住证")
    await other.say("说我社保没交满半年")
    await other.say("跳过")
    await other.say("跳过")
    fixed = await other.say("电话写错了，应该是13912345679")  # to "怎么称呼您": the number, not a name
    assert fixed["replies"][0]["text"] == "好的，电话 139****5679 已记下。", fixed
    summary = await other.say("不想留名字")
    assert "称呼" not in summary["replies"][0]["text"] and "139****5679" in summary["replies"][0]["text"], summary

    quitting = await new_visitor(client)
    await quitting.say("我要反映，窗口不给办居住证")
    called_off = await quitting.say("不反映了")  # was filed as the reason
    assert called_off["replies"][0]["text"].startswith("好的，已取消"), called_off
    assert (await quitting.say("你好"))["flow"] == "smalltalk"
    assert await client.app[CASES].of_user(quitting.user_id) == []


async def test_a_complaint_right_after_a_question_is_about_what_was_asked(client: TestClient) -> None:
    card = await new_visitor(client)
    await card.say("社保卡补办要带什么材料")
    complaint = await card.say("我去了窗口不给办，说身份证信息对不上")  # was filed against the 身份证 item
    assert complaint["flow"] == "complaint"
    for answer in ("跳过", "跳过", "跳过"):
        await card.say(answer)
    summary = await card.say("13912345678")
    assert "事项：社会保障卡申领、补换" in summary["replies"][0]["text"], summary
    firm = await new_visitor(client)
    await firm.say("稳岗返还")
    said = await firm.say("我们符合条件但是一直没到账，去问也不给办")  # was asked which matter
    assert "想办理什么事" not in said["replies"][-1]["text"], said
