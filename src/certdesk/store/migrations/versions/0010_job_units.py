"""the job engine: job_units (every job's claims and outcomes; the report deliveries
moved in) and engine_facts (certdesk's first start)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 21:40:00
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_REPORTS = sa.table(
    "report_deliveries",
    sa.column("kind", sa.String),
    sa.column("period", sa.String),
    sa.column("recipient", sa.String),
    sa.column("tenant_id", sa.Integer),
    sa.column("status", sa.String),
    sa.column("claimed_by", sa.String),
    sa.column("claimed_at", sa.DateTime(timezone=True)),
    sa.column("attempts", sa.Integer),
    sa.column("next_attempt_at", sa.DateTime(timezone=True)),
    sa.column("last_error", sa.Text),
    sa.column("sent_at", sa.DateTime(timezone=True)),
    sa.column("late", sa.Boolean),
    sa.column("rows", sa.Integer),
    sa.column("message_id", sa.String),
)

# A report delivery's columns and the job unit's they become: the same name, or renamed.
_TO_UNIT = {
    **{
        name: name
        for name in (
            "period",
            "tenant_id",
            "claimed_by",
            "claimed_at",
            "attempts",
            "next_attempt_at",
            "last_error",
            "late",
        )
    },
    "recipient": "unit",
    "sent_at": "finished_at",
}
_TO_DELIVERY = {unit: delivery for delivery, unit in _TO_UNIT.items()}


def _copied(row: sa.RowMapping, names: Mapping[str, str], **changed: Any) -> dict[str, Any]:
    """``row``'s values under their ``names`` in the other table, and the ``changed`` ones."""
    return {new: row[old] for old, new in names.items()} | changed


def upgrade() -> None:
    units = op.create_table(
        "job_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=60), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("unit", sa.String(length=200), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job", "period", "unit", name="uq_job_unit"),
    )
    with op.batch_alter_table("job_units", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_units_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_job_units_job_status", ["job", "status"], unique=False)
    op.create_table(
        "engine_facts",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )

    # Every report delivery so far becomes a unit of its report job: history is kept.
    bind = op.get_bind()
    moved = []
    for row in bind.execute(sa.select(_REPORTS)).mappings():
        status = row["status"]
        outcome = None
        if status in ("sent", "empty"):
            status, outcome = "done", row["status"]
        elif status == "failed" and row["next_attempt_at"] is None:
            status = "gave-up"
        moved.append(
            _copied(
                row,
                _TO_UNIT,
                job=f"report.{row['kind']}",
                status=status,
                outcome=outcome,
                detail={"rows": row["rows"], "message_id": row["message_id"]},
            )
        )
    if moved:
        op.bulk_insert(units, moved)
    with op.batch_alter_table("report_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_deliveries_tenant_id"))
    op.drop_table("report_deliveries")


def downgrade() -> None:
    reports = op.create_table(
        "report_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "period", "recipient", name="uq_report_delivery"),
    )
    with op.batch_alter_table("report_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_report_deliveries_tenant_id"), ["tenant_id"], unique=False
        )
    when = sa.DateTime(timezone=True)
    units = sa.table(
        "job_units",
        *(sa.column(name, sa.String) for name in ("job", "period", "unit", "status")),
        *(sa.column(name, sa.String) for name in ("outcome", "claimed_by", "last_error")),
        *(sa.column(name, when) for name in ("claimed_at", "next_attempt_at", "finished_at")),
        sa.column("tenant_id", sa.Integer),
        sa.column("attempts", sa.Integer),
        sa.column("late", sa.Boolean),
        sa.column("detail", sa.JSON),
    )
    back = []
    for row in (
        op.get_bind().execute(sa.select(units).where(units.c.job.like("report.%"))).mappings()
    ):
        status = row["outcome"] if row["status"] == "done" else row["status"]
        detail = row["detail"] or {}
        back.append(
            _copied(
                row,
                _TO_DELIVERY,
                kind=row["job"].removeprefix("report."),
                status="failed" if status == "gave-up" else status,
                rows=int(detail.get("rows") or 0),
                message_id=detail.get("message_id"),
            )
        )
    if back:
        op.bulk_insert(reports, back)
    op.drop_table("engine_facts")
    with op.batch_alter_table("job_units", schema=None) as batch_op:
        batch_op.drop_index("ix_job_units_job_status")
        batch_op.drop_index(batch_op.f("ix_job_units_tenant_id"))
    op.drop_table("job_units")
