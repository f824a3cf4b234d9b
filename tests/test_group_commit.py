"""Group commit on SQLite (`storage.group_commit`): transactions that queue for the write
turn together share one SQLite transaction and one COMMIT, each in a SAVEPOINT of its own.

Every test holds the turn with a first transaction until the others are queued behind it
(seen in the turn's queues), so the group is formed by the event loop's order, not by timing.
COMMITs are counted by SQLite's own trace, as `bench.updates` counts statements.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import GuongSang
from storage import events, group_commit, outbox, sqlite_inline, updates
from storage.models import OutboxMessage, ProcessedUpdate
from tests.backends import sqlite_only

pytestmark = sqlite_only()
NOW = datetime(2024, 1, 10, 3, 0, tzinfo=UTC)
# Far above any real wait: reached only if something hangs.
HANG = 20.0


@pytest.fixture(autouse=True)
def _groups_stay_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """A group's time window is far longer here than any test: groups form by the event
    loop's order alone, however slow the machine (one test closes it at once)."""
    monkeypatch.setattr(group_commit, "GROUP_WINDOW", 3600.0)


@asynccontextmanager
async def traced(app: GuongSang) -> AsyncIterator[list[str]]:
    """What SQLite runs on connections checked out meanwhile (BEGIN, SAVEPOINT, COMMIT…),
    in order; the list is shared with the test, which adds its own marks to it."""
    log: list[str] = []

    def trace(dbapi_connection: object, *_args: object) -> None:
        sqlite_inline.driver(dbapi_connection).set_trace_callback(log.append)

    await app.db.dispose()  # pooled connections were checked out before the listener
    pool = app.db.engine.sync_engine.pool
    event.listen(pool, "checkout", trace)
    try:
        yield log
    finally:
        event.remove(pool, "checkout", trace)
        await app.db.dispose()


def commits(log: list[str]) -> int:
    return sum(1 for line in log if line.startswith("COMMIT"))


async def queued(app: GuongSang, count: int, urgent: int = 0) -> None:
    """Wait (by turns of the event loop) until `count` transactions wait for the turn, of
    them `urgent` urgent."""
    turn = app.db._write_turn
    assert turn is not None
    for _ in range(10_000):
        waiting = [t for t in turn._waiting if not t.done()]
        hurrying = [t for t in turn._urgent if not t.done()]
        if len(waiting) + len(hurrying) == count and len(hurrying) == urgent:
            return
        await asyncio.sleep(0)
    raise AssertionError("the transactions never queued")


async def claimed(app: GuongSang, key: str) -> bool:
    """Whether the update `key` was claimed and committed."""
    async with app.db.transaction() as session:
        found = await session.scalar(
            text("SELECT 1 FROM processed_updates WHERE update_key = :k"), {"k": key}
        )
    return found is not None


async def claim(app: GuongSang, key: str) -> bool:
    """Claim `key` in a transaction of its own."""
    async with app.db.transaction() as session:
        return await updates.claim(session, "telegram", key)


Member = Callable[[], Awaitable[None]]


async def holding(
    app: GuongSang,
    log: list[str],
    others: list[Member],
    urgent: int = 0,
    first: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> list[BaseException | None]:
    """Hold the turn in a first transaction (claiming "first", then doing `first`) until
    every one of `others` waits for it, then let them all run. What each raised (or None),
    the first transaction's first."""
    tasks: list[asyncio.Task[None]] = []
    mine: BaseException | None = None
    try:
        async with app.db.transaction() as session:
            assert await updates.claim(session, "telegram", "first")
            tasks = [asyncio.create_task(other()) for other in others]
            await queued(app, len(others), urgent)
            if first is not None:
                await first(session)
        log.append("exit first")
    except Exception as exc:
        mine = exc
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), HANG)
    return [mine, *(r if isinstance(r, BaseException) else None for r in results)]


