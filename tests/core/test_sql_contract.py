"""Contract of the SQL layer: migrations and the tables' behaviour, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.messages import Inbound, Reply
from bot.migrate import HEAD_REVISION, alembic_config, migrate, schema_revision
from bot.models import Turn
from bot.outbox import Outbox
from bot.turns import TurnLog
from core.db import create_engine, session_factory
from core.redis import EmbeddedRedis
from core.settings import Settings
from intents.base import Parse
from tests.backends import require_server_database
from tests.conftest import reset_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}" if request.param == "sqlite" else await require_server_database()
    await reset_database(url)  # drop everything, then the real migration path from empty
    engine = create_engine(Settings(database_url=url, data_dir=tmp_path))
    yield engine
    await engine.dispose()


def inbound(msg_id: str, text: str = "你好") -> Inbound:
    return Inbound(channel="web", user_id="web:u1", text=text, msg_id=msg_id)


class TestSqlContract:
    async def test_migrations_create_the_tables(self, engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"turn", "outbound_message", "alembic_version"} <= tables

    async def test_a_start_on_a_current_schema_skips_alembic_and_an_older_one_is_upgraded(
            self, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
        from alembic import command
        from alembic.script import ScriptDirectory

        assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION
        assert await schema_revision(engine) == HEAD_REVISION

        def no_alembic(*_args: object) -> None:
            raise AssertionError("Alembic ran on a schema that was already current")

        with monkeypatch.context() as patched:
            patched.setattr(command, "upgrade", no_alembic)
            await migrate(engine)  # what every restart does

        def downgrade(connection: Connection) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0010")

        async with engine.begin() as conn:
            await conn.run_sync(downgrade)
        assert await schema_revision(engine) == "0010"
        await migrate(engine)  # an upgrade to a release with a new migration
        assert await schema_revision(engine) == HEAD_REVISION
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("appointment")})
        assert {"phone", "address"} <= columns  # added by the migration after 0010

    async def test_turn_log_refuses_a_second_write_of_the_same_message(self, engine: AsyncEngine) -> None:
        log = TurnLog(session_factory(engine))
        parse = Parse(text="你好", intent="greet", confidence=1.0)
        assert await log.last_of("web:u1") is None
        first = await log.record(inbound("m1"), parse, "smalltalk", [Reply("您好")])
        assert first is not None
        assert await log.record(inbound("m1"), parse, "smalltalk", [Reply("又一次")]) is None
        found = await log.find("web:u1", "m1")
        assert found is not None and found.replies == [{"text": "您好", "buttons": [], "card": None}]
        assert await log.find("web:u1", "m2") is None
        assert [(t.id, t.msg_id) for t in await log.recent("web:u1")] == [(first, "m1")]
        await log.record(inbound("m2"), parse, "policy", [Reply("政策")])
        last = await log.last_of("web:u1")
        assert last is not None and last[0] == "policy" and last[1].tzinfo is not None

    async def test_turns_written_together_commit_together_and_a_logged_one_is_refused(
            self, engine: AsyncEngine) -> None:
        log = TurnLog(session_factory(engine))
        parse = Parse(text="你好", intent="greet", confidence=1.0)
        await log.record(inbound("m0"), parse, "smalltalk", [Reply("您好")])
        # 50 users at once (one group commit after the first), one of them retrying a logged message id.
        many = [Inbound(channel="web", user_id=f"web:g{i}", text=f"第{i}句", msg_id="x") for i in range(50)]
        results = await asyncio.gather(*(log.record(m, parse, "smalltalk", [Reply(m.text)]) for m in many),
                                       log.record(inbound("m0"), parse, "smalltalk", [Reply("重试")]))
        assert results[-1] is None
        assert all(isinstance(t, int) for t in results[:-1])
        assert len(set(results[:-1])) == 50
        for m in many:
            found = await log.find(m.user_id, "x")
            assert found is not None and found.text == m.text and found.replies[0]["text"] == m.text
        assert (await log.find("web:u1", "m0")).replies[0]["text"] == "您好"  # type: ignore[union-attr]

    async def test_a_failed_group_commit_fails_every_turn_in_it_and_the_next_one_works(
            self, engine: AsyncEngine) -> None:
        log = TurnLog(session_factory(engine))
        parse = Parse(text="你好", intent="greet", confidence=1.0)
        too_long = Inbound(channel="web" * 10, user_id="web:bad", text="x", msg_id="m")  # channel: 16 chars at most
        ok = Inbound(channel="web", user_id="web:ok", text="x", msg_id="m")
        results = await asyncio.gather(log.record(too_long, parse, None, []), log.record(ok, parse, None, []),
                                       return_exceptions=True)
        if engine.dialect.name == "postgresql":  # SQLite does not enforce VARCHAR lengths
            assert all(isinstance(r, Exception) for r in results)
            assert await log.find("web:ok", "m") is None  # nothing half-written
        assert await log.record(Inbound(channel="web", user_id="web:ok", text="y", msg_id="n"), parse, None, [])

    async def test_timestamps_come_back_in_utc(self, engine: AsyncEngine) -> None:
        db = session_factory(engine)
        shanghai = timezone(timedelta(hours=8))
        at = datetime(2026, 11, 22, 9, 30, tzinfo=shanghai)
        async with db() as session:
            session.add(Turn(channel="web", user_id="web:u1", msg_id="t", text="x", replies=[], created_at=at))
            await session.commit()
        turns = await TurnLog(db).recent("web:u1")
        assert turns[0].created_at == at
        assert turns[0].created_at.tzinfo is not None
        assert turns[0].created_at.utcoffset() == timedelta(0)
        assert turns[0].created_at == datetime(2026, 11, 22, 1, 30, tzinfo=UTC)

    async def test_outbox_orders_by_cursor_and_separates_users(self, engine: AsyncEngine,
                                                               embedded_redis: EmbeddedRedis) -> None:
        import redis.asyncio as aioredis

        from core.pubsub import Subscriber

        client = aioredis.Redis.from_url(embedded_redis.url, decode_responses=True)
        outbox = Outbox(session_factory(engine), client, Subscriber(client), menu_ttl_seconds=60)
        a = await outbox.push("web:u1", [Reply("一"), Reply("二")], "staff")
        await outbox.push("web:u2", [Reply("别人")], "staff")
        b = await outbox.push("web:u1", [Reply("三")], "case")
        assert [m.reply["text"] for m in await outbox.after("web:u1", 0)] == ["一", "二", "三"]
        assert [m.id for m in await outbox.after("web:u1", a[0])] == [a[1], b[0]]
        assert await outbox.after("web:u1", b[0]) == []
        await client.aclose()
