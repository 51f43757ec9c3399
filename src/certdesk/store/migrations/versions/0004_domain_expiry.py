"""domain expiry, certificate issuer key

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 05:06:38.142339
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("expiry_source", sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f("ix_domains_expires_at"), ["expires_at"], unique=False)
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issuer_sha256", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_certificates_issuer_sha256"), ["issuer_sha256"], unique=False
        )
    # Fill the new columns from what is known: the served expiry, else the installed one.
    served = "(SELECT s.served_not_after FROM domain_states s WHERE s.domain_id = domains.id)"
    installed = (
        "(SELECT c.not_after FROM bindings b JOIN certificates c ON c.id = b.certificate_id"
        " WHERE b.domain_id = domains.id AND b.unbound_at IS NULL)"
    )
    op.execute(
        f"UPDATE domains SET expires_at = COALESCE({served}, {installed}), "  # noqa: S608
        f"expiry_source = CASE WHEN {served} IS NOT NULL THEN 'served' "
        f"WHEN {installed} IS NOT NULL THEN 'installed' END"
    )


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificates_issuer_sha256"))
        batch_op.drop_column("issuer_sha256")
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_domains_expires_at"))
        batch_op.drop_column("expiry_source")
        batch_op.drop_column("expires_at")
