"""the title (chức vụ) a person holds a role under, for signature blocks

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("role_grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("title", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("role_grants", schema=None) as batch_op:
        batch_op.drop_column("title")
