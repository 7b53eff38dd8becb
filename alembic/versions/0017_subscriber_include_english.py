"""subscribers.include_english: a digest in another language also carries English stories
that no source in the reader's language covers (on for every existing reader)

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-08 02:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0017"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch copy would lose the table's SQLite AUTOINCREMENT (ids of
    # deleted readers must never be reused).
    op.add_column(
        "subscribers",
        sa.Column("include_english", sa.Boolean(), server_default=sa.true(), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("subscribers", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("include_english")
