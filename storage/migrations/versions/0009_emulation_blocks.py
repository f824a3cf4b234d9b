"""emulation blocks, criteria sheets and score cards (letter 004)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "emulation_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("head_unit_id", sa.Integer(), nullable=False),
        sa.Column("deputy_unit_id", sa.Integer(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deputy_unit_id"], ["units.id"], name=op.f("fk_emulation_blocks_deputy_unit_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["head_unit_id"], ["units.id"], name=op.f("fk_emulation_blocks_head_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emulation_blocks")),
        sa.UniqueConstraint("slug", name=op.f("uq_emulation_blocks_slug")),
    )
    op.create_table(
        "emulation_sheets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("block_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.Column("published_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["block_id"],
            ["emulation_blocks.id"],
            name=op.f("fk_emulation_sheets_block_id_emulation_blocks"),
        ),
        sa.ForeignKeyConstraint(
            ["published_by_id"],
            ["people.id"],
            name=op.f("fk_emulation_sheets_published_by_id_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emulation_sheets")),
        sa.UniqueConstraint("block_id", "version", name=op.f("uq_emulation_sheets_block_id")),
    )
    with op.batch_alter_table("emulation_sheets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_emulation_sheets_block_id"), ["block_id"], unique=False
        )
    op.create_table(
        "emulation_cards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("block_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("sheet_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("registration", sa.JSON(), nullable=False),
        sa.Column("reports", sa.JSON(), nullable=False),
        sa.Column("covenant_at", sa.DateTime(), nullable=True),
        sa.Column("covenant_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("award", sa.String(length=300), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["block_id"],
            ["emulation_blocks.id"],
            name=op.f("fk_emulation_cards_block_id_emulation_blocks"),
        ),
        sa.ForeignKeyConstraint(
            ["covenant_by_id"], ["people.id"], name=op.f("fk_emulation_cards_covenant_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["sheet_id"],
            ["emulation_sheets.id"],
            name=op.f("fk_emulation_cards_sheet_id_emulation_sheets"),
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"],
            ["people.id"],
            name=op.f("fk_emulation_cards_submitted_by_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_emulation_cards_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emulation_cards")),
        sa.UniqueConstraint("block_id", "unit_id", name=op.f("uq_emulation_cards_block_id")),
    )
    with op.batch_alter_table("emulation_cards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_emulation_cards_block_id"), ["block_id"], unique=False)


def downgrade() -> None:
    op.drop_table("emulation_cards")
    op.drop_table("emulation_sheets")
    op.drop_table("emulation_blocks")
