"""The staff console (工作台) at `/console/`: one HTML page and its static modules from `handoff/console/`.

The page is plain HTML, CSS and JavaScript modules (no build step, nothing from a CDN); it talks only to the
agent API (`/api/v1/agent/...`) with the staff cookie and the CSRF token. The themed windows are written into
the page when the app is built, so the console offers the same windows the server routes to.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from aiohttp import web

from handoff.windows import ALL_WINDOWS

CONSOLE_DIR = Path(__file__).resolve().parents[1] / "handoff" / "console"
WINDOWS_MARKER = "__WINDOWS_JSON__"
# The console shows citizens' text: allow nothing but this origin's own scripts, styles and calls, and
# never let another site frame it (clickjacking of staff actions).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def render_page(windows: tuple[str, ...] = ALL_WINDOWS) -> str:
    """The console's index.html with the themed windows filled in (HTML-escaped JSON in a data attribute)."""
    page = (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")
    if WINDOWS_MARKER not in page:
        raise RuntimeError(f"{CONSOLE_DIR / 'index.html'} lacks the {WINDOWS_MARKER} marker")
    return page.replace(WINDOWS_MARKER, html.escape(json.dumps(list(windows), ensure_ascii=False), quote=True))


def setup(app: web.Application) -> None:
    """Register `GET /console/` (and `/console`, redirected there) and the static files under `/console/static/`."""
    page = render_page()

    async def console_page(request: web.Request) -> web.Response:
        """The staff console page."""
        return web.Response(text=page, content_type="text/html", charset="utf-8", headers=SECURITY_HEADERS)

    async def to_console(request: web.Request) -> web.Response:
        """`/console` without the slash: the page's relative links need the slash."""
        raise web.HTTPFound("/console/")

    app.router.add_get("/console", to_console)
    app.router.add_get("/console/", console_page, name="console")
    app.router.add_static("/console/static/", CONSOLE_DIR, name="console_static")
