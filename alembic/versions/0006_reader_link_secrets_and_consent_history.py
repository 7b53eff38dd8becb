"""subscribers.link_secret (links bound to a per-reader secret), subscriber ids never
reused (AUTOINCREMENT on SQLite), consent_events (append-only consent history, seeded with
each reader's current consent record)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def _fill_secrets() -> None:
    bind = op.get_bind()
    subscribers = sa.table('subscribers', sa.column('id', sa.Integer), sa.column('link_secret', sa.String))
    ids = [
        row[0]
        for row in bind.execute(
            sa.select(subscribers.c.id).where(subscribers.c.link_secret.is_(None)).order_by(subscribers.c.id)
        )
    ]
    statement = (
        sa.update(subscribers)
        .where(subscribers.c.id == sa.bindparam('_id'))
        .values(link_secret=sa.bindparam('_secret'))
    )
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        bind.execute(statement, [{'_id': i, '_secret': secrets.token_urlsafe(16)} for i in chunk])


def _seed_history() -> None:
    op.execute(
        """
        INSERT INTO consent_events (subscriber_id, event, at, form, text, ip, user_agent,
            language, wants_digest, wants_alerts, topics)
        SELECT id, 'migrated', COALESCE(consent_at, created_at), consent_form, consent_text,
            consent_ip, consent_user_agent, language, wants_digest, wants_alerts, topics
        FROM subscribers ORDER BY id
        """
    )
    # An unsubscribe before the upgrade is part of the history too (the data download shows
    # it): one withdrawal after the migrated consent.
    op.execute(
        """
        INSERT INTO consent_events (subscriber_id, event, at, form, text, ip, user_agent,
            language, wants_digest, wants_alerts, topics)
        SELECT id, 'withdrawn', COALESCE(unsubscribed_at, created_at), 'before 0006', '',
            '', '', language, wants_digest, wants_alerts, topics
        FROM subscribers WHERE status = 'unsubscribed' ORDER BY id
        """
    )


def _rebuild_subscribers_on_sqlite() -> None:
    """Batch mode copies the table into one created with AUTOINCREMENT. Dropping the old
    table with foreign keys on would cascade to deliveries, and SQLite only switches them
    off outside a transaction: commit what came before, rebuild with them off, check, and
    switch them back on."""
    bind = op.get_bind()
    raw = bind.connection.dbapi_connection
    assert raw is not None
    raw.commit()
    bind.exec_driver_sql('PRAGMA foreign_keys=OFF')
    try:
        # Fill and copy under the write lock, in one transaction: a process still running
        # the old code may have added a reader (without a secret) since the commit above.
        bind.exec_driver_sql('DROP TABLE IF EXISTS _alembic_tmp_subscribers')
        raw.commit()
        bind.exec_driver_sql('BEGIN IMMEDIATE')
        _fill_secrets()
        with op.batch_alter_table(
            'subscribers', recreate='always', table_kwargs={'sqlite_autoincrement': True}
        ) as batch:
            batch.alter_column('link_secret', existing_type=sa.String(length=32), nullable=False)
            batch.create_unique_constraint(op.f('uq_subscribers_link_secret'), ['link_secret'])
        problems = bind.exec_driver_sql('PRAGMA foreign_key_check').all()
        if problems:
            raise RuntimeError(f'foreign keys broken by the rebuild: {problems[:5]}')
        raw.commit()
    finally:
        bind.exec_driver_sql('PRAGMA foreign_keys=ON')


def upgrade() -> None:
    # On SQLite the rebuild below commits the first steps before alembic records 0006:
    # a run that failed in the rebuild is run again from where it stopped.
    inspector = sa.inspect(op.get_bind())
    columns = {column['name'] for column in inspector.get_columns('subscribers')}
    if 'link_secret' not in columns:
        op.add_column('subscribers', sa.Column('link_secret', sa.String(length=32), nullable=True))
    _fill_secrets()
    if not inspector.has_table('consent_events'):
        _create_consent_events()
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_subscribers_on_sqlite()
    else:
        op.alter_column('subscribers', 'link_secret', existing_type=sa.String(length=32), nullable=False)
        op.create_unique_constraint(op.f('uq_subscribers_link_secret'), 'subscribers', ['link_secret'])


def _create_consent_events() -> None:
    op.create_table('consent_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('form', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=500), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('wants_digest', sa.Boolean(), nullable=False),
    sa.Column('wants_alerts', sa.Boolean(), nullable=False),
    sa.Column('topics', sa.JSON(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_consent_events_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_events')),
    sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_consent_events_subscriber_id'), 'consent_events', ['subscriber_id'], unique=False)
    _seed_history()


def downgrade() -> None:
    op.drop_index(op.f('ix_consent_events_subscriber_id'), table_name='consent_events')
    op.drop_table('consent_events')
    with op.batch_alter_table('subscribers') as batch:
        batch.drop_constraint(op.f('uq_subscribers_link_secret'), type_='unique')
        batch.drop_column('link_secret')
