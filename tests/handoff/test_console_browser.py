"""The staff console (/console/) in a real browser (system Chromium driven by Playwright), as staff use it:
login, the case list with its lights and the case actions, the supervisor's dashboard, and the whole 转人工
story with a citizen chatting on the web page at the same time.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.typedefs import APPOINTMENTS, CASES, EVALUATIONS
from core.clock import today_local
from core.settings import Settings
from tests.backends import unavailable
from tests.channels.test_chat_page_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM
from tests.conftest import new_visitor
from tests.handoff.conftest import FrozenClock, draft, make_service
from tests.handoff.test_case_api import FORM
from tests.handoff.test_staff import PASSWORD, add_staff


class Browser:
    """The system Chromium; each page gets its own context (a staff member, a citizen). Script errors and
    Content-Security-Policy violations on any page fail the test.
    """

    def __init__(self, chromium: Any) -> None:
        self.chromium = chromium
        self.errors: list[str] = []

    async def new_page(self, width: int = 1366, height: int = 768) -> Any:
        """A page in a fresh context (its own cookies and storage)."""
        context = await self.chromium.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        page = await context.new_page()
        page.set_default_timeout(60_000)  # a loaded 2-core CI machine is slow, not broken
        page.on("console", lambda message: self._console(width, message))
        page.on("pageerror", lambda error: self.errors.append(f"[{width}px] {error}"))
        return page

    def _console(self, width: int, message: Any) -> None:
        print(f"[{width}px console.{message.type}] {message.text}")  # shown with a failure's output
        if "Content Security Policy" in message.text:
            self.errors.append(f"[{width}px] {message.text}")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """The system Chromium, or a skip (a failure under CI=true) where it is missing."""
    if not HAVE_CHROMIUM:
        unavailable("no Chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        wrapper = Browser(chromium)
        yield wrapper
        await chromium.close()
    assert wrapper.errors == [], "the console's scripts failed in the browser"


async def serve(aiohttp_server: Any, aiohttp_client: Any, settings: Settings) -> tuple[TestServer, TestClient]:
    """A real server for the browser and an HTTP client on it for the test's own calls."""
    server = await aiohttp_server(create_app(settings))
    return server, await aiohttp_client(server)


async def log_in(page: Any, server: TestServer, username: str, password: str = PASSWORD) -> None:
    """Open the console and log in through the form."""
    await page.goto(str(server.make_url("/console/")))
    await page.fill("#login-username", username)
    await page.fill("#login-password", password)
    await page.click("#login-submit")


