"""Group commit on SQLite: transactions that queue for the write turn together share one
SQLite transaction and one COMMIT, each after the first in a SAVEPOINT of its own."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from storage import sqlite_inline

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

    __slots__ = ("broken", "closes", "connection", "members", "sqlite", "waiting")

    def __init__(self, connection: AsyncConnection, sqlite: sqlite3.Connection) -> None:
        # Holds the shared transaction; each member's session is bound to it.
        self.connection = connection
        # When it stops taking members (the loop's clock).
        self.closes = asyncio.get_running_loop().time() + GROUP_WINDOW
        # The driver's connection beneath: members' SAVEPOINTs run on it, and it tells
        # whether the transaction is still open.
        self.sqlite = sqlite
        self.members = 0
        # One future per member waiting for the COMMIT, so a waiter cancelled cancels no other.
        self.waiting: list[asyncio.Future[None]] = []
        # Why the shared transaction can take no more work (a savepoint could not be rolled
        # back): then nothing is committed and every waiting member gets this error.
        self.broken: BaseException | None = None


class GroupCommitBroken(RuntimeError):
    """A transaction in the same group failed in a way that lost the whole group's work."""


# The SAVEPOINT a member after a group's first works in, run on the driver (SQLite matches a
# name to the innermost SAVEPOINT holding it; members never overlap). The ORM's own are
# named sa_savepoint_N.
_SAVEPOINT = "gs_member"


class GroupCommit:
    """Group commit on SQLite: transactions that queue for the write turn together share one
    SQLite transaction and one COMMIT.

    A new connection and BEGIN IMMEDIATE … COMMIT cost several times what a SAVEPOINT
    inside an open transaction costs. So when the turn's holder is done and someone waits
    for the turn, it hands the turn on together with the open transaction and waits for the
    COMMIT; the next does its work in a SAVEPOINT of its own, and so on; the last of the
    group (nobody waiting, `GROUP_LIMIT` members or `GROUP_WINDOW` reached, or an urgent
    member, which must not wait for the others) commits and wakes them. A member whose work
    raised has its SAVEPOINT rolled back and raises at once; nothing of it is committed.
    None of the others exits its block before the COMMIT holding its work succeeded (a step
    is on disk before it is answered); if the COMMIT fails, they all raise its error.

    Each member has an ORM session of its own, bound to the group's connection, whose own
    transaction is an ORM SAVEPOINT inside the member's, begun only if the member uses the
    ORM: the per-update path's statements run on the driver (`sqlite_inline.driver_of`),
    and an ORM SAVEPOINT with its session transaction costs several times one run there.
    A member's objects are its session's alone, so none reads another's (which could be
    stale after statements past the ORM), and a flush that fails rolls back to the ORM's
    SAVEPOINT, never the group's transaction.

    With the inline driver a transaction rarely gives the event loop a turn, so nobody would
    ever be found waiting: the last member lets the loop run once before it commits, and the
    updates that arrived meanwhile queue and join (`_pass_on`). The first member of a group
    needs no SAVEPOINT: nobody else's work is in the transaction yet, and if it fails the
    whole transaction is rolled back, so a group of one costs what a transaction did before,
    plus that one turn of the loop.
    """

    def __init__(self, engine: AsyncEngine, turn: WriteTurn) -> None:
        self.engine = engine
        self.turn = turn
        # The connection groups run on, kept from one group to the next: taking one from
        # the pool and giving it back (with the pool's reset) cost more than the whole
        # transaction of a step. Given back to the pool after a group that failed.
        self._writer: tuple[AsyncConnection, sqlite3.Connection] | None = None
        self._keep_writer = True

    async def close(self, for_good: bool = False) -> None:
        """Close the connection kept between groups (before the pool is disposed of: a
        connection taken out of it is not closed with it). After closing `for_good`,
        transactions still work, but each group takes a connection from the pool and gives
        it back: nobody would close one kept then."""
        if for_good:
            self._keep_writer = False
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer[0].close()

    @asynccontextmanager
    async def member(self, urgent: bool) -> AsyncIterator[AsyncSession]:
        """One transaction, as a member of the group holding the turn (or of a new one)."""
        group = await self._join(urgent)
        group.members += 1
        alone = group.members == 1
        session = AsyncSession(
            bind=group.connection,
            sync_session_class=_MemberSession,
            expire_on_commit=False,
            # The first member's failure is the whole transaction's (rolled back below);
            # a later one's ORM work goes in an ORM SAVEPOINT inside its own.
            join_transaction_mode="rollback_only" if alone else "create_savepoint",
        )
        sqlite_inline.use_driver(session, group.sqlite)
        try:
            if not alone:
                group.sqlite.execute(f"SAVEPOINT {_SAVEPOINT}")
            yield session
            await _end(session)
            if not alone:
                group.sqlite.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await session.close()  # rolls back its ORM SAVEPOINT, if it had one
            if alone:
                # Only its own work is in the transaction: all of it goes.
                group.broken = exc
                await self._finish(group)
                raise
            if group.broken is None and not _rolled_back_to_savepoint(group):
                group.broken = GroupCommitBroken(f"a transaction of the group failed: {exc!r}")
            await self._pass_on(group, urgent, waits=False)
            raise
        await self._pass_on(group, urgent, waits=True)

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
        kept, self._writer = self._writer, None
        connection: AsyncConnection | None = None
        try:
            if kept is None:
                connection = await self.engine.connect()
                sqlite = sqlite_inline.driver(await connection.get_raw_connection())
            else:
                connection, sqlite = kept
            # BEGIN IMMEDIATE now, on the driver (SQLAlchemy takes the transaction up only if
            # a member uses the ORM): it may wait for another process's write lock.
            await sqlite_inline.begin_immediate_waiting(sqlite)
        except BaseException:
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()
            self.turn.release()
            raise
        return _Group(connection, sqlite)

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
        keep the connection for the next group (or give it back to the pool after a failure)
        and hand the turn on. Returns what kept the work from being committed, if anything."""
        connection = group.connection
        error: BaseException | None = group.broken
        try:
            if error is None:
                await _commit(group)
        except BaseException as exc:  # CancelledError too: the members must hear of it
            error = exc
        try:
            if error is not None:
                with contextlib.suppress(Exception):
                    await _roll_back(group)
                await connection.close()
            elif self._writer is None and self._keep_writer:
                self._writer = (connection, group.sqlite)
            else:
                await connection.close()
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


class _MemberSession(Session):
    """A group member's ORM session (`_take_up_group_transaction`)."""


