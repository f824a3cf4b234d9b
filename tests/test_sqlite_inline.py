"""`storage.sqlite_inline` replaces aiosqlite's private queue to its worker thread.

That reaches into aiosqlite's internals, so pyproject.toml pins the tested release range and
these tests check the contract the replacement relies on: every call aiosqlite makes goes
through `Connection._tx.put_nowait((future, function))`, and the thread is started only in
`__await__`. On a release that changed either, the calls would wait on a queue nobody reads
(caught here by a bound far above any real run), or run on a thread after all.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from importlib.metadata import version
from pathlib import Path

import aiosqlite
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from bot.app import GuongSang
from storage import conversations, events, sqlite_inline, updates

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
# Far above what any of these statements takes; reached only when a call waits forever.
HANG = 10.0


def test_installed_aiosqlite_is_in_the_pinned_range() -> None:
    """The range in pyproject.toml admits the installed release, and only tested ones."""
    import tomllib

    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (pin,) = [Requirement(d) for d in dependencies if Requirement(d).name == "aiosqlite"]
    assert Version(version("aiosqlite")) in pin.specifier
    # An upper bound: a new minor release is tested before it is admitted.
    assert not pin.specifier.contains("0.23.0")


async def test_calls_run_on_the_event_loops_thread_and_no_worker_thread_starts(
    tmp_path: Path,
) -> None:
    threads_before = set(threading.enumerate())
    seen: list[int] = []

    def where() -> int:
        seen.append(threading.get_ident())
        return 1

    connect = sqlite_inline.creator(str(tmp_path / "inline.db"))
    connection = await asyncio.wait_for(connect(), HANG)
    assert isinstance(connection, aiosqlite.Connection)
    try:
        await connection.create_function("where_am_i", 0, where)
        await asyncio.wait_for(connection.execute("CREATE TABLE t (x INTEGER)"), HANG)
        await asyncio.wait_for(connection.execute("INSERT INTO t VALUES (where_am_i())"), HANG)
        await asyncio.wait_for(connection.commit(), HANG)
        cursor = await asyncio.wait_for(connection.execute("SELECT x FROM t"), HANG)
        assert await asyncio.wait_for(cursor.fetchall(), HANG) == [(1,)]
        await cursor.close()
    finally:
        await asyncio.wait_for(connection.close(), HANG)
    assert seen == [threading.get_ident()]
    assert not connection._thread.is_alive()
    assert set(threading.enumerate()) == threads_before


async def test_errors_reach_the_caller(tmp_path: Path) -> None:
    connect = sqlite_inline.creator(str(tmp_path / "inline.db"))
    connection = await asyncio.wait_for(connect(), HANG)
    try:
        with pytest.raises(sqlite3.OperationalError, match="missing"):
            await asyncio.wait_for(connection.execute("SELECT * FROM missing"), HANG)
    finally:
        await asyncio.wait_for(connection.close(), HANG)


async def test_the_driver_connection_is_the_sqlite3_one_beneath_the_adapter(tmp_path: Path) -> None:
    """`InlineConnection.sqlite` is aiosqlite's private `_conn`; checked here with the range."""
    connect = sqlite_inline.creator(str(tmp_path / "inline.db"))
    connection = await asyncio.wait_for(connect(), HANG)
    try:
        assert isinstance(connection.sqlite, sqlite3.Connection)
        connection.sqlite.execute("CREATE TABLE t (x INTEGER)")
        cursor = await asyncio.wait_for(connection.execute("SELECT count(*) FROM t"), HANG)
        assert await asyncio.wait_for(cursor.fetchall(), HANG) == [(0,)]
        await cursor.close()
    finally:
        await asyncio.wait_for(connection.close(), HANG)


@pytest.mark.parametrize("fails", [False, True])
async def test_statements_on_the_driver_commit_and_roll_back_with_the_session(
    app: GuongSang, fails: bool
) -> None:
    """The per-update path's claim, step and audit rows run on the driver inside the session's
    transaction (on PostgreSQL through SQLAlchemy): an update that fails leaves none of them."""
    with contextlib.suppress(RuntimeError):
        async with app.db.transaction() as session:
            assert await updates.claim(session, "telegram", "u1")
            assert not await updates.claim(session, "telegram", "u1")
            conv, person = await conversations.load_step(session, "telegram", "c1", "c1")
            assert person is None and conv.is_new
            conv.step, conv.data = "form", {"index": 2, "tên": "Hoa"}
            await conversations.save_step(session, conv)
            await events.record(
                session, subject="chat", subject_id=1, action="step", actor_id=None,
                channel="telegram", data={"why": "thử"},
            )  # fmt: skip
            if fails:
                raise RuntimeError("the update failed after writing")
    async with app.db.transaction() as session:
        claimed = await updates.claim(session, "telegram", "u1")
        stored = await conversations.find(session, "telegram", "c1")
        logged = await events.history(session, "chat", 1)
    if fails:
        assert claimed and stored is None and logged == []
        return
    assert not claimed
    assert stored is not None and (stored.step, stored.data) == ("form", {"index": 2, "tên": "Hoa"})
    assert [(e.action, e.data, e.at.tzinfo is not None) for e in logged] == [
        ("step", {"why": "thử"}, True)
    ]