def claiming(
    app: GuongSang,
    log: list[str],
    key: str,
    fails: bool = False,
    urgent: bool = False,
    tasks: dict[str, asyncio.Task[Any]] | None = None,
) -> Member:
    """A transaction that claims the update `key`, noting its body and its exit in `log`
    (and its task in `tasks`)."""

    async def member() -> None:
        if tasks is not None:
            tasks[key] = asyncio.current_task()  # type: ignore[assignment]
        async with app.db.transaction(urgent=urgent) as session:
            assert await updates.claim(session, "telegram", key)
            log.append(f"body {key}")
            if fails:
                raise RuntimeError(f"{key} failed")
        log.append(f"exit {key}")

    return member


def marks(log: list[str]) -> list[str]:
    return [line for line in log if line.startswith(("COMMIT", "exit", "body"))]


async def test_transactions_queued_together_commit_once(app: GuongSang) -> None:
    keys = [f"u{n}" for n in range(5)]
    async with traced(app) as log:
        raised = await holding(app, log, [claiming(app, log, key) for key in keys])
        assert raised == [None] * 6
        assert commits(log) == 1, log
        assert log.count("BEGIN IMMEDIATE") == 1
        # Each after the first in a SAVEPOINT of its own (run on the driver), released as it
        # ends; the first was alone in the transaction and needed none.
        assert sum(1 for line in log if line.startswith("SAVEPOINT")) == 5, log
        assert sum(1 for line in log if line.startswith("RELEASE")) == 5, log
        # Their work ran on the driver only: no ORM transaction of their own.
        assert not any("sa_savepoint" in line for line in log), log
    for key in ["first", *keys]:
        assert await claimed(app, key)


async def test_one_group_after_another_runs_on_the_connection_kept(app: GuongSang) -> None:
    """A group's connection is kept for the next group (taking one from the pool and giving
    it back cost more than a step's whole transaction); one whose group failed goes back to
    the pool and the next group takes one from there; disposing of the database closes the
    one kept; closing it for good keeps none after."""
    checked_out: list[sqlite3.Connection] = []

    def checkout(dbapi_connection: object, *_args: object) -> None:
        checked_out.append(sqlite_inline.driver(dbapi_connection))

    async def transaction(key: str) -> sqlite3.Connection:
        async with app.db.transaction() as session:
            assert await updates.claim(session, "telegram", key)
            driver = await sqlite_inline.driver_of(session)
            assert driver is not None
        return driver

    await app.db.dispose()
    pool = app.db.engine.sync_engine.pool
    event.listen(pool, "checkout", checkout)
    try:
        kept = [await transaction(key) for key in ("a", "b", "c")]
        assert kept[0] is kept[1] is kept[2]
        assert sum(1 for c in checked_out if c is kept[0]) == 1, "taken from the pool once"
        failed_on: list[sqlite3.Connection] = []

        async def failing() -> None:
            async with app.db.transaction() as session:
                assert await updates.claim(session, "telegram", "d")
                failed_on.append(await sqlite_inline.driver_of(session))  # type: ignore[arg-type]
                raise RuntimeError("d failed")

        with pytest.raises(RuntimeError):
            await failing()
        assert failed_on == [kept[0]]
        taken = len(checked_out)
        after = await transaction("e")
        assert len(checked_out) == taken + 1, "after a failed group, one from the pool"
        assert await claimed(app, "e") and not await claimed(app, "d")
        await app.db.dispose()
        with pytest.raises(sqlite3.ProgrammingError):
            after.execute("SELECT 1")
        again = await transaction("f")
        assert await transaction("g") is again, "kept again after a dispose"
        # Closed for good (the bot stopped), it still works, keeping nothing out of the pool
        # (nobody would close it again).
        await app.db.close()
        with pytest.raises(sqlite3.ProgrammingError):
            again.execute("SELECT 1")
        taken = len(checked_out)
        await transaction("h")
        await transaction("i")
        assert len(checked_out) == taken + 2
    finally:
        event.remove(pool, "checkout", checkout)


