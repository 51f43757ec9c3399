"""indexes on the active domains only (partial), and a covering one for counting

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("removed_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_index("ix_domains_tenant_expires_at")
        batch_op.drop_index("ix_domains_tenant_host_port")
        batch_op.drop_index("ix_domains_expires_at")
        batch_op.drop_index("ix_domains_tenant_id")
        batch_op.create_index("ix_domains_tenant_removed", ["tenant_id", "removed_at"])
        batch_op.create_index(
            "ix_domains_active_tenant_host",
            ["tenant_id", "hostname", "port"],
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        )
        batch_op.create_index(
            "ix_domains_active_tenant_expiry",
            ["tenant_id", "expires_at", "url"],
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        )
        batch_op.create_index(
            "ix_domains_active_expiry",
            ["expires_at", "url"],
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        )


def downgrade() -> None:
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_index("ix_domains_active_expiry")
        batch_op.drop_index("ix_domains_active_tenant_expiry")
        batch_op.drop_index("ix_domains_active_tenant_host")
        batch_op.drop_index("ix_domains_tenant_removed")
        batch_op.create_index("ix_domains_tenant_id", ["tenant_id"])
        batch_op.create_index("ix_domains_expires_at", ["expires_at"])
        batch_op.create_index("ix_domains_tenant_host_port", ["tenant_id", "hostname", "port"])
        batch_op.create_index("ix_domains_tenant_expires_at", ["tenant_id", "expires_at"])
