"""domain listing and dashboard indexes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 05:49:35.661281
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.create_index(
            "ix_domains_tenant_host_port", ["tenant_id", "hostname", "port"], unique=False
        )
        batch_op.create_index(
            "ix_domains_tenant_expires_at", ["tenant_id", "expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_index("ix_domains_tenant_expires_at")
        batch_op.drop_index("ix_domains_tenant_host_port")