async def test_transactions_ready_together_join_one_group(app: GuongSang) -> None:
    """Transactions that never give the event loop a turn (the inline driver's) still form a
    group: the last member lets the loop run once before it commits, and those ready join."""
    async with traced(app) as log:
        await asyncio.wait_for(
            asyncio.gather(*(claiming(app, log, f"r{n}")() for n in range(4))), HANG
        )
        assert commits(log) == 1, log
        assert [line for line in marks(log) if line.startswith("body")] == [
            "body r0", "body r1", "body r2", "body r3"
        ]  # fmt: skip
    for n in range(4):
        assert await claimed(app, f"r{n}")


async def test_a_first_member_that_raises_rolls_back_alone_and_the_next_begin_afresh(
    app: GuongSang,
) -> None:
    """The first member of a group has no SAVEPOINT: alone in the transaction, it rolls the
    transaction back, and those queued behind it form a new group."""

    async def first(session: AsyncSession) -> None:
        await outbox.enqueue(session, "telegram", "42", {"text": "không"}, now=NOW)
        raise RuntimeError("first failed")

    async with traced(app) as log:
        raised = await holding(
            app, log, [claiming(app, log, "a"), claiming(app, log, "b")], first=first
        )
        assert isinstance(raised[0], RuntimeError) and raised[1:] == [None, None], raised
        assert commits(log) == 1, log
        assert "ROLLBACK" in log, log
    assert not await claimed(app, "first")
    assert await claimed(app, "a") and await claimed(app, "b")
    async with app.db.transaction() as session:
        assert (await session.scalars(select(OutboxMessage))).all() == []


async def test_no_member_exits_before_the_commit(app: GuongSang) -> None:
    async with traced(app) as log:
        await holding(app, log, [claiming(app, log, "a"), claiming(app, log, "b")])
    # The first transaction's block ended before the others ran, yet it exits only after the
    # COMMIT that holds all three; so do they.
    seen = marks(log)
    assert seen[:3] == ["body a", "body b", "COMMIT"], seen
    assert sorted(seen[3:]) == ["exit a", "exit b", "exit first"], seen


async def test_a_member_that_raises_is_rolled_back_alone(app: GuongSang) -> None:
    async def enqueue_then_fail() -> None:
        async with app.db.transaction() as session:
            assert await updates.claim(session, "telegram", "bad")
            await outbox.enqueue(session, "telegram", "42", {"text": "không"}, now=NOW)
            raise RuntimeError("bad failed")

    async with traced(app) as log:
        raised = await holding(
            app, log, [claiming(app, log, "a"), enqueue_then_fail, claiming(app, log, "c")]
        )
        assert raised[:2] == [None, None] and raised[3] is None, raised
        assert isinstance(raised[2], RuntimeError) and str(raised[2]) == "bad failed"
        assert commits(log) == 1, log
        assert any(line.startswith("ROLLBACK TO SAVEPOINT") for line in log), log
    for key in ("first", "a", "c"):
        assert await claimed(app, key)
    assert not await claimed(app, "bad")
    async with app.db.transaction() as session:
        assert (await session.scalars(select(OutboxMessage))).all() == []


async def test_a_member_whose_flush_fails_is_rolled_back_alone(app: GuongSang) -> None:
    """The ORM rolls back its transaction when a flush fails; a member's ORM transaction is
    a SAVEPOINT inside its own, so the group's work stays and commits."""

    async def duplicate() -> None:
        async with app.db.transaction() as session:
            assert await updates.claim(session, "telegram", "dup")
            session.add(ProcessedUpdate(channel="telegram", update_key="first", at=NOW))
            await session.flush()

    async with traced(app) as log:
        raised = await holding(
            app, log, [claiming(app, log, "a"), duplicate, claiming(app, log, "c")]
        )
        assert raised[:2] == [None, None] and raised[3] is None, raised
        assert isinstance(raised[2], IntegrityError), raised
        assert commits(log) == 1, log
        assert any(line.startswith("ROLLBACK TO SAVEPOINT sa_savepoint") for line in log), log
    for key in ("first", "a", "c"):
        assert await claimed(app, key)
    assert not await claimed(app, "dup")


