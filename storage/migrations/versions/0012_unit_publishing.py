"""the school website duty: stories a unit head published on the unit's page

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("published_by_id", sa.Integer(), nullable=True),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.Column("portal_url", sa.String(length=500), nullable=True),
        sa.Column("portal_by_id", sa.Integer(), nullable=True),
        sa.Column("portal_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"],
            name=op.f("fk_web_posts_submission_id_submissions"),
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_web_posts_unit_id_units")),
        sa.ForeignKeyConstraint(
            ["published_by_id"], ["people.id"], name=op.f("fk_web_posts_published_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["portal_by_id"], ["people.id"], name=op.f("fk_web_posts_portal_by_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_posts")),
        sa.UniqueConstraint("submission_id", name=op.f("uq_web_posts_submission_id")),
    )  # fmt: skip
    with op.batch_alter_table("web_posts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_posts_unit_id"), ["unit_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("web_posts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_posts_unit_id"))
    op.drop_table("web_posts")
