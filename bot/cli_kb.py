"""`yichuang kb ...`: load the YAML seed, import and export spreadsheets and catalogues, reload, gaps.

Only argparse is imported at module level, so `yichuang --version` and `--help` stay instant.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.console import Console

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from core.db import SessionFactory
    from core.settings import Settings
    from policy_kb.service import KbService

BUILTIN_DATA = Path(__file__).resolve().parent.parent / "policy_kb" / "data"

console = Console(stderr=True, highlight=False)


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `kb` and its sub-commands."""
    kb = commands.add_parser("kb", help="knowledge base: load, import, export, reload, gaps")
    sub = kb.add_subparsers(dest="kb_command", required=True, metavar="ACTION")
    load = sub.add_parser("load", help="load the YAML seed (policy_kb/data or --dir) into the database")
    load.add_argument("--dir", type=Path, default=BUILTIN_DATA, help="folder with items/ and policies/")
    imp = sub.add_parser("import", help="import FILE.xlsx, FILE.csv (one sheet) or a catalogue FILE.jsonl")
    imp.add_argument("file", type=Path)
    exp = sub.add_parser("export", help="export the whole knowledge base to FILE.xlsx")
    exp.add_argument("file", type=Path)
    sub.add_parser("reload", help="make every running worker rebuild its knowledge base from the database")
    gaps = sub.add_parser("gaps", help="questions the assistant could not answer, most frequent first")
    gaps.add_argument("--limit", type=int, default=30)


@dataclass
class _Resources:
    db: SessionFactory
    redis: aioredis.Redis
    service: KbService


@contextlib.asynccontextmanager
async def _resources(settings: Settings) -> AsyncIterator[_Resources]:
    from bot.migrate import migrate
    from core.db import open_engine, session_factory
    from core.redis import open_redis
    from policy_kb.service import KbService

    async with open_engine(settings) as engine:
        if settings.auto_migrate:
            await migrate(engine)
        async with open_redis(settings) as redis:
            db = session_factory(engine)
            yield _Resources(db, redis, KbService(db, redis))


async def _announce(service: KbService) -> None:
    listeners = await service.announce_reload()
    if listeners:
        console.print(f"已通知 {listeners} 个运行中的服务进程重新加载知识库。")
    else:
        console.print("没有运行中的服务进程；下次启动时将使用新的知识库。")


async def run(settings: Settings, args: argparse.Namespace) -> None:
    """Carry out one `kb` action."""
    from rich.table import Table

    from policy_kb.gaps import GapLog
    from policy_kb.importers.spreadsheet import export_xlsx
    from policy_kb.service import KbService

    async with _resources(settings) as res:
        action = args.kb_command
        if action == "load":
            with console.status("正在校验并写入知识库…"):
                service = KbService(res.db, res.redis, args.dir)
                report = await service.load_seed()
            console.print(f"已载入：事项 {report.items} 项，一件事 {report.bundles} 项，政策 {report.policies} 条"
                          f"（移除已删除的 {report.removed} 条）。")
            await _announce(res.service)
        elif action == "import":
            await _import(res, args.file)
            await _announce(res.service)
        elif action == "export":
            with console.status("正在导出…"):
                content = await res.service.store.load()
                export_xlsx(content, args.file)
            console.print(f"已导出到 {args.file}：事项 {len(content.items)} 项，一件事 {len(content.bundles)} 项，"
                          f"政策 {len(content.policies)} 条。")
        elif action == "reload":
            await _announce(res.service)
        elif action == "gaps":
            table = Table("次数", "问题", "类型", "最近一次")
            tz = ZoneInfo(settings.timezone)  # stored in UTC, shown in local time like every other listing
            for gap in await GapLog(res.db).top(args.limit):
                seen = gap.last_seen.astimezone(tz)
                table.add_row(str(gap.count), gap.example, gap.kind, seen.strftime("%Y-%m-%d %H:%M"))
            Console().print(table)


async def _import(res: _Resources, path: Path) -> None:
    from core.errors import InvalidInput
    from policy_kb.content import KbContent
    from policy_kb.importers.catalogue import read_catalogue
    from policy_kb.importers.spreadsheet import read_csv, read_xlsx, tables_to_content

    if not path.is_file():  # noqa: ASYNC240  (a CLI command: nothing else runs on this loop)
        raise InvalidInput(f"{path}: 文件不存在")
    suffix = path.suffix.lower()
    content: KbContent
    with console.status(f"正在读取 {path.name}…"):
        if suffix == ".jsonl":
            content, report = read_catalogue(path)
            origin = f"catalogue:{path.name}"
        elif suffix in (".xlsx", ".csv"):
            tables = read_xlsx(path) if suffix == ".xlsx" else read_csv(path)
            content = tables_to_content(tables, await res.service.store.load(), path.name)
            origin, report = f"import:{path.name}", None
        else:
            raise InvalidInput(f"{path.name}: 只支持 .xlsx、.csv 和 .jsonl 文件")
    with console.status("正在写入（同一事务，出错不留半截）…"):
        written = await res.service.store.upsert(content, origin)
    console.print(f"已导入：事项 {written.items} 项，一件事 {written.bundles} 项，政策 {written.policies} 条。")
    if report is not None:
        console.print(f"读取 {report.read} 行，导入 {report.imported} 行，跳过 {len(report.skipped)} 行。")
        for line, reason in report.skipped[:50]:
            console.print(f"  第 {line} 行跳过：{reason}")
        if len(report.skipped) > 50:
            console.print(f"  ……另有 {len(report.skipped) - 50} 行跳过")