async def left_dangling(
    app: GuongSang, write: Callable[[AsyncSession], Awaitable[object]]
) -> tuple[list[BaseException | None], list[str]]:
    """A group whose last member `write`s a row with a foreign key left dangling, the check
    deferred to COMMIT (PRAGMA defer_foreign_keys): what each member raised, and the log.
    The group's one COMMIT fails: nobody exits normally, nothing is kept, and the turn is
    free for the next transaction, which commits on its own."""

    async def dangling() -> None:
        async with app.db.transaction() as session:
            driver = await sqlite_inline.driver_of(session)
            assert driver is not None
            driver.execute("PRAGMA defer_foreign_keys = ON")
            await write(session)
        log.append("exit dangling")

    async with traced(app) as log:
        raised = await holding(app, log, [claiming(app, log, "a"), dangling])
    assert [line for line in log if line.startswith("exit")] == []
    assert not await claimed(app, "first") and not await claimed(app, "a")
    assert await asyncio.wait_for(claim(app, "after"), HANG)
    assert await claimed(app, "after")
    return raised, log


async def test_a_failed_commit_makes_every_member_raise(app: GuongSang) -> None:
    """A member using the ORM (an outbox row for a broadcast that does not exist): the
    COMMIT goes through SQLAlchemy, which took the group's transaction up."""
    raised, _log = await left_dangling(
        app,
        lambda session: outbox.enqueue(
            session, "telegram", "42", {"text": "x"}, broadcast_id=987_654, now=NOW
        ),
    )
    assert all(isinstance(r, IntegrityError) for r in raised), raised


async def test_a_commit_failing_on_the_driver_makes_every_member_raise(app: GuongSang) -> None:
    """The same with no member using the ORM (an event by a person who does not exist): the
    group's transaction is begun and committed on the driver alone."""
    raised, log = await left_dangling(
        app,
        lambda session: events.record(
            session, subject="test", subject_id=1, action="dangling", actor_id=987_654,
            channel=None,
        ),
    )  # fmt: skip
    assert "SAVEPOINT sa_savepoint_1" not in log, "no member used the ORM"
    assert all(isinstance(r, sqlite3.IntegrityError) for r in raised), raised


async def test_a_group_whose_transaction_is_lost_fails_and_the_next_starts_afresh(
    app: GuongSang,
) -> None:
    """A member's failure that ends the whole SQLite transaction (SQLite does so on a full
    disk; here a ROLLBACK on the driver) loses the members before it: they raise. Those
    queued behind it form a new group."""

    async def lose_everything() -> None:
        async with app.db.transaction() as session:
            driver = await sqlite_inline.driver_of(session)
            assert driver is not None
            driver.execute("ROLLBACK")
            raise RuntimeError("disk full")

    async with traced(app) as log:
        raised = await holding(
            app, log, [claiming(app, log, "a"), lose_everything, claiming(app, log, "late")]
        )
        assert commits(log) == 1, log
    assert isinstance(raised[0], group_commit.GroupCommitBroken), raised
    assert isinstance(raised[1], group_commit.GroupCommitBroken), raised
    assert raised[2] is not None and raised[3] is None, raised
    assert not await claimed(app, "first") and not await claimed(app, "a")
    assert await claimed(app, "late")


