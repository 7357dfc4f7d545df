"""Shell channel: chat with the same engine in a terminal (readline history, numbered choices, /quit)."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import uuid
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from bot.app import create_app
from bot.messages import Inbound
from bot.texts import Texts
from bot.typedefs import ENGINE
from core.errors import YichuangError
from core.settings import Settings

CHANNEL = "shell"
log = logging.getLogger("channels.shell")
QUIT_COMMANDS = {"/quit", "/exit", "/q"}
HISTORY_FILE = ".shell_history"


def _enable_history(path: Path) -> Callable[[], None]:
    """Load readline history (if readline exists here) and return a function that saves it."""
    try:
        import readline
    except ImportError:  # pragma: no cover - readline is absent on some platforms
        return lambda: None
    with contextlib.suppress(OSError):  # no history yet
        readline.read_history_file(path)
    readline.set_history_length(1000)
    return lambda: readline.write_history_file(path)


async def _answer(app: web.Application, inbound: Inbound) -> list[str]:
    """The bot's replies as plain text; a failure is logged and answered politely, never as a traceback."""
    try:
        result = await app[ENGINE].handle(inbound)
    except YichuangError as exc:
        return [exc.message]
    except Exception:
        log.exception("shell turn failed")
        return [Texts.from_yaml().get("internal_error")]
    return [reply.as_plain_text() for reply in result.replies]


async def run_shell(settings: Settings, *, user: str | None = None) -> None:
    """Run an interactive chat until /quit or end of input."""
    app = create_app(settings)
    runner = web.AppRunner(app)
    try:
        await runner.setup()  # runs every cleanup_ctx: database, Redis, engine
    except BaseException:
        await runner.cleanup()  # exits the contexts a failed start had entered (the embedded Redis server)
        raise
    save_history = _enable_history(settings.data_dir / HISTORY_FILE)
    user_id = f"{CHANNEL}:{user or getpass.getuser()}"
    print("一窗 · 政务服务智能助手（终端）。输入问题后回车；输入序号选择选项；/quit 退出。")
    try:
        text = "你好"
        while True:
            inbound = Inbound(channel=CHANNEL, user_id=user_id, text=text, msg_id=uuid.uuid4().hex)
            for line in await _answer(app, inbound):
                print("一窗：" + line.replace("\n", "\n      "))
            try:
                text = await asyncio.to_thread(input, "您：")
            except (EOFError, KeyboardInterrupt):
                print()
                break
            if text.strip() in QUIT_COMMANDS:
                break
    finally:
        save_history()
        await runner.cleanup()
    print("再见！")
