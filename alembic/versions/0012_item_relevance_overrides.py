"""items.relevance_override: an editor's "relevant / not relevant" verdict on an item,
who gave it and when, and the rules' own verdict kept beside it while it stands

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 22:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("relevance_override", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("rules_relevant", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("override_by", sa.String(length=320), nullable=True))
        batch.add_column(
            sa.Column("override_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("override_at")
        batch.drop_column("override_by")
        batch.drop_column("rules_relevant")
        batch.drop_column("relevance_override")
