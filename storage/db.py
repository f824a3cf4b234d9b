"""Engine, sessions and migrations. A fresh database is created and migrated on first use."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage import outbox, sqlite_inline

MIGRATIONS = Path(__file__).parent / "migrations"
# An arbitrary advisory lock key ("GS" migrate) that only migrations take.
MIGRATION_LOCK = 0x4753_6D69_6772


def alembic_config(url: str) -> Config:
    """An Alembic config that needs no alembic.ini, so an installed package can migrate too."""
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
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
            sqlite_inline.plain_savepoints(self.engine.sync_engine.dialect)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_turn = WriteTurn() if self.is_sqlite else None
        self._group_commit = (
            _GroupCommit(self.sessions, self._write_turn) if self._write_turn is not None else None
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
        COMMIT (group commit, `_GroupCommit`), each in a SAVEPOINT of its own. So, on
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
        """Bring the schema to the newest migration."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade, self.url)

    async def setup_lock(self, session: AsyncSession) -> None:
        """Within `session`'s transaction, wait until no other process is setting up
        (migrating, recording campaigns): worker processes start together."""
        if not self.is_sqlite:
            await session.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


# A group takes no more members past this many, or once it has been open this long (seconds
# on the event loop's clock), so the first one's answer waits for at most that many others'
# work, or about that long, and the COMMIT. Each member joins a loop turn after the one before
# it, and every turn also runs whatever else is ready (other updates arriving, answers being
# sent): at people's pace, groups of 64 made the slowest answers (p99) three times slower.
GROUP_LIMIT = 64
GROUP_WINDOW = 0.01


class WriteTurn:
    """A lock taken in order of arrival, except that urgent takers go before the others.
    Its holder may hand it on with something that comes with it (an open group commit)."""

    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[Any]] = deque()
        self._waiting: deque[asyncio.Future[Any]] = deque()

    def take(self, urgent: bool = False) -> asyncio.Future[Any] | None:
        """The turn at once (None), or a place in the queue: a future that comes true with
        what the turn is handed on with (None for nothing). A taker that stops waiting
        calls `withdraw`, or, if it was handed the turn meanwhile, hands it on."""
        if not self._held and not self._urgent and not self._waiting:
            self._held = True
            return None
        turn: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._waiting).append(turn)
        return turn

    def withdraw(self, turn: asyncio.Future[Any]) -> None:
        """Leave the queue without the turn."""
        for queue in (self._urgent, self._waiting):
            with contextlib.suppress(ValueError):
                queue.remove(turn)

    def waited_for(self) -> bool:
        """Whether anybody waits for the turn."""
        return any(not turn.done() for queue in (self._urgent, self._waiting) for turn in queue)

    def hand_on(self, with_it: Any) -> bool:
        """Hand the turn and `with_it` to the next taker, urgent ones first; False, and the
        turn still held, if nobody waits for it."""
        for queue in (self._urgent, self._waiting):
            while queue:
                turn = queue.popleft()
                if not turn.done():  # a cancelled taker's place, until it withdraws
                    turn.set_result(with_it)
                    return True
        return False

    def release(self) -> None:
        """Hand the turn to the next taker with nothing, or free it."""
        if not self.hand_on(None):
            self._held = False


class _Group:
    """One SQLite transaction shared by transactions that queued for the turn together."""

    __slots__ = ("broken", "closes", "members", "session", "sqlite", "waiting")

    def __init__(self, session: AsyncSession, sqlite: Any) -> None:
        self.session = session
        # When it stops taking members (the loop's clock).
        self.closes = asyncio.get_running_loop().time() + GROUP_WINDOW
        # The driver's connection beneath, to see whether its transaction is still open.
        self.sqlite = sqlite
        self.members = 0
        # One future per member waiting for the COMMIT, so a waiter cancelled cancels no other.
        self.waiting: list[asyncio.Future[None]] = []
        # Why the shared transaction can take no more work (a savepoint could not be rolled
        # back): then nothing is committed and every waiting member gets this error.
        self.broken: BaseException | None = None


class GroupCommitBroken(RuntimeError):
    """A transaction in the same group failed in a way that lost the whole group's work."""


