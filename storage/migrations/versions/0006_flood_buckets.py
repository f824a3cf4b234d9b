"""per-person message budgets shared by worker processes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flood_buckets",
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.Column("paused_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "user_id", name=op.f("pk_flood_buckets")),
    )
    with op.batch_alter_table("flood_buckets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flood_buckets_updated"), ["updated"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("flood_buckets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flood_buckets_updated"))
    op.drop_table("flood_buckets")