def screenshot(name: str) -> str:
    """Where a test's screenshot goes (tests/artifacts/, never committed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / name)


# Marks <html data-stale-read> once the page has read a held-back answer (marked x-test-stale), in a task queued
# after the code that awaited it has run: then the console has done whatever it does with that answer.
MARK_STALE_READS = """() => {
  const json = Response.prototype.json;
  Response.prototype.json = function () {
    const stale = this.headers.get("x-test-stale") === "1";
    return json.call(this).then((value) => {
      if (stale) setTimeout(() => { document.documentElement.dataset.staleRead = "done"; }, 0);
      return value;
    });
  };
}"""


async def test_agent_works_cases_in_the_console(
    aiohttp_server: Any, aiohttp_client: Any, settings: Settings, browser: Browser
) -> None:
    server, client = await serve(aiohttp_server, aiohttp_client, settings)
    await add_staff(client, "liwei", windows=("办不成事反映",))  # the complaint window sees every case
    clock = FrozenClock(datetime.now(UTC))
    clock.set(2026, 11, 2)  # a case filed three weeks before the examples' day: long overdue today
    old, _ = await make_service(client, clock).file(draft(phone="13800001111", item_name="不动产登记"))
    page = await browser.new_page()

    await log_in(page, server, "liwei", "wrong password!")
    error = page.locator("#login-error")
    await error.wait_for()
    assert "用户名或密码不正确" in await error.inner_text()
    assert await page.locator("#app").is_hidden()

    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    red = page.locator(f'#case-list li[data-no="{old.case_no}"]')
    await red.wait_for()
    assert "case-row--red" in (await red.get_attribute("class") or "")
    assert "红灯" in await red.inner_text()
    await page.locator("#live.live--on").wait_for()  # the event stream is open

    # A complaint filed from a form appears in the open console without reloading, with its due date.
    filed = await (await client.post("/api/v1/cases", json=FORM)).json()
    row = page.locator(f'#case-list li[data-no="{filed["case_no"]}"]')
    await row.wait_for()
    assert f"截止 {filed['due_in_words']}" in await row.inner_text()
    assert "case-row--red" not in (await row.get_attribute("class") or "")

    await page.keyboard.press("j")  # the newest case, first in the list
    await page.locator("#case-title", has_text=filed["case_no"]).wait_for()
    assert await row.get_attribute("aria-selected") == "true"
    assert "13912345678" in await page.locator("#case-fields").inner_text()  # staff see the full number
    assert [await k.inner_text() for k in await page.locator(".timeline__kind").all()] == ["受理", "分类"]

    # 转办: a missing department is the server's 400, shown under the form.
    await page.click('.chip[data-action="transfer"]')
    transfer = page.locator('form[data-action="transfer"]')
    await transfer.locator('[name="department"]').evaluate("node => { node.required = false; node.value = ''; }")
    await transfer.locator('button[type="submit"]').click()
    await transfer.locator(".form-error", has_text="department").wait_for()
    await transfer.locator('[name="window"]').select_option("公积金")
    await transfer.locator('[name="department"]').fill("县住房公积金管理中心")
    await transfer.locator('[name="note"]').fill("请核实备案情况")
    await transfer.locator('button[type="submit"]').click()
    await page.locator(".timeline__kind", has_text="转办").wait_for()
    assert "转至 公积金 · 县住房公积金管理中心" in await page.locator("#case-timeline").inner_text()

    # A load of the case started before 办结 but answered after it (here: held back) does not show the case as
    # it was: only the newest load renders.
    await page.evaluate(MARK_STALE_READS)
    fetched, release = asyncio.Event(), asyncio.Event()

    async def hold_first_load(route: Any) -> None:
        if fetched.is_set():
            await route.continue_()
            return
        before = await route.fetch()
        fetched.set()
        await release.wait()
        await route.fulfill(response=before, headers={**before.headers, "x-test-stale": "1"})

    detail_url = f"**/api/v1/agent/cases/{filed['case_no']}"
    await page.route(detail_url, hold_first_load)
    await row.click()
    await fetched.wait()
    await page.click('.chip[data-action="resolve"]')
    await page.fill('form[data-action="resolve"] [name="result"]', "已协调，可以提取")
    await page.keyboard.press("Control+Enter")  # submits the form being typed in
    await page.locator(".timeline__kind", has_text="办结").wait_for()
    assert await page.locator("#case-status").inner_text() == "已办结"
    release.set()
    await page.locator("html[data-stale-read=done]").wait_for(state="attached")
    assert await page.locator("#case-status").inner_text() == "已办结"
    await page.unroute(detail_url)
    assert await page.locator('.chip[data-action="resolve"]').is_disabled()

    # Filters: only the red one.
    await page.select_option("#filter-status", "")
    await page.select_option("#filter-light", "red")
    await page.locator(f'#case-list li[data-no="{filed["case_no"]}"]').wait_for(state="detached")
    assert await page.locator("#case-list li").count() == 1
    await page.screenshot(path=screenshot("console_cases.png"))

    # Search (the / key) asks the server: the number of the resolved case finds only that one.
    await page.select_option("#filter-light", "")
    await page.locator("body").press("Escape")
    await page.keyboard.press("/")
    await page.keyboard.type(filed["case_no"])
    await page.locator(f'#case-list li[data-no="{old.case_no}"]').wait_for(state="detached")
    assert await page.locator("#case-list li").count() == 1

    # The help overlay lists the shortcuts.
    await page.locator("#search").press("Escape")
    await page.keyboard.press("?")
    await page.locator("#help").wait_for()
    assert "Ctrl" in await page.locator("#help").inner_text()
    await page.keyboard.press("Escape")
    await page.locator("#help").wait_for(state="hidden")
    assert await page.locator("#tab-stats").is_hidden()  # agents have no dashboard

    await page.click("#logout-button")
    await page.locator("#login-form").wait_for()
    assert (await client.get("/api/v1/agent/cases")).status == 401


async def test_supervisor_sees_the_dashboard_and_follows_up_a_bad_review(
    aiohttp_server: Any, aiohttp_client: Any, settings: Settings, browser: Browser
) -> None:
    server, client = await serve(aiohttp_server, aiohttp_client, settings)
    await add_staff(client, "chief", role="supervisor", windows=())
    service = client.app[CASES]
    for phone, item in (("13912345678", "公积金租房提取"), ("13900002222", "护照办理"), ("13900003333", "公积金贷款")):
        await client.post("/api/v1/cases", json={**FORM, "phone": phone, "item_name": item})
    first = (await service.search())[-1]
    await service.resolve(first.case_no, "staff:li", result="已办结")
    await service.rate(first.case_no, rating=1, comment="跑了三趟态度还很差")

    page = await browser.new_page()
    await log_in(page, server, "chief")
    await page.locator("#tab-stats").click()
    chart = page.locator("#chart-window svg.bars")
    await chart.wait_for()
    assert "公积金 2 件" in (await chart.get_attribute("aria-label") or "")
    assert await page.locator("#chart-category svg.bars rect").count() >= 1
    kpis = await page.locator("#stats-kpis").inner_text()
    assert "案件总数" in kpis and "按时办结率" in kpis and "100.0%" in kpis
    assert await page.locator("#stats-kpis svg.gauge").count() == 2
    export = await page.locator("#stats-export").get_attribute("href") or ""
    assert re.fullmatch(r"/api/v1/agent/reports/cases\.xlsx\?from=\d{4}-\d{2}-01&to=\d{4}-\d{2}-\d{2}", export)
    workbook = await page.request.get(str(server.make_url(export)))
    assert workbook.status == 200 and workbook.headers["content-type"].startswith("application/vnd.openxmlformats")

    review = page.locator(".followup", has_text="跑了三趟态度还很差")
    await review.wait_for()
    assert "非常不满意" in await review.inner_text()
    await page.screenshot(path=screenshot("console_stats.png"), full_page=True)
    await review.locator("textarea").fill("已致电道歉，说明了备案要求")
    await review.locator("button[type=submit]").click()
    await page.locator("#followups", has_text="没有待回访的差评").wait_for()
    assert await client.app[EVALUATIONS].follow_ups() == []
    done = await client.app[EVALUATIONS].follow_ups(pending_only=False)
    assert [(e.followed_up_by, e.follow_up_note) for e in done] == [("staff:chief", "已致电道歉，说明了备案要求")]

    # A tablet in portrait: one column, nothing wider than the screen.
    tablet = await browser.new_page(768, 1024)
    await log_in(tablet, server, "chief")
    await tablet.locator("#case-list li").first.wait_for()
    assert await tablet.evaluate("document.documentElement.scrollWidth") <= 768
    await tablet.screenshot(path=screenshot("console_tablet.png"))


async def test_an_agent_sees_the_bookings_of_their_window_with_the_phone_to_ring(
    aiohttp_server: Any, aiohttp_client: Any, settings: Settings, browser: Browser
) -> None:
    server, client = await serve(aiohttp_server, aiohttp_client, settings)
    await add_staff(client, "deng", windows=("不动产登记",))
    book = client.app[APPOINTMENTS]
    day = book.days(today_local())[0]
    visit = await book.book(user_id="web:a", kind="assisted", item_code="X1", item_name="二手房转移登记",
                            window="不动产登记", day=day, half="pm", today=today_local(), phone="13912345678",
                            address="幸福路12号3栋201")
    await book.book(user_id="web:b", kind="appointment", item_code="X1", item_name="二手房转移登记",
                    window="不动产登记", day=day, half="am", today=today_local())
    await book.book(user_id="web:c", kind="appointment", item_code="P1", item_name="普通护照签发",
                    window="出入境", day=day, half="am", today=today_local())

    page = await browser.new_page()
    await log_in(page, server, "deng")
    await page.locator("#tab-appointments").click()
    rows = page.locator("#appointments-rows tr")
    await rows.nth(1).wait_for()
    assert await rows.count() == 2  # 出入境's booking is not this window's
    assert "上午" in await rows.nth(0).inner_text()
    assisted = await rows.nth(1).inner_text()
    assert "帮办代办" in assisted and visit.number in assisted and "幸福路12号3栋201" in assisted
    assert await rows.nth(1).locator("a[href='tel:13912345678']").count() == 1
    await page.select_option("#appointments-range select[name=kind]", "appointment")
    await page.locator("#appointments-range button[type=submit]").click()
    await page.locator("#appointments-rows tr").nth(1).wait_for(state="detached")
    assert "预约办事" in await page.locator("#appointments-rows").inner_text()
    await page.screenshot(path=screenshot("console_appointments.png"), full_page=True)


async def test_login_refusals_show_the_servers_words(
    aiohttp_server: Any, aiohttp_client: Any, settings: Settings, browser: Browser
) -> None:
    server, client = await serve(aiohttp_server, aiohttp_client, settings)
    await add_staff(client, "liwei")
    for _ in range(5):  # the username's budget of failed logins
        wrong = await client.post("/api/v1/agent/login", json={"username": "liwei", "password": "x" * 10})
        assert wrong.status == 401
    page = await browser.new_page()
    await log_in(page, server, "liwei")  # the right password, but too late
    await page.locator("#login-error", has_text="登录失败次数过多").wait_for()
    assert re.search(r"请 \d+ 分钟后再试", await page.locator("#login-error").inner_text())
    assert await page.locator("#app").is_hidden()


def _open_all_day(settings: Settings, tmp_path: Path) -> Settings:
    """Every window open all day today (a working day by override, whatever the real date and time)."""
    holidays = tmp_path / "open-today.yml"
    holidays.write_text(f"{today_local().year}:\n  workdays: [{today_local().isoformat()}]\n", encoding="utf-8")
    return settings.model_copy(update={"holidays_file": holidays, "office_opens": time(0, 0),
                                       "office_lunch_starts": time(12, 0), "office_lunch_ends": time(12, 0),
                                       "office_closes": time(23, 59, 59)})


async def test_handoff_from_the_chat_page_to_the_console_and_back(
    aiohttp_server: Any, aiohttp_client: Any, settings: Settings, browser: Browser, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    server, client = await serve(aiohttp_server, aiohttp_client, _open_all_day(settings, tmp_path))
    await add_staff(client, "zhao", windows=("出入境",))
    citizen = await browser.new_page(420, 760)
    await citizen.goto(str(server.make_url("/")))
    await citizen.locator(".msg--bot").first.wait_for()
    await citizen.fill("#text", "办护照")
    await citizen.press("#text", "Enter")
    await citizen.locator(".msg--bot", has_text="护照").first.wait_for()
    await citizen.fill("#text", "转人工")
    await citizen.press("#text", "Enter")
    await citizen.locator(".msg--bot", has_text="正在为您转接【出入境】窗口").wait_for()

    agent = await browser.new_page()
    await log_in(agent, server, "zhao")
    await agent.locator("#case-empty").wait_for()
    await agent.keyboard.press("2")  # 工单
    queue = agent.locator("#queue-rows tr", has_text="出入境")
    await queue.wait_for()
    assert (await queue.locator("td").nth(1).inner_text()) == "1"
    await agent.locator("#tickets-badge", has_text="1").wait_for()

    # Another citizen asks through the HTTP API: the queue grows in the open console.
    other = await new_visitor(client)
    await other.say("办护照")
    assert "前面还有 1 位" in (await other.say("人工"))["replies"][0]["text"]
    await agent.locator("#ticket-list li.ticket-row--waiting").nth(1).wait_for()
    await agent.locator("#tickets-badge", has_text="2").wait_for()

    first = agent.locator("#ticket-list li.ticket-row--waiting").first
    await first.locator("button", has_text="接单").click()
    await agent.locator("#ticket-status", has_text="服务中").wait_for()
    history = agent.locator("#ticket-messages .msg--bot")
    assert await history.count() >= 1  # the conversation with the bot before the handoff, greyed
    await citizen.locator(".msg--staff", has_text="zhao 同志").wait_for()  # "工作人员 zhao 同志 为您服务。"
    await agent.keyboard.press("Escape")
    await agent.keyboard.press("r")
    assert await agent.evaluate("document.activeElement.id") == "reply-text"

    # A canned reply fills the box; Ctrl+Enter sends it; the citizen's page shows it.
    await agent.locator("#canned button", has_text="问候").click()
    assert "出入境窗口工作人员" in await agent.locator("#reply-text").input_value()
    await agent.keyboard.press("Control+Enter")
    await agent.locator("#ticket-messages .msg--staff", has_text="出入境窗口工作人员").wait_for()
    # The live stream may show the reply before the POST that sent it returns and empties the box.
    await expect(agent.locator("#reply-text")).to_have_value("")
    await citizen.locator(".msg--staff", has_text="出入境窗口工作人员").wait_for()

    # The citizen writes back: it appears in the console live.
    await citizen.fill("#text", "我的护照明年过期，现在能换吗")
    await citizen.press("#text", "Enter")
    await agent.locator("#ticket-messages .msg--citizen", has_text="我的护照明年过期").wait_for()

    # An internal note stays in the console.
    await agent.fill("#reply-text", "已核对：护照剩余有效期 10 个月")
    await agent.click("#note-send")
    await agent.locator("#ticket-messages .msg--note", has_text="剩余有效期 10 个月").wait_for()

    await agent.fill("#reply-text", "可以的，有效期不足一年就能换发，带身份证来出入境窗口即可。")
    await agent.click("#reply-send")
    await citizen.locator(".msg--staff", has_text="带身份证来出入境窗口").wait_for()

    # What the staff types while a reply is still on its way stays in the box when that reply's POST returns.
    answered = asyncio.Event()

    async def slow_reply(route: Any) -> None:
        await answered.wait()
        await route.continue_()

    await agent.route("**/reply", slow_reply)
    await agent.fill("#reply-text", "材料清单稍后发您。")
    await agent.click("#reply-send")
    await agent.fill("#reply-text", "另外，旧护照请一并带来")
    answered.set()
    await citizen.locator(".msg--staff", has_text="材料清单稍后发您").wait_for()
    await expect(agent.locator("#reply-send")).to_be_enabled()
    assert await agent.locator("#reply-text").input_value() == "另外，旧护照请一并带来"
    await agent.unroute("**/reply")
    await agent.screenshot(path=screenshot("console_ticket.png"))

    await agent.click("#ticket-close-open")
    await agent.fill('#ticket-close [name="note"]', "已解答换发条件")
    await agent.click('#ticket-close button[type="submit"]')
    await agent.locator("#ticket-status", has_text="已结束").wait_for()
    assert await agent.locator("#reply-text").is_disabled()

    rating = citizen.locator(".msg--staff", has_text="请为本次人工服务评价")
    await rating.wait_for()
    assert [await b.inner_text() for b in await rating.locator(".buttons button").all()] == [
        "非常不满意", "不满意", "基本满意", "满意", "非常满意"]
    assert "剩余有效期" not in await citizen.locator("#log").inner_text()  # notes never reach the citizen
    await citizen.screenshot(path=screenshot("console_ticket_citizen.png"), full_page=True)