class _GroupCommit:
    """Group commit on SQLite: transactions that queue for the write turn together share one
    SQLite transaction and one COMMIT.

    A new session and BEGIN IMMEDIATE … COMMIT cost several times what a SAVEPOINT inside an
    open transaction costs. So when the turn's holder is done and someone waits for the
    turn, it hands the turn on together with its open session and waits for the COMMIT; the
    next does its work in a SAVEPOINT of its own, and so on; the last of the group (nobody
    waiting, `GROUP_LIMIT` members or `GROUP_WINDOW` reached, or an urgent member, which must
    not wait for the others)
    commits and wakes them. A member whose work raised has its SAVEPOINT rolled back and
    raises at once; nothing of it is committed. None of the others exits its block before
    the COMMIT holding its work succeeded (a step is on disk before it is answered); if the
    COMMIT fails, they all raise its error.

    With the inline driver a transaction rarely gives the event loop a turn, so nobody would
    ever be found waiting: the last member lets the loop run once before it commits, and the
    updates that arrived meanwhile queue and join (`_pass_on`). The first member of a group
    needs no SAVEPOINT: nobody else's work is in the transaction yet, and if it fails the
    whole transaction is rolled back, so a group of one costs what a transaction did before,
    plus that one turn of the loop.

    The members share one session: between members its identity map is emptied, so a member
    never reads another's objects (which could be stale after statements past the ORM), and
    the outbox's per-transaction flag is kept per member (`outbox.pop_queued`).
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], turn: WriteTurn) -> None:
        self.sessions = sessions
        self.turn = turn

    @asynccontextmanager
    async def member(self, urgent: bool) -> AsyncIterator[AsyncSession]:
        """One transaction, as a member of the group holding the turn (or of a new one)."""
        group = await self._join(urgent)
        session = group.session
        group.members += 1
        alone = group.members == 1
        try:
            if alone:
                yield session
                await session.flush()  # its errors are this member's, before anyone joins
            else:
                async with session.begin_nested():
                    yield session
        except BaseException as exc:
            outbox.pop_queued(session)
            if alone:
                # Only its own work is in the transaction: all of it goes.
                group.broken = exc
                await self._finish(group)
                raise
            # The SAVEPOINT was rolled back as the block above ended (or could not be: then
            # the group's work is lost).
            if group.broken is None and not self._intact(group):
                group.broken = GroupCommitBroken(f"a transaction of the group failed: {exc!r}")
            await self._pass_on(group, urgent, waits=False)
            raise
        queued = outbox.pop_queued(session)
        await self._pass_on(group, urgent, waits=True)
        # Nothing suspends between here and the caller's next statement, where the router
        # reads the flag.
        outbox.set_queued(session, queued)

    async def _join(self, urgent: bool) -> _Group:
        turn = self.turn.take(urgent)
        if turn is not None:
            try:
                group = await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    # Handed the turn (and perhaps a group) just as it was cancelled.
                    await self._pass_on(turn.result(), urgent=False, waits=False)
                else:
                    self.turn.withdraw(turn)
                raise
            if group is not None:
                return group  # type: ignore[no-any-return]
        session = self.sessions()
        try:
            # BEGIN IMMEDIATE now: it may wait for another process's write lock.
            connection = await session.connection()
            sqlite = sqlite_inline.driver(await connection.get_raw_connection())
        except BaseException:
            await session.close()
            self.turn.release()
            raise
        return _Group(session, sqlite)

    async def _pass_on(self, group: _Group | None, urgent: bool, waits: bool) -> None:
        """Hand the turn and the group to the next taker, and, if `waits`, wait for the
        COMMIT; or, with nobody to take it, finish the group."""
        if group is None:
            self.turn.release()
            return
        if (
            group.broken is None
            and not urgent
            and group.members < GROUP_LIMIT
            and asyncio.get_running_loop().time() < group.closes
        ):
            committed = asyncio.get_running_loop().create_future() if waits else None
            if committed is not None:
                group.waiting.append(committed)
            if not self.turn.waited_for():
                try:
                    await asyncio.sleep(0)  # let what is ready run, and queue
                except asyncio.CancelledError:
                    await self._finish(group)
                    raise
            if self.turn.waited_for():
                # The next member must not meet this one's objects (or a failed one's).
                group.session.expunge_all()
                self.turn.hand_on(group)
                if committed is not None:
                    await committed  # cancelled: the group commits without this member waiting
                return
            if committed is not None:
                group.waiting.pop()
        error = await self._finish(group)
        if waits and error is not None:
            raise error

    async def _finish(self, group: _Group) -> BaseException | None:
        """COMMIT the group (or roll it back if it is broken), tell every waiting member,
        close the session and hand the turn on. Returns what kept the work from being
        committed, if anything."""
        session = group.session
        error: BaseException | None = group.broken
        try:
            if error is None:
                await session.commit()
        except BaseException as exc:  # CancelledError too: the members must hear of it
            error = exc
        try:
            if error is not None:
                with contextlib.suppress(Exception):
                    await session.rollback()
            await session.close()
        finally:
            told = error
            if isinstance(error, asyncio.CancelledError):
                told = GroupCommitBroken("the group's COMMIT was interrupted")
            for committed in group.waiting:
                if committed.done():
                    continue
                if told is None:
                    committed.set_result(None)
                else:
                    committed.set_exception(told)
            self.turn.release()
        return error

    @staticmethod
    def _intact(group: _Group) -> bool:
        """Whether the shared transaction is still open after a member's SAVEPOINT ended
        (SQLite rolls a whole transaction back on some errors, a full disk among them)."""
        sync = group.session.sync_session
        root = sync.get_transaction()
        return (
            root is not None
            and root.is_active
            and not sync.in_nested_transaction()
            and group.sqlite.in_transaction
        )


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


def _upgrade(connection: Connection, url: str) -> None:
    if connection.dialect.name == "postgresql":
        # Worker processes start together; one migrates while the others wait, then find
        # the schema current. The lock ends with the migration's transaction.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    cfg = alembic_config(url)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own implicit BEGIN is turned off so _sqlite_begin decides how to begin.
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


def _sqlite_begin(connection: Connection) -> None:
    # Every transaction here writes (at least the conversation step). A deferred BEGIN that
    # reads first cannot upgrade to a write once another connection has committed (a "busy
    # snapshot" error, not a wait), so take the write lock up front and queue behind it.
    sqlite_inline.begin_immediate(connection)
