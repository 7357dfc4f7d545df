"""The staff console's page and files as the server delivers them (the browser tests drive the page itself)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from aiohttp.test_utils import TestClient

from bot.console import CONSOLE_DIR, render_page
from handoff.windows import ALL_WINDOWS


class _Body(HTMLParser):
    """Reads the attributes of <body>."""

    def __init__(self) -> None:
        super().__init__()
        self.attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.attrs = dict(attrs)


async def test_console_page_carries_the_windows_and_a_strict_policy(client: TestClient) -> None:
    resp = await client.get("/console/")
    assert resp.status == 200 and resp.content_type == "text/html"
    policy = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe" not in policy
    assert resp.headers["X-Frame-Options"] == "DENY"
    body = _Body()
    body.feed(await resp.text())
    assert json.loads(body.attrs["data-windows"] or "") == list(ALL_WINDOWS)

    bare = await client.get("/console", allow_redirects=False)
    assert bare.status == 302 and bare.headers["Location"] == "/console/"


async def test_console_modules_are_served(client: TestClient) -> None:
    page = await (await client.get("/console/")).text()
    for path in re.findall(r'(?:src|href)="(/console/static/[^"]+)"', page):
        resp = await client.get(path)
        assert resp.status == 200, path
    for module in sorted(CONSOLE_DIR.glob("*.js")):
        resp = await client.get(f"/console/static/{module.name}")
        assert resp.status == 200 and "javascript" in resp.content_type
    assert (await client.get("/console/static/../../bot/console.py")).status in (403, 404)


def test_window_names_are_escaped_into_the_page() -> None:
    page = render_page(("公积金", '"><script>alert(1)</script>'))
    assert "<script>alert(1)" not in page and "&quot;&gt;&lt;script&gt;" in page


def test_console_scripts_never_insert_html() -> None:
    # Citizens' text is shown in staff sessions: it must only ever reach the page as text.
    for module in sorted(CONSOLE_DIR.glob("*.js")):
        source = module.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in source, f"{module.name} uses {sink}"
