"""admins.role (existing admins become owners), the TOTP second factor and its recovery
codes; rate_hits.group_hash (unlocking an account forgets its failures on every network)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("admins") as batch:
        batch.add_column(
            sa.Column("role", sa.String(length=16), server_default="owner", nullable=False)
        )
        batch.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("totp_enabled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.create_table(
        "admin_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["admin_id"],
            ["admins.id"],
            name=op.f("fk_admin_recovery_codes_admin_id_admins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_recovery_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_admin_recovery_codes_code_hash")),
    )
    with op.batch_alter_table("admin_recovery_codes") as batch:
        batch.create_index(batch.f("ix_admin_recovery_codes_admin_id"), ["admin_id"])
    with op.batch_alter_table("rate_hits") as batch:
        batch.add_column(sa.Column("group_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rate_hits") as batch:
        batch.drop_column("group_hash")
    op.drop_table("admin_recovery_codes")
    with op.batch_alter_table("admins") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_enabled_at")
        batch.drop_column("totp_secret")
        batch.drop_column("role")
