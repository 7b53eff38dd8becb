"""worker_status: each delivery worker's heartbeat, circuit breaker and counters (read by
/healthz and /metrics)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('worker_status',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('relay', sa.String(length=200), nullable=False),
    sa.Column('breaker', sa.String(length=16), nullable=False),
    sa.Column('breaker_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('breaker_reason', sa.String(length=500), nullable=False),
    sa.Column('counters', sa.JSON(), nullable=False),
    sa.Column('rate', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_worker_status'))
    )


def downgrade() -> None:
    op.drop_table('worker_status')