async def test_the_outbox_flag_is_each_members_own(app: GuongSang) -> None:
    flags: dict[str, bool] = {}

    def member(key: str, queues: bool) -> Member:
        async def run() -> None:
            async with app.db.transaction() as session:
                assert await updates.claim(session, "telegram", key)
                if queues:
                    await outbox.enqueue(session, "telegram", key, {"text": key}, now=NOW)
            flags[key] = outbox.queued(session)  # read after the block, as the router does

        return run

    async def first(session: AsyncSession) -> None:
        await outbox.enqueue(session, "telegram", "first", {"text": "first"}, now=NOW)

    async with traced(app) as log:
        raised = await holding(
            app,
            log,
            [member("a", False), member("b", True), member("c", False), member("d", True)],
            first=first,
        )
        assert commits(log) == 1
    assert raised == [None] * 5
    assert flags == {"a": False, "b": True, "c": False, "d": True}


async def test_a_member_reads_what_the_one_before_changed_past_the_orm(app: GuongSang) -> None:
    """Members share one session; an object the one before loaded must not be handed to the
    next as it was, after a statement past the ORM changed its row."""
    ids: list[int] = []
    statuses: list[str] = []
    kept: list[OutboxMessage] = []

    async def first(session: AsyncSession) -> None:
        row = await outbox.enqueue(session, "telegram", "42", {"text": "x"}, now=NOW)
        await session.refresh(row)  # every column loaded, the status among them
        assert row.status == outbox.PENDING
        ids.append(row.id)
        kept.append(row)  # as a caller keeps what its transaction loaded

    async def mark_sent() -> None:
        async with app.db.transaction() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == ids[0])
                .values(status=outbox.SENT)
                .execution_options(synchronize_session=False)
            )

    async def read() -> None:
        async with app.db.transaction() as session:
            row = await session.get(OutboxMessage, ids[0])
            assert row is not None
            statuses.append(row.status)

    async with traced(app) as log:
        raised = await holding(app, log, [mark_sent, read], first=first)
        assert commits(log) == 1
    assert raised == [None, None, None]
    assert statuses == [outbox.SENT]


async def test_an_urgent_member_goes_first_and_commits_without_waiting_for_the_rest(
    app: GuongSang,
) -> None:
    urgent: list[asyncio.Task[None]] = []
    async with traced(app) as log:

        async def first(session: AsyncSession) -> None:
            del session
            # The ordinary one queued first; the urgent one comes after it.
            urgent.append(asyncio.create_task(claiming(app, log, "mark", urgent=True)()))
            await queued(app, 2, urgent=1)

        raised = await holding(app, log, [claiming(app, log, "plain")], first=first)
        await asyncio.wait_for(asyncio.gather(*urgent), HANG)
        assert raised == [None, None]
        seen = marks(log)
        assert seen.index("body mark") < seen.index("COMMIT") < seen.index("body plain"), seen
        assert commits(log) == 2, log


async def test_a_group_takes_at_most_the_limit(
    app: GuongSang, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_commit, "GROUP_LIMIT", 2)
    async with traced(app) as log:
        raised = await holding(app, log, [claiming(app, log, f"u{n}") for n in range(4)])
        assert raised == [None] * 5
        # first + u0, u1 + u2, u3.
        assert commits(log) == 3, log


