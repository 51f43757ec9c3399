"""install states of bindings: stored, installing, installed, install-failed (with the
reason, the attempts, the next try, when proven, whether the operators were told)

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-29 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bindings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "install_state", sa.String(length=20), server_default="stored", nullable=False
            )
        )
        batch_op.add_column(sa.Column("install_reason", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("install_attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("install_next_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("installed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("install_alerted", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_bindings_install_next_at"), ["install_next_at"], unique=False
        )
    # What a handshake has shown served is installed; of the rest nothing is known but
    # that it is stored.
    op.execute(
        "UPDATE bindings SET install_state = 'installed', installed_at = ("
        "SELECT s.served_at FROM domain_states s WHERE s.domain_id = bindings.domain_id) "
        "WHERE unbound_at IS NULL AND EXISTS ("
        "SELECT 1 FROM domain_states s JOIN certificates c ON c.id = bindings.certificate_id "
        "WHERE s.domain_id = bindings.domain_id AND s.served_sha256 = c.sha256)"
    )


def downgrade() -> None:
    with op.batch_alter_table("bindings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bindings_install_next_at"))
        batch_op.drop_column("install_alerted")
        batch_op.drop_column("installed_at")
        batch_op.drop_column("install_next_at")
        batch_op.drop_column("install_attempts")
        batch_op.drop_column("install_reason")
        batch_op.drop_column("install_state")
