"""Migration 0007 widens the platform id columns in place: rows of 0006 keep their ids, longer
ids fit afterwards, and going back refuses to cut an id that no longer fits."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from storage.db import Database
from tests.backends import migrate

LONG_ID = "9f" * 100  # 200 characters


async def execute(db: Database, sql: str) -> list[tuple[object, ...]]:
    async with db.engine.begin() as connection:
        result = await connection.execute(text(sql))
        return [tuple(row) for row in result] if result.returns_rows else []


@pytest.mark.empty_database
async def test_ids_survive_the_widening_and_long_ones_block_the_way_back(
    database_url: str,
) -> None:
    db = Database(database_url)
    try:
        await migrate(db, "0006")
        now = "CURRENT_TIMESTAMP"
        await execute(db, f"INSERT INTO people (created_at, updated_at) VALUES ({now}, {now})")
        await execute(
            db,
            "INSERT INTO identities (person_id, channel, external_id, chat_id, created_at) "
            "VALUES (1, 'zalo', 'e4ea2cd5189df1c3a88c', 'e4ea2cd5189df1c3a88c', CURRENT_TIMESTAMP)",
        )
        await migrate(db, "0007")
        assert await execute(db, "SELECT external_id, chat_id FROM identities") == [
            ("e4ea2cd5189df1c3a88c", "e4ea2cd5189df1c3a88c")
        ]
        await execute(
            db,
            "INSERT INTO conversations (channel, chat_id, step, data, prompt_seq, updated_at) "
            f"VALUES ('zalo', '{LONG_ID}', 'idle', '{{}}', 0, CURRENT_TIMESTAMP)",
        )
        with pytest.raises(RuntimeError, match=r"conversations\.chat_id"):
            await migrate(db, "0006", down=True)
        await execute(db, "DELETE FROM conversations")
        await migrate(db, "0006", down=True)
        assert await execute(db, "SELECT external_id FROM identities") == [
            ("e4ea2cd5189df1c3a88c",)
        ]
    finally:
        await db.dispose()
