"""on-demand work requests: the probe-request queue generalised to "probe now" and
"install now", with a lease that another process takes over once it has passed

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 00:10:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_COMMON = (
    "id, tenant_id, requested_by, urls, key, status, created_at, started_at, finished_at, "
    "claimed_by, targets, ok, results, error"
)


def _columns(*, work: bool) -> list[Any]:
    kind = [sa.Column("kind", sa.String(length=20), nullable=False)] if work else []
    lease = (
        [
            sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
            sa.Column("attempts", sa.Integer(), nullable=False),
        ]
        if work
        else []
    )
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        *kind,
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("urls", sa.JSON(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        *lease,
        sa.Column("targets", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    ]


def _sequence_after_copy(table: str) -> None:
    """PostgreSQL: the id sequence continues after the ids copied in."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - our names
            f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        )


def upgrade() -> None:
    op.create_table("work_requests", *_columns(work=True))
    with op.batch_alter_table("work_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_work_requests_kind_status_created", ["kind", "status", "created_at"]
        )
        batch_op.create_index("ix_work_requests_tenant_created", ["tenant_id", "created_at"])
    # Every request so far was a probe; one left running by a process that stopped before
    # the upgrade has a lease passed already: the next worker takes it over.
    op.execute(
        f"INSERT INTO work_requests (kind, lease_until, attempts, {_COMMON}) "  # noqa: S608
        f"SELECT 'probe', started_at, CASE WHEN started_at IS NULL THEN 0 ELSE 1 END, "
        f"{_COMMON} FROM probe_requests"
    )
    _sequence_after_copy("work_requests")
    with op.batch_alter_table("probe_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_probe_requests_tenant_created")
        batch_op.drop_index("ix_probe_requests_status_created")
    op.drop_table("probe_requests")


def downgrade() -> None:
    op.create_table("probe_requests", *_columns(work=False))
    with op.batch_alter_table("probe_requests", schema=None) as batch_op:
        batch_op.create_index("ix_probe_requests_status_created", ["status", "created_at"])
        batch_op.create_index("ix_probe_requests_tenant_created", ["tenant_id", "created_at"])
    op.execute(
        f"INSERT INTO probe_requests ({_COMMON}) "  # noqa: S608 - the columns are ours
        f"SELECT {_COMMON} FROM work_requests WHERE kind = 'probe'"
    )
    _sequence_after_copy("probe_requests")
    with op.batch_alter_table("work_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_work_requests_tenant_created")
        batch_op.drop_index("ix_work_requests_kind_status_created")
    op.drop_table("work_requests")
