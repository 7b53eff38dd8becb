"""admins.session_generation (logout ends every session of that admin); rate_hits (rate
limits shared by every web process)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 13:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('admins') as batch:
        batch.add_column(
            sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False)
        )
    op.create_table('rate_hits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bucket', sa.String(length=32), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_hits'))
    )
    op.create_index('ix_rate_hits_bucket_key_at', 'rate_hits', ['bucket', 'key_hash', 'at'])


def downgrade() -> None:
    op.drop_index('ix_rate_hits_bucket_key_at', table_name='rate_hits')
    op.drop_table('rate_hits')
    with op.batch_alter_table('admins') as batch:
        batch.drop_column('session_generation')