@event.listens_for(_MemberSession, "after_transaction_create")
def _take_up_group_transaction(session: Session, transaction: SessionTransaction) -> None:
    # The group's transaction is begun on the driver; SQLAlchemy's connection learns of it
    # only when a member first uses the ORM (its BEGIN sends nothing then: see
    # `sqlite_inline.begin_immediate`). Before the session takes its connection, so the
    # session joins that transaction (the first member) or opens a SAVEPOINT in it (the
    # others), as for any transaction begun outside it, instead of owning one and ending
    # the group's with its own COMMIT.
    if transaction.parent is None:
        connection = session.bind
        if isinstance(connection, Connection) and not connection.in_transaction():
            connection.begin()


async def _commit(group: _Group) -> None:
    """COMMIT the group's transaction: through SQLAlchemy if a member's ORM work made it
    take the transaction up, else on the driver."""
    if group.connection.in_transaction():
        await group.connection.commit()
    else:
        group.sqlite.execute("COMMIT")


async def _roll_back(group: _Group) -> None:
    """Roll the group's transaction back, wherever it stands."""
    if group.connection.in_transaction():
        await group.connection.rollback()
    elif group.sqlite.in_transaction:
        group.sqlite.execute("ROLLBACK")


async def _end(session: AsyncSession) -> None:
    """Write what a member's session holds and end its transaction (the ORM SAVEPOINT, for
    a member after the first), then let its objects go: they belong to no later member. A
    session the member never used costs nothing here."""
    if session.in_transaction() or session.new or session.dirty or session.deleted:
        await session.commit()
        await session.close()
    elif session.identity_map:
        await session.close()


def _rolled_back_to_savepoint(group: _Group) -> bool:
    """Roll a failed member's work back to its SAVEPOINT; whether the shared transaction is
    still whole after that (SQLite rolls a whole transaction back on some errors, a full disk
    among them, and then the SAVEPOINT is gone too)."""
    try:
        sqlite_inline.undo_savepoint(group.sqlite, _SAVEPOINT)
    except sqlite3.Error:
        return False
    return group.sqlite.in_transaction
