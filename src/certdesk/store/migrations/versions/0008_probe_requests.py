"""probe requests: "probe now" queued for serve's probe worker

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "probe_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("urls", sa.JSON(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("targets", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("probe_requests", schema=None) as batch_op:
        batch_op.create_index("ix_probe_requests_status_created", ["status", "created_at"])
        batch_op.create_index("ix_probe_requests_tenant_created", ["tenant_id", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("probe_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_probe_requests_tenant_created")
        batch_op.drop_index("ix_probe_requests_status_created")
    op.drop_table("probe_requests")
