"""job units keep their period's bounds (when it was due, its
deadline, and until when an unfinished unit of it is still done), so that a unit of a
past period left claimed or failed is taken over or closed as overtaken

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 00:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("period_due", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("period_deadline", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("keep_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_units", schema=None) as batch_op:
        batch_op.drop_column("keep_until")
        batch_op.drop_column("period_deadline")
        batch_op.drop_column("period_due")
