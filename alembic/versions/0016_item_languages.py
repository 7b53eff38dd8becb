"""items.language: the language an item is written in, from its source; stored items take
their source's language

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-07 23:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(
            sa.Column("language", sa.String(length=8), server_default="en", nullable=False)
        )
    op.execute(
        "UPDATE items SET language ="
        " (SELECT sources.language FROM sources WHERE sources.id = items.source_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("language")
