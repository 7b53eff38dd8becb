"""deliveries: an index on (status, next_attempt_at), so /healthz finds the oldest due
message with one index step instead of walking every queued row

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_deliveries_due_time', 'deliveries', ['status', 'next_attempt_at'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_deliveries_due_time', table_name='deliveries')
