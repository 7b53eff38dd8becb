"""campaign_contents (a digest's distinct contents); deliveries.segment becomes
content_key, and the claim index follows the claim order (priority, campaign, content)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 12:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('campaign_contents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('item_ids', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_contents_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_contents')),
    sa.UniqueConstraint('campaign_id', 'key', name=op.f('uq_campaign_contents_campaign_id_key'))
    )
    # Both SQLite (3.25+) and PostgreSQL rename a column in place, keeping the data.
    op.execute('ALTER TABLE deliveries RENAME COLUMN segment TO content_key')
    op.drop_index('ix_deliveries_claim', table_name='deliveries')
    op.create_index(
        'ix_deliveries_claim_order',
        'deliveries',
        ['status', sa.literal_column('priority').desc(), 'campaign_id', 'content_key', 'next_attempt_at'],
    )


def downgrade() -> None:
    op.drop_index('ix_deliveries_claim_order', table_name='deliveries')
    op.create_index(
        'ix_deliveries_claim', 'deliveries', ['status', 'priority', 'next_attempt_at']
    )
    op.execute('ALTER TABLE deliveries RENAME COLUMN content_key TO segment')
    op.drop_table('campaign_contents')
