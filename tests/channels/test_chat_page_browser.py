"""The chat page in a real browser (system Chromium driven by Playwright), as a citizen uses it."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import create_app
from bot.messages import Reply
from bot.typedefs import OUTBOX, TOKENS
from core.settings import Settings
from tests.backends import unavailable

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# Flags from the machine notes: no sandbox as root, and no background calls to the closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def browser_page() -> AsyncIterator[Any]:
    if not HAVE_CHROMIUM:
        unavailable("no Chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        page.set_default_timeout(60_000)  # a loaded 2-core CI machine is slow, not broken
        yield page
        await browser.close()


async def test_citizen_chats_in_the_browser(aiohttp_server: Any, settings: Settings, browser_page: Any) -> None:
    server = await aiohttp_server(create_app(settings))
    app, page = server.app, browser_page
    await page.goto(str(server.make_url("/")))

    greeting = page.locator(".msg--bot").first
    await greeting.wait_for()
    assert "政务服务智能助手" in await greeting.inner_text()
    assert await greeting.locator(".buttons button").count() == 6
    assert await page.locator(".msg--user").count() == 0, "the automatic greeting is not shown as the user's"

    for answered, text in enumerate(("阿巴阿巴", "嗯嗯嗯"), start=1):
        await page.fill("#text", text)
        await page.press("#text", "Enter")
        await page.locator(".msg--bot").nth(answered).wait_for()  # read the answer before typing again
    assert await page.locator(".msg--error").count() == 0
    second_miss = page.locator(".msg--bot").nth(2)
    await second_miss.wait_for()
    assert "还是没能理解" in await second_miss.inner_text()
    assert await second_miss.locator(".buttons button").count() == 6

    # A staff member's reply arrives in the open page without reloading (SSE).
    token = await page.evaluate("localStorage.getItem('yichuang.token')")
    user_id = app[TOKENS].verify(token)
    await app[OUTBOX].push(user_id, [Reply("您好，我是工作人员 1021 号，请问有什么可以帮您？")], "staff")
    staff = page.locator(".msg--staff")
    await staff.wait_for()
    assert "工作人员 1021 号" in await staff.inner_text()

    await page.click("text=重新开始")
    await page.locator(".msg--bot", has_text="我们重新开始").wait_for()

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "chat_page.png"), full_page=True)


async def test_the_page_tells_the_citizen_what_went_wrong_in_chinese(aiohttp_server: Any, settings: Settings,
                                                                      browser_page: Any) -> None:
    """The service's own message when it refuses (an address opening too many sessions), and a plain Chinese
    sentence when the network fails, never the browser's English ("Failed to fetch").
    """
    server = await aiohttp_server(create_app(settings.model_copy(update={"sessions_per_ip_minute": 1})))
    page = browser_page
    await page.goto(str(server.make_url("/")))
    await page.locator(".msg--bot").first.wait_for()  # the one session this address may open this minute

    await page.route("**/api/v1/messages", lambda route: route.abort())
    await page.fill("#text", "你好")
    await page.press("#text", "Enter")
    offline = page.locator(".msg--error").first
    await offline.wait_for()
    assert await offline.inner_text() == "网络异常，请稍后再试。"

    second = await page.context.browser.new_page(locale="zh-CN")  # a new visitor: no token yet
    await second.goto(str(server.make_url("/")))
    refused = second.locator(".msg--error").first
    await refused.wait_for()
    assert "新建会话太频繁了" in await refused.inner_text() and "后再试" in await refused.inner_text()
    await second.close()
