"""ownership claims of domains: a claim state, token and next check on each domain; the
one-owner index only over verified claims, and one active claim per tenant and name

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("removed_at IS NULL")
_VERIFIED = sa.text("removed_at IS NULL AND claim = 'verified'")


def upgrade() -> None:
    with op.batch_alter_table("domains", schema=None) as batch_op:
        # Every domain known before claims existed was assigned: verified.
        batch_op.add_column(
            sa.Column("claim", sa.String(length=10), nullable=False, server_default="verified")
        )
        batch_op.add_column(sa.Column("claim_token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("claim_method", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("claim_verified_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("claim_message", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("claim_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("claim_next_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_domains_claim_next_at"), ["claim_next_at"])
        batch_op.drop_index("uq_domains_active_host_port")
        batch_op.create_index(
            "uq_domains_active_host_port",
            ["hostname", "port"],
            unique=True,
            sqlite_where=_VERIFIED,
            postgresql_where=_VERIFIED,
        )
        batch_op.create_index(
            "uq_domains_active_tenant_host_port",
            ["tenant_id", "hostname", "port"],
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        )


def downgrade() -> None:
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_index("uq_domains_active_tenant_host_port")
        batch_op.drop_index("uq_domains_active_host_port")
        batch_op.create_index(
            "uq_domains_active_host_port",
            ["hostname", "port"],
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        )
        batch_op.drop_index(batch_op.f("ix_domains_claim_next_at"))
        for column in (
            "claim_next_at",
            "claim_attempts",
            "claim_message",
            "claim_verified_at",
            "claim_method",
            "claim_token",
            "claim",
        ):
            batch_op.drop_column(column)
