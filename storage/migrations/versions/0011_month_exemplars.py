"""the month's exemplar: each unit head's pick of the month, and the office's list sent up

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "month_exemplars",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("nominated_by_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("goes_up", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_month_exemplars_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_month_exemplars_unit_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"],
            name=op.f("fk_month_exemplars_submission_id_submissions"),
        ),
        sa.ForeignKeyConstraint(
            ["nominated_by_id"], ["people.id"],
            name=op.f("fk_month_exemplars_nominated_by_id_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_month_exemplars")),
        sa.UniqueConstraint(
            "campaign_id", "unit_id", "month", name=op.f("uq_month_exemplars_campaign_id")
        ),
    )  # fmt: skip
    op.create_table(
        "month_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("sent_by_id", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_month_lists_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"],
            name=op.f("fk_month_lists_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["sent_by_id"], ["people.id"], name=op.f("fk_month_lists_sent_by_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_month_lists")),
        sa.UniqueConstraint("campaign_id", "month", name=op.f("uq_month_lists_campaign_id")),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("month_lists")
    op.drop_table("month_exemplars")
