"""An aiosqlite connection that runs each SQLite call at once, in the event loop's thread.

aiosqlite hands every call (execute, fetch, close the cursor, commit) to a worker thread and
waits for the answer: four or five crossings per statement, each costing far more than the
statement itself on a small local database. This process already runs one transaction at a
time on SQLite (see `Database.transaction`), so the thread buys no concurrency; running the
calls inline makes a whole update's transaction several times cheaper.

The one call that could block for long is taking SQLite's write lock while another process
(an admin's CLI command) holds it. So connections wait inside SQLite only briefly
(`BUSY_WAIT`), and `begin_immediate` waits for the write lock by sleeping on the event loop.

SQLAlchemy's aiosqlite dialect talks to aiosqlite's connection, partly through its queue to the
worker thread; replacing that queue with one that runs what it is given keeps the dialect's
whole behaviour (errors, pooling, cursors) unchanged. That queue is private, so pyproject.toml
admits only the tested aiosqlite releases and tests/test_sqlite_inline.py checks the contract.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.util import await_

log = logging.getLogger(__name__)

# How long one statement may wait inside SQLite for a lock, blocking the event loop. With WAL,
# only taking the write lock waits in practice, and that is done by `begin_immediate`.
BUSY_WAIT = 0.05
# How long a transaction waits for another process to release the write lock before failing.
WRITE_LOCK_WAIT = 30.0
_SQLITE_BUSY = 5


class _RunAtOnce:
    """Takes the place of aiosqlite's queue to its worker thread: runs what it is given."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller, as the thread would
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection without its worker thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunAtOnce()  # type: ignore[assignment]

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The sqlite3 connection itself: calls on it run at once, like everything here."""
        return self._conn

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:
        # aiosqlite starts its thread here; there is none to start.
        return self._connect().__await__()


def driver(dbapi_connection: Any) -> sqlite3.Connection:
    """The sqlite3 connection under SQLAlchemy's adapter of an `InlineConnection`.

    `dbapi_connection` is what SQLAlchemy's pool events are given (or a pool's connection
    fairy); its `driver_connection` is the aiosqlite connection this module made.
    """
    connection = dbapi_connection.driver_connection
    if not isinstance(connection, InlineConnection):
        raise TypeError(f"not an inline SQLite connection: {connection!r}")
    return connection.sqlite


_DRIVER = "sqlite_inline.driver"
_FIXED = "sqlite_inline.fixed_driver"


async def driver_of(session: AsyncSession) -> sqlite3.Connection | None:
    """The sqlite3 connection running `session`'s transaction (begun if it was not yet),
    or None on another database.

    For the per-update path's few fixed statements: run on it as prepared statements (Python's
    sqlite3 keeps them compiled per connection), they share the session's transaction, so
    they commit or roll back with everything else the update wrote, while skipping
    SQLAlchemy's per-statement work. A group commit member's session is given it as it
    begins (`use_driver`), its SAVEPOINT already open there; any other session's is found
    once per transaction, or per SAVEPOINT: the session begins a SAVEPOINT only when first
    asked for its connection inside it, and statements run here before it would not be
    rolled back with it.
    """
    info = session.info
    fixed = info.get(_FIXED)
    if fixed is not None:
        return fixed  # type: ignore[no-any-return]
    sync = session.sync_session
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    cached = info.get(_DRIVER)
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1]  # type: ignore[no-any-return]
    if session.get_bind().dialect.name != "sqlite":
        return None
    # Begins the transaction (BEGIN IMMEDIATE) or the SAVEPOINT, if not yet begun.
    connection = await session.connection()
    fairy = await connection.get_raw_connection()
    inline = fairy.driver_connection
    if not isinstance(inline, InlineConnection):
        return None
    info[_DRIVER] = (sync.get_nested_transaction() or sync.get_transaction(), inline.sqlite)
    return inline.sqlite


def use_driver(session: AsyncSession, sqlite: sqlite3.Connection) -> None:
    """Have `driver_of` give `sqlite` for `session`, whatever its own
    transaction: a group commit member's session, bound to a connection whose transaction
    (and the member's SAVEPOINT) is already open there (`storage.group_commit`)."""
    session.info[_FIXED] = sqlite


def undo_savepoint(sqlite: sqlite3.Connection, name: str) -> None:
    """Roll back to SAVEPOINT `name` and release it: undone and gone, so a transaction with
    failed parts leaves no stack of savepoints behind."""
    sqlite.execute(f"ROLLBACK TO SAVEPOINT {name}")
    sqlite.execute(f"RELEASE SAVEPOINT {name}")


def plain_savepoints(dialect: Dialect) -> None:
    """Have `dialect` (an inline SQLite engine's) run SAVEPOINT, RELEASE and ROLLBACK TO
    straight on the driver: SQLAlchemy builds and compiles a statement object for each,
    which cost more than the rest of a small transaction's savepoint (group commit opens
    one per transaction). A savepoint rolled back is released too (`undo_savepoint`)."""

    def savepoint(connection: Connection, name: str) -> None:
        driver(connection.connection).execute(f"SAVEPOINT {name}")

    def release(connection: Connection, name: str) -> None:
        driver(connection.connection).execute(f"RELEASE SAVEPOINT {name}")

    def rollback_to(connection: Connection, name: str) -> None:
        undo_savepoint(driver(connection.connection), name)

    dialect.do_savepoint = savepoint  # type: ignore[method-assign]
    dialect.do_release_savepoint = release  # type: ignore[method-assign]
    dialect.do_rollback_to_savepoint = rollback_to  # type: ignore[method-assign]


def creator(path: str) -> Callable[[], Any]:
    """An `async_creator` for SQLAlchemy's aiosqlite dialect: inline connections to `path`."""

    async def connect() -> InlineConnection:
        def open_file() -> sqlite3.Connection:
            # Connections are made and used on the event loop's thread, but the pool may
            # finalise one from another thread (garbage collection at exit).
            return sqlite3.connect(path, timeout=BUSY_WAIT, check_same_thread=False)

        return await InlineConnection(open_file)

    return connect


def immediate_begins(dialect: Dialect) -> None:
    """Have `dialect` (an inline SQLite engine's) begin every transaction with BEGIN
    IMMEDIATE, run on the driver (`begin_immediate`). Every transaction here writes (at
    least the conversation step); a deferred BEGIN that reads first cannot upgrade to a
    write once another connection has committed (a "busy snapshot" error, not a wait), so
    each takes the write lock up front and queues behind it. SQLAlchemy wraps what it
    raises, as it would the driver's own BEGIN."""
    dialect.do_begin = begin_immediate  # type: ignore[method-assign]


def begin_immediate(dbapi_connection: Any) -> None:
    """SQLAlchemy's BEGIN (`immediate_begins`): BEGIN IMMEDIATE on the driver
    (`begin_immediate_waiting`), or nothing on a connection whose transaction group commit
    has begun on the driver already (`storage.group_commit`: SQLAlchemy takes that one up
    only if a member uses the ORM). Runs inside the async engine's greenlet, where `await_`
    can wait on the event loop."""
    sqlite = driver(dbapi_connection)
    if not sqlite.in_transaction:
        await_(begin_immediate_waiting(sqlite))


async def begin_immediate_waiting(sqlite: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE on the driver (a statement through SQLAlchemy costs several times
    SQLite's own work for it), waiting for another process's write lock on the event loop
    rather than inside SQLite, which would block it."""
    deadline = time.monotonic() + WRITE_LOCK_WAIT
    pause = 0.005
    while True:
        try:
            sqlite.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == _SQLITE_BUSY
            if not busy or time.monotonic() >= deadline:
                raise
        log.debug("SQLite write lock held by another process; waiting %.3f s", pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.25)
