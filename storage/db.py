"""Engine, sessions and migrations. A fresh database is created and migrated on first use."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, exc, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage import sqlite_inline
from storage.group_commit import GroupCommit, WriteTurn
from storage.migrations import HEAD

# Alembic is imported when a migration runs: a tenth of every command's start otherwise.
if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# An arbitrary advisory lock key ("GS" migrate) that only migrations take.
MIGRATION_LOCK = 0x4753_6D69_6772


def alembic_config(url: str) -> Config:
    """An Alembic config that needs no alembic.ini, so an installed package can migrate too."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class Database:
    """One engine and session factory for the whole process."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            path = parsed.database or ":memory:"
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["async_creator"] = sqlite_inline.creator(path)
        # JSON as UTF-8, not \u escapes: Vietnamese answers store in two thirds of the room
        # and read back three times faster (a draft is read and written whole each step).
        kwargs["json_serializer"] = _json_text
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if not self.is_sqlite:
            event.listen(self.engine.sync_engine, "checkout", _drop_closed)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            sqlite_inline.immediate_begins(self.engine.sync_engine.dialect)
            sqlite_inline.plain_savepoints(self.engine.sync_engine.dialect)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_turn = WriteTurn() if self.is_sqlite else None
        self._group_commit = (
            GroupCommit(self.engine, self._write_turn) if self._write_turn is not None else None
        )

    @asynccontextmanager
    async def transaction(self, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error.
        The block exits only once its work is committed (or with the error that kept it from
        being committed).

        On SQLite, transactions of this process queue for their turn first. SQLite has one
        writer at a time anyway; waiting here is first come, first served, where connections
        waiting inside SQLite's busy handler sleep and retry with growing naps. An `urgent`
        transaction (the outbox recording that a message went out) goes ahead of those
        waiting. Transactions that queue together share one SQLite transaction and one
        COMMIT (`storage.group_commit`), each in a SAVEPOINT of its own. So, on
        SQLite, a block must not call the session's commit() or rollback() (they would end
        everyone's transaction), nor wait for what another transaction's caller does only
        after its block exits (that exit waits for the COMMIT, which waits for this block).
        Transactions must not nest (none do).
        """
        if self._group_commit is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with self._group_commit.member(urgent) as session:
            yield session

    async def upgrade(self) -> None:
        """Bring the schema to the newest migration; Alembic runs only if it is behind."""
        async with self.engine.begin() as conn:
            if await conn.run_sync(_at_head):
                return
            await conn.run_sync(_upgrade, self.url)

    async def setup_lock(self, session: AsyncSession) -> None:
        """Within `session`'s transaction, wait until no other process is setting up
        (migrating, recording campaigns): worker processes start together."""
        if not self.is_sqlite:
            await session.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))

    async def dispose(self, for_good: bool = False) -> None:
        """Close every pooled connection, and group commit's own; the next transactions open
        new ones. After closing `for_good` (`close`), none is kept open between them."""
        if self._group_commit is not None:
            await self._group_commit.close(for_good)
        await self.engine.dispose()

    async def close(self) -> None:
        """Close every connection, for good: used after this (a test reading what a stopped
        bot left), the database opens a connection per transaction and keeps none open."""
        await self.dispose(for_good=True)


# Each database's `insert` construct, the one with ON CONFLICT clauses (SQLite and PostgreSQL
# spell them alike), by dialect name.
UPSERT_INSERTS: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def inserts_skipping_conflicts(table: Any) -> dict[str, Any]:
    """INSERT … ON CONFLICT DO NOTHING into `table`, built once per database, by dialect name;
    the values come with each execution."""
    return {
        dialect: insert(table).on_conflict_do_nothing()
        for dialect, insert in UPSERT_INSERTS.items()
    }


def upsert_insert(session: AsyncSession) -> Any:
    """The `insert` construct with ON CONFLICT clauses of the session's database."""
    return UPSERT_INSERTS.get(session.get_bind().dialect.name, sqlite.insert)


def _at_head(connection: Connection) -> bool:
    """Whether the database's schema is at the newest migration already."""
    if not connection.dialect.has_table(connection, "alembic_version"):
        return False
    versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
    return versions.scalars().all() == [HEAD]


def _upgrade(connection: Connection, url: str) -> None:
    if connection.dialect.name == "postgresql":
        # Worker processes start together; one migrates while the others wait, then find
        # the schema current. The lock ends with the migration's transaction.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    from alembic import command

    cfg = alembic_config(url)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def _json_text(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        # A lone surrogate (half an emoji) has no UTF-8: escaped, as JSON allows, it is kept.
        return json.dumps(value)
    return text


def _drop_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # A pooled connection the server has closed (a restart, an idle timeout) is replaced
    # before use. asyncpg notices the closed socket as it happens, so this costs no round
    # trip, where the pool's pre-ping costs three per transaction on asyncpg (BEGIN, an empty
    # query, ROLLBACK): a third of the round trips of a step. A connection lost without a
    # word (a cable pulled mid-transaction) fails its transaction, which is rolled back and
    # the person asked to send again, as with pre-ping; SQLAlchemy then drops the whole pool.
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        raise exc.DisconnectionError("the server closed this connection")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own implicit BEGIN is turned off: `sqlite_inline.begin_immediate` begins.
    dbapi_connection.isolation_level = None
    # WAL lets readers go on while one writer writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL syncs at checkpoints, not at every commit: a killed process loses
    # nothing committed, only a power cut could lose the last moments. FULL made every
    # message wait for the disk.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
