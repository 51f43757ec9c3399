"""domain states without probe ids: ``domain_states.last_probe_id`` and
``served_probe_id`` dropped (nothing read them; each was a foreign key checked on
every probe a sweep records)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("domain_states", schema=None) as batch_op:
        batch_op.drop_column("last_probe_id")
        batch_op.drop_column("served_probe_id")


def downgrade() -> None:
    # The columns come back empty (NULL): which probe each state came from is not kept.
    with op.batch_alter_table("domain_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_probe_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("served_probe_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "domain_states_last_probe_id_fkey", "probes", ["last_probe_id"], ["id"]
        )
        batch_op.create_foreign_key(
            "domain_states_served_probe_id_fkey", "probes", ["served_probe_id"], ["id"]
        )