async def test_a_group_past_its_window_takes_no_more(
    app: GuongSang, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no time window at all, every transaction commits on its own, queued or not."""
    monkeypatch.setattr(group_commit, "GROUP_WINDOW", 0.0)
    async with traced(app) as log:
        raised = await holding(app, log, [claiming(app, log, f"u{n}") for n in range(3)])
        assert raised == [None] * 4
        assert commits(log) == 4, log
        assert not any(line.startswith("SAVEPOINT") for line in log), log


async def test_cancelled_while_waiting_for_the_commit_holds_nothing_up(app: GuongSang) -> None:
    """A member cancelled after its block, waiting for the COMMIT, raises CancelledError (its
    work had been done, and commits with the group's); the group goes on without it."""
    go, started = asyncio.Event(), asyncio.Event()
    tasks: dict[str, asyncio.Task[Any]] = {}

    async def slow() -> None:
        async with app.db.transaction() as session:
            assert await updates.claim(session, "telegram", "slow")
            started.set()
            await go.wait()

    async with traced(app) as log:
        holder = asyncio.create_task(
            holding(app, log, [claiming(app, log, "a", tasks=tasks), slow])
        )
        await asyncio.wait_for(started.wait(), HANG)
        # "a" has done its work and waits for the COMMIT, which waits for "slow".
        assert "body a" in log and "exit a" not in log
        tasks["a"].cancel()
        go.set()
        raised = await asyncio.wait_for(holder, HANG)
        assert raised[0] is None and raised[2] is None, raised
        assert isinstance(raised[1], asyncio.CancelledError), raised
        assert commits(log) == 1, log
    for key in ("first", "a", "slow"):
        assert await claimed(app, key)
    assert await asyncio.wait_for(claim(app, "after"), HANG)


async def test_cancelled_in_its_block_a_member_is_rolled_back_alone(app: GuongSang) -> None:
    entered = asyncio.Event()
    tasks: dict[str, asyncio.Task[Any]] = {}

    async def stuck() -> None:
        tasks["stuck"] = asyncio.current_task()  # type: ignore[assignment]
        async with app.db.transaction() as session:
            assert await updates.claim(session, "telegram", "stuck")
            entered.set()
            await asyncio.Event().wait()

    async with traced(app) as log:
        holder = asyncio.create_task(holding(app, log, [stuck, claiming(app, log, "after")]))
        await asyncio.wait_for(entered.wait(), HANG)
        tasks["stuck"].cancel()
        raised = await asyncio.wait_for(holder, HANG)
        assert raised[0] is None and raised[2] is None, raised
        assert isinstance(raised[1], asyncio.CancelledError), raised
        assert commits(log) == 1, log
    assert await claimed(app, "first") and await claimed(app, "after")
    assert not await claimed(app, "stuck")


async def test_cancelled_as_it_is_handed_the_turn_a_member_passes_it_on(app: GuongSang) -> None:
    """Cancelled after the turn and the group were handed to it and before it woke: it
    hands both to the next, who commits everyone's work."""
    tasks: dict[str, asyncio.Task[Any]] = {}

    async def first(session: AsyncSession) -> None:
        del session
        # Runs after this block ends and hands the turn on (nothing suspends between), and
        # before the one handed it wakes.
        asyncio.get_running_loop().call_soon(tasks["victim"].cancel)

    async with traced(app) as log:
        raised = await holding(
            app,
            log,
            [claiming(app, log, "victim", tasks=tasks), claiming(app, log, "after")],
            first=first,
        )
        assert raised[0] is None and raised[2] is None, raised
        assert isinstance(raised[1], asyncio.CancelledError), raised
        assert "body victim" not in log
        assert commits(log) == 1, log
    assert await claimed(app, "first") and await claimed(app, "after")
    assert not await claimed(app, "victim")
    assert await asyncio.wait_for(claim(app, "later"), HANG)


async def test_cancelled_while_queued_it_leaves_the_queue(app: GuongSang) -> None:
    tasks: dict[str, asyncio.Task[Any]] = {}

    async def first(session: AsyncSession) -> None:
        del session
        tasks["gone"].cancel()
        await queued(app, 1)

    async with traced(app) as log:
        raised = await holding(
            app,
            log,
            [claiming(app, log, "gone", tasks=tasks), claiming(app, log, "kept")],
            first=first,
        )
        assert raised[0] is None and raised[2] is None, raised
        assert isinstance(raised[1], asyncio.CancelledError), raised
        assert commits(log) == 1, log
    turn = app.db._write_turn
    assert turn is not None and not turn._waiting and not turn._urgent and not turn._held
    assert await claimed(app, "kept") and not await claimed(app, "gone")
