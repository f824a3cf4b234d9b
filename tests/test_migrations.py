"""The migrations build exactly the schema the models describe, on each backend."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from storage.db import Database, alembic_config
from storage.migrations import HEAD
from storage.models import Base
from tests.backends import migrate


def _differences(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


@pytest.mark.empty_database
async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.upgrade()
        async with db.engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await db.dispose()


def test_the_head_the_start_compares_with_is_alembics() -> None:
    # A new migration must move HEAD: a database at the old one would otherwise be taken
    # for current and never migrated.
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_current_head() == HEAD


@pytest.mark.empty_database
async def test_a_database_behind_the_head_is_migrated_at_start(database_url: str) -> None:
    db = Database(database_url)
    try:
        await migrate(db, "0011")
        await db.upgrade()
        async with db.engine.connect() as connection:
            version = await connection.execute(text("SELECT version_num FROM alembic_version"))
            assert version.scalars().all() == [HEAD]
            assert await connection.run_sync(_differences) == []
    finally:
        await db.dispose()
