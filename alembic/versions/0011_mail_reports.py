"""mail_reports: bounces, complaints and unparsed reports about delivered mail

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 22:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.String(length=16), nullable=False),
        sa.Column("diagnostic", sa.String(length=1000), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_mail_reports_campaign_id_campaigns"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_mail_reports_delivery_id_deliveries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_mail_reports_subscriber_id_subscribers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_reports")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_mail_reports_dedupe_key")),
    )
    with op.batch_alter_table("mail_reports") as batch:
        batch.create_index(batch.f("ix_mail_reports_campaign_id"), ["campaign_id"])
        batch.create_index(batch.f("ix_mail_reports_delivery_id"), ["delivery_id"])
        batch.create_index(batch.f("ix_mail_reports_kind"), ["kind"])
        batch.create_index(batch.f("ix_mail_reports_received_at"), ["received_at"])
        batch.create_index(batch.f("ix_mail_reports_subscriber_id"), ["subscriber_id"])


def downgrade() -> None:
    op.drop_table("mail_reports")
