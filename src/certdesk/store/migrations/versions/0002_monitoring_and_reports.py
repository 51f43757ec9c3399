"""monitoring and reports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 04:44:51.242092
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "period", "recipient", name="uq_report_delivery"),
    )
    with op.batch_alter_table("report_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_report_deliveries_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "probes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error_kind", sa.String(length=40), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("common_name", sa.String(length=300), nullable=True),
        sa.Column("issuer", sa.Text(), nullable=True),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=True),
        sa.Column("covers_host", sa.Boolean(), nullable=True),
        sa.Column("drift", sa.Boolean(), nullable=True),
        sa.Column("chain_pem", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["domains.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("probes", schema=None) as batch_op:
        batch_op.create_index("ix_probes_domain_at", ["domain_id", "at"], unique=False)

    op.create_table(
        "domain_states",
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("last_probe_id", sa.Integer(), nullable=True),
        sa.Column("last_probe_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ok", sa.Boolean(), nullable=True),
        sa.Column("last_error_kind", sa.String(length=40), nullable=True),
        sa.Column("served_probe_id", sa.Integer(), nullable=True),
        sa.Column("served_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("served_sha256", sa.String(length=64), nullable=True),
        sa.Column("served_common_name", sa.String(length=300), nullable=True),
        sa.Column("served_issuer", sa.Text(), nullable=True),
        sa.Column("served_not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("served_drift", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["domains.id"],
        ),
        sa.ForeignKeyConstraint(
            ["last_probe_id"],
            ["probes.id"],
        ),
        sa.ForeignKeyConstraint(
            ["served_probe_id"],
            ["probes.id"],
        ),
        sa.PrimaryKeyConstraint("domain_id"),
    )
    with op.batch_alter_table("domain_states", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_domain_states_served_not_after"), ["served_not_after"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("domain_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_domain_states_served_not_after"))

    op.drop_table("domain_states")
    with op.batch_alter_table("probes", schema=None) as batch_op:
        batch_op.drop_index("ix_probes_domain_at")

    op.drop_table("probes")
    with op.batch_alter_table("report_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_deliveries_tenant_id"))

    op.drop_table("report_deliveries")
