"""ACME Renewal Information (RFC 9773): when to ask the CA's renewal information next
for each managed certificate

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 00:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("managed_certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ari_check_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_managed_certificates_ari_check_at"), ["ari_check_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("managed_certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_managed_certificates_ari_check_at"))
        batch_op.drop_column("ari_check_at")
