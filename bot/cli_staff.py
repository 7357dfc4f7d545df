"""`yichuang staff ...`: add staff accounts, list them, change a password, disable an account.

Only argparse is imported at module level, so `yichuang --version` and `--help` stay instant.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from core.settings import Settings
    from handoff.staff import StaffService

console = Console(stderr=True, highlight=False)
ROLE_NAMES = {"agent": "坐席", "supervisor": "主管", "admin": "管理员"}


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `staff` and its sub-commands."""
    staff = commands.add_parser("staff", help="staff accounts: add, list, passwd, disable")
    sub = staff.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="create a staff account (asks for the password twice)")
    add.add_argument("username", help="3–32 characters: a-z 0-9 _ . -")
    add.add_argument("--role", default="agent", help="agent (default), supervisor or admin")
    add.add_argument(
        "--window",
        action="append",
        default=[],
        metavar="WINDOW",
        help="a themed window (主题窗口) this person serves; repeat for several (agents need one)",
    )
    add.add_argument("--name", help="display name shown to colleagues (default: the username)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    sub.add_parser("list", help="every account, disabled ones included")
    passwd = sub.add_parser("passwd", help="set a new password (asks twice)")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    disable = sub.add_parser("disable", help="disable an account; its logins stop working at once")
    disable.add_argument("username")


def _read_password(from_stdin: bool) -> str:
    from core.errors import InvalidInput

    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InvalidInput("没有终端可以输入密码：请使用 --password-stdin 从标准输入读取。")
    try:
        first = getpass.getpass("密码（至少 10 个字符）：")
        second = getpass.getpass("再输入一次：")
    except (EOFError, KeyboardInterrupt):
        raise InvalidInput("已取消。") from None
    if first != second:
        raise InvalidInput("两次输入的密码不一致。")
    return first


@contextlib.asynccontextmanager
async def _service(settings: Settings) -> AsyncIterator[StaffService]:
    from bot.migrate import migrate
    from core.db import open_engine, session_factory
    from handoff.staff import StaffService

    async with open_engine(settings) as engine:
        if settings.auto_migrate:
            await migrate(engine)
        yield StaffService(session_factory(engine))


async def run(settings: Settings, args: argparse.Namespace) -> None:
    """Carry out one `staff` action."""
    from handoff.staff import check_new_account

    action = args.staff_command
    if action == "add":
        new = check_new_account(args.username, args.role, args.window, args.name)  # before asking for a password
        password = _read_password(args.password_stdin)
        async with _service(settings) as service:
            staff = await service.add(
                new.username, password, role=new.role, windows=new.windows, display_name=new.display_name
            )
        windows = "、".join(staff.windows) or "全部"
        console.print(f"已创建工作人员 {staff.username}（{ROLE_NAMES[staff.role]}，窗口：{windows}）。")
    elif action == "list":
        from zoneinfo import ZoneInfo

        from rich.table import Table

        tz = ZoneInfo(settings.timezone)
        async with _service(settings) as service:
            accounts = await service.list()
        table = Table("用户名", "显示名", "角色", "窗口", "状态", "创建时间")
        for a in accounts:
            table.add_row(
                a.username,
                a.display_name,
                ROLE_NAMES.get(a.role, a.role),
                "、".join(a.windows) or "全部",
                "启用" if a.active else "已停用",
                a.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            )
        Console().print(table)
        if not accounts:
            console.print("还没有工作人员账号：用 yichuang staff add 用户名 --role agent --window 窗口 创建。")
    elif action == "passwd":
        from core.errors import NotFound
        from handoff.staff import normalise_username

        async with _service(settings) as service:
            name = normalise_username(args.username)
            if not any(a.username == name for a in await service.list()):  # before asking for a password
                raise NotFound(f"没有用户名为 {name} 的工作人员。")
            await service.set_password(name, _read_password(args.password_stdin))
        console.print(f"已更新 {args.username.strip().lower()} 的密码。")
    elif action == "disable":
        async with _service(settings) as service:
            await service.disable(args.username)
        console.print(f"已停用 {args.username.strip().lower()}，其登录会话立即失效。")
