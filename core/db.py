"""SQL storage: the async engine (SQLite by default, PostgreSQL in production) and session factory."""

from __future__ import annotations

import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, Table, event
from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from core import jsoncodec
from core.errors import ConfigError
from core.settings import Settings

log = logging.getLogger("core.db")

SessionFactory = async_sessionmaker[AsyncSession]
StoredModel = TypeVar("StoredModel", bound=SQLModel)
IDLE_PING_SECONDS = 10.0  # a pooled PostgreSQL connection idle this long is tested before use


def utcnow() -> datetime:
    """The current time as an aware UTC datetime: what every timestamp column stores."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def create_engine(settings: Settings) -> AsyncEngine:
    """Create the async engine for the configured database, creating `data_dir` for SQLite."""
    url = settings.sqlalchemy_url
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 15}
    else:
        # Without timeouts a frozen server or a dropped network holds every request for the OS's TCP timeout:
        # asyncpg's connect timeout covers the handshake, command_timeout every statement (and the pre-ping).
        # Pre-ping only idle connections (see _ping_idle_connections), not SQLAlchemy's pool_pre_ping.
        timeout = settings.database_timeout_seconds
        # A pool smaller than the concurrent requests churns: each connection past it is opened (TCP, TLS
        # negotiation, authentication) and closed again per request, a fifth of a turn's CPU under load.
        # Last in, first out: a steady load keeps using the same few connections, and the rest, opened at a peak,
        # sit idle until PostgreSQL closes them (_close_idle_sessions).
        kwargs.update(pool_size=settings.database_pool_size, max_overflow=5, pool_recycle=1800, pool_timeout=timeout,
                      pool_use_lifo=True, connect_args={"timeout": timeout, "command_timeout": timeout})
    # JSON columns (the turn log's replies, case events' data) through orjson, as everything else: core.jsoncodec.
    engine = create_async_engine(url, json_serializer=jsoncodec.dumps, json_deserializer=jsoncodec.loads, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        _ping_idle_connections(engine)
        _close_idle_sessions(engine, settings.pool_idle_seconds)
    return engine


@contextlib.asynccontextmanager
async def open_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The engine for the configured database once one connection has been opened (`_check_reachable`),
    disposed at the end: what the server and every command that touches SQL start with.
    """
    engine = create_engine(settings)
    try:
        await _check_reachable(engine, settings)
        yield engine
    finally:
        await engine.dispose()


async def _check_reachable(engine: AsyncEngine, settings: Settings) -> None:
    """Open one connection, so that a database that is down, a wrong user or password, or a database that does
    not exist stops the start (or `yichuang migrate`) with one line naming the setting, not a traceback.
    """
    setting = "YICHUANG_DATABASE_URL" if settings.database_url else "YICHUANG_DATA_DIR"
    try:
        async with engine.connect():
            pass
    except (OSError, TimeoutError, DBAPIError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        raise ConfigError(f"{setting}: cannot reach the database ({reason})") from None


def _close_idle_sessions(engine: AsyncEngine, idle_seconds: float) -> None:
    """Have PostgreSQL (14 or later) close each of the engine's connections that sits unused in the pool for
    `idle_seconds` (its idle_session_timeout), so the pool shrinks back after a peak.

    SQLAlchemy's pool closes nothing for being idle; its documentation pairs LIFO with a server-side timeout
    for this. The pool finds out when it next lends the connection: one idle that long is pinged first
    (_ping_idle_connections, IDLE_PING_SECONDS is shorter) and replaced. Older servers lack the setting: there
    the pool keeps what it opened, bounded by its size.
    """
    milliseconds = int(idle_seconds * 1000)

    async def set_timeout(connection: Any) -> None:  # an asyncpg connection
        if connection.get_server_version().major >= 14:
            await connection.execute(f"SET idle_session_timeout = {milliseconds}")

    def connected(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.run_async(set_timeout)

    event.listen(engine.sync_engine, "connect", connected)


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """Test a pooled connection before use only if it sat idle for IDLE_PING_SECONDS.

    SQLAlchemy's pool_pre_ping tests every checkout, and with asyncpg a ping is three round trips (BEGIN, a
    query, ROLLBACK): under load that was a fifth of a turn's SQL time (issue 9). A connection in steady use
    has just proved itself; one idle for a while may have been cut by a database restart nobody saw. A
    connection that dies in use anyway fails its request with 503, and SQLAlchemy then invalidates the pool.
    """
    dialect = engine.sync_engine.dialect

    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool discards it and checks out another (or connects anew)
            raise DisconnectionError(f"idle connection is dead: {exc}") from exc

    event.listen(engine.sync_engine, "checkin", checked_in)
    event.listen(engine.sync_engine, "checkout", checked_out)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the shell read while the server writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


_AUTOCOMMIT_ENGINES: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()


def single_statement_engine(db: SessionFactory) -> AsyncEngine:
    """The engine behind `db`, for a lone SELECT that needs no transaction: on PostgreSQL in autocommit, which
    saves the BEGIN and ROLLBACK round trips around it (SQLite begins none for a SELECT anyway).
    """
    engine = db.kw.get("bind")
    if not isinstance(engine, AsyncEngine):
        raise TypeError("the session factory is not bound to an AsyncEngine")
    if engine.dialect.name != "postgresql":
        return engine
    # Made once per engine: insert_numbered asks on every record it numbers, and making one costs ~30 µs.
    single = _AUTOCOMMIT_ENGINES.get(engine)
    if single is None:
        single = _AUTOCOMMIT_ENGINES[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return single


def read_sessions(db: SessionFactory) -> SessionFactory:
    """Sessions like `db`'s for reads that change nothing: on PostgreSQL in autocommit, so a read costs its
    SELECTs and not the BEGIN and ROLLBACK round trips around them (issue 9: a handoff turn made six of them).
    Each SELECT sees the data committed when it runs; use `db` itself where reads must agree or lead to a write.
    """
    return session_factory(single_statement_engine(db))


def stored(model: type[StoredModel], row: Any) -> StoredModel:
    """A model object for a row read or written by a Core statement (its mapping of column values), marked as
    stored: a session it is added to later updates that row instead of inserting a second one.
    """
    record = model(**row)
    make_transient_to_detached(record)
    return record


def upsert_insert(dialect: Dialect, table: Table) -> PostgresqlInsert | SqliteInsert:
    """An INSERT into `table` that can take ON CONFLICT clauses, in `dialect`'s own flavour (both backends
    spell them the same way).
    """
    return postgresql_insert(table) if dialect.name == "postgresql" else sqlite_insert(table)


def session_factory(engine: AsyncEngine) -> SessionFactory:
    """A factory of SQLModel async sessions that keep objects usable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
