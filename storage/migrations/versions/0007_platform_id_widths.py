"""room for long platform ids: every column holding a user, chat or message id of a platform
widens from 64 to 255 characters

Zalo documents its ids only as strings. An id over 64 characters failed every message on
PostgreSQL (VARCHAR(64)) while SQLite, which does not enforce the length, took it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD, NEW = 64, 255
# (table, column, nullable)
COLUMNS = (
    ("identities", "external_id", False),
    ("identities", "chat_id", True),
    ("submissions", "chat_id", False),
    ("conversations", "chat_id", False),
    ("flood_buckets", "user_id", False),
    ("outbox", "chat_id", False),
    ("outbox", "target_message_id", True),
    ("audience", "chat_id", False),
    ("broadcasts", "progress_chat_id", True),
    ("broadcasts", "progress_message_id", True),
)


def _resize(old: int, new: int) -> None:
    tables: dict[str, list[tuple[str, bool]]] = {}
    for table, column, nullable in COLUMNS:
        tables.setdefault(table, []).append((column, nullable))
    for table, columns in tables.items():
        # On SQLite a batch copies the table once for all its columns; PostgreSQL alters in place.
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, nullable in columns:
                batch_op.alter_column(
                    column,
                    existing_type=sa.String(length=old),
                    type_=sa.String(length=new),
                    existing_nullable=nullable,
                )


def upgrade() -> None:
    _resize(OLD, NEW)


def downgrade() -> None:
    # Ids longer than 64 characters would not fit back: shortening them would make them
    # someone else's, so the downgrade stops rather than truncate.
    bind = op.get_bind()
    for table, column, _nullable in COLUMNS:
        longest = bind.execute(sa.text(f"SELECT MAX(LENGTH({column})) FROM {table}")).scalar()
        if longest is not None and longest > OLD:
            raise RuntimeError(
                f"{table}.{column} holds an id of {longest} characters: cannot go back to {OLD}"
            )
    _resize(NEW, OLD)
