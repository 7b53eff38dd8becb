"""sources.section: the digest section of a source's items, from its registry entry;
existing sources take the section today's digest gives them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(
            sa.Column("section", sa.String(length=32), server_default="other", nullable=False)
        )
    op.execute(
        "UPDATE sources SET section = CASE"
        " WHEN always_relevant OR key LIKE 'globalr2p%' THEN 'global-centre'"
        " WHEN url LIKE '%://press.un.org/%' THEN 'un-press'"
        " WHEN url LIKE '%://news.un.org/%' THEN 'un-news'"
        " ELSE 'other' END"
    )


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("section")
