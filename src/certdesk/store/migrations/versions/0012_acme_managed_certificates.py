"""platform-managed certificates over ACME: each managed domain's state and pending
HTTP-01 answer, and the tenants' ACME accounts

Revision ID: 0012
Revises: 0009
Create Date: 2026-11-29 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acme_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("directory_url", sa.String(length=2048), nullable=False),
        sa.Column("account_url", sa.String(length=2048), nullable=False),
        sa.Column("private_key_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["private_key_id"], ["private_keys.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "directory_url", name="uq_acme_accounts_tenant_directory"),
    )
    with op.batch_alter_table("acme_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_acme_accounts_tenant_id"), ["tenant_id"], unique=False)
    op.create_table(
        "managed_certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("problem", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("busy_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("csr_order_id", sa.Integer(), nullable=True),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("renew_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("token", sa.String(length=200), nullable=True),
        sa.Column("key_authorization", sa.String(length=400), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"]),
        sa.ForeignKeyConstraint(["csr_order_id"], ["csr_orders.id"]),
        sa.ForeignKeyConstraint(["domain_id"], ["domains.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("domain_id"),
        sa.UniqueConstraint("token"),
    )
    with op.batch_alter_table("managed_certificates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_managed_certificates_next_try_at"), ["next_try_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_managed_certificates_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("managed_certificates")
    op.drop_table("acme_accounts")
