"""`storage.sqlite_inline` replaces aiosqlite's private queue to its worker thread.

That reaches into aiosqlite's internals, so pyproject.toml pins the tested release range and
these tests check the contract the replacement relies on: every call aiosqlite makes goes
through `Connection._tx.put_nowait((future, function))`, and the thread is started only in
`__await__`. On a release that changed either, the calls would wait on a queue nobody reads
(caught here by a bound far above any real run), or run on a thread after all.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from importlib.metadata import version
from pathlib import Path

import aiosqlite
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from storage import sqlite_inline

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
