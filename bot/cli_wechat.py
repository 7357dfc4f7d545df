"""`yichuang wechat menu push|show`: the official account's custom menu from `channels/data/wechat_menu.yml`.

Only argparse is imported at module level, so `yichuang --version` and `--help` stay instant.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from core.settings import Settings

console = Console(stderr=True, highlight=False)


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `wechat` and its sub-commands."""
    wechat = commands.add_parser("wechat", help="WeChat official account: custom menu")
    sub = wechat.add_subparsers(dest="wechat_command", required=True, metavar="ACTION")
    menu = sub.add_parser("menu", help="push the menu file to WeChat, or show the menu WeChat has")
    menu.add_argument("menu_action", choices=["push", "show"], help="push: menu file → WeChat; show: WeChat's menu")
    menu.add_argument("--file", type=Path, help="menu YAML (default: channels/data/wechat_menu.yml)")


async def run(settings: Settings, args: argparse.Namespace) -> None:
    """Carry out one `wechat` action."""
    import aiohttp

    from channels.wechat import MENU_FILE, WeChatMenu
    from channels.wechat_api import WeChatApi
    from core.errors import ConfigError
    from core.redis import open_redis

    if not (settings.wechat_app_id and settings.wechat_app_secret):
        raise ConfigError("YICHUANG_WECHAT_APP_ID and YICHUANG_WECHAT_APP_SECRET are needed to manage the menu")
    menu = WeChatMenu.load(args.file or MENU_FILE)  # checked before anything is sent
    async with open_redis(settings) as redis, aiohttp.ClientSession(headers={"User-Agent": "yichuang"}) as http:
        api = WeChatApi(http, redis, base_url=settings.wechat_api_base, app_id=settings.wechat_app_id,
                        app_secret=settings.wechat_app_secret)
        if args.menu_action == "push":
            await api.menu_create(menu.wire())
            names = "、".join(str(b["name"]) for b in menu.menu["button"])
            console.print(f"已更新公众号菜单：{names}（约 5 分钟内对关注者生效）。")
        else:
            current = await api.menu_get()
            print(json.dumps(current, ensure_ascii=False, indent=2))
