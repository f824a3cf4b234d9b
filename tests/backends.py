"""Which database backends tests run on: every test that touches the database runs on a
SQLite file and on PostgreSQL (127.0.0.1:5432), each in a fresh database.

PostgreSQL runs are skipped when nothing listens there, except when GUONGSANG_REQUIRE_PG=1
(CI sets it), where a missing server fails them instead. GUONGSANG_TEST_BACKENDS
("sqlite", "postgresql" or both, comma-separated) narrows the run while working on something.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy.engine import Connection

from storage.db import Database, alembic_config

PG_ADMIN_DSN = os.environ.get("GUONGSANG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ALL = ("sqlite", "postgresql")


def pg_reachable() -> bool:
    """Whether something listens on PostgreSQL's port."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


def _chosen() -> tuple[str, ...]:
    wanted = os.environ.get("GUONGSANG_TEST_BACKENDS", ",".join(ALL))
    chosen = tuple(name.strip() for name in wanted.split(",") if name.strip())
    unknown = set(chosen) - set(ALL)
    if unknown or not chosen:
        raise pytest.UsageError(f"GUONGSANG_TEST_BACKENDS: unknown backend in {wanted!r}")
    return chosen


def backend_params(only: tuple[str, ...] = ALL) -> list[Any]:
    """The `backend` fixture's parameters: those of `only` this run covers."""
    required = os.environ.get("GUONGSANG_REQUIRE_PG") == "1"
    down = [] if required or pg_reachable() else [pytest.mark.skip(reason="PostgreSQL down")]
    return [
        pytest.param(name, marks=down if name == "postgresql" else [])
        for name in _chosen()
        if name in only
    ]


def postgresql_only() -> pytest.MarkDecorator:
    """Run a test's `backend` fixture on PostgreSQL alone (what several workers share)."""
    return pytest.mark.parametrize("backend", backend_params(("postgresql",)), indirect=True)


def sqlite_only() -> pytest.MarkDecorator:
    """Run a test's `backend` fixture on SQLite alone (behaviour only SQLite has)."""
    return pytest.mark.parametrize("backend", backend_params(("sqlite",)), indirect=True)


@asynccontextmanager
async def fresh_database(
    backend: str, directory: Path, prefix: str = "gs_test", migrated: bool = False
) -> AsyncIterator[str]:
    """A fresh database of the backend (a file in `directory`, or a new PostgreSQL database
    dropped afterwards); yields its SQLAlchemy URL.

    Empty, or `migrated`: with the schema already, copied from a template this process
    migrated once (a file copy on SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL). Every
    migration run again for each of a thousand tests' apps was a fifth of the suite's time;
    the migrations themselves run on empty databases (tests/test_migrations.py, and the
    command-line tests, which start on a new data directory)."""
    if backend == "sqlite":
        path = directory / "guongsang.db"
        if migrated:
            shutil.copyfile(await _template(backend), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    template = f' TEMPLATE "{await _template(backend)}"' if migrated else ""
    await _admin(f'CREATE DATABASE "{name}"{template}')
    try:
        yield _url(name)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Migrated once per test process: each test's database is a copy (see `fresh_database`).
_templates: dict[str, str] = {}


async def _template(backend: str) -> str:
    """The migrated template of `backend` (a file's path, or a database's name)."""
    found = _templates.get(backend)
    if found is not None:
        return found
    if backend == "sqlite":
        directory = tempfile.mkdtemp(prefix="gs_template_")
        atexit.register(shutil.rmtree, directory, True)
        template = f"{directory}/template.db"
        url = f"sqlite+aiosqlite:///{template}"
    else:
        template = f"gs_template_{uuid.uuid4().hex[:12]}"
        await _admin(f'CREATE DATABASE "{template}"')
        atexit.register(_drop_now, template)
        url = _url(template)
    db = Database(url)
    try:
        await db.upgrade()
    finally:
        await db.close()
    _templates[backend] = template
    return template


async def _admin(sql: str) -> None:
    """Run `sql` as the test server's administrator (creating, dropping databases)."""
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


def _url(name: str) -> str:
    """The SQLAlchemy URL of database `name` on the test server."""
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


def _drop_now(name: str) -> None:
    """Drop a template database as the test process ends (a server gone by then keeps it:
    the next run makes its own)."""
    import asyncpg

    with contextlib.suppress(OSError, asyncpg.PostgresError):
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _migrate(connection: Connection, url: str, target: str, down: bool) -> None:
    cfg = alembic_config(url)
    cfg.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(cfg, target)


async def migrate(db: Database, target: str, down: bool = False) -> None:
    """Run Alembic itself up (or `down`) to the revision `target` on `db`."""
    async with db.engine.begin() as connection:
        await connection.run_sync(_migrate, db.url, target, down)
