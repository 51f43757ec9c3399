"""Tables of the job engine: one row per (job, period, unit) of work, the engine's facts
(the instant certdesk first started), and the on-demand work requests ("probe now",
"install now") that ``certdesk serve``'s workers claim."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from certdesk.store.models import Base


class JobUnit(Base):
    """One unit of work of one job in one period, claimed before it runs.

    The unique (job, period, unit) row is the claim: whoever inserts it runs the unit; a
    claim whose runner died is taken over after its lease. ``status``: claimed → done |
    failed (retried at ``next_attempt_at``) | gave-up | overtaken (left unfinished in a past
    period and closed unrun). ``outcome`` is the job's own word
    for a done unit (a report: ``sent`` or ``empty``); ``detail`` its figures.

    ``period_due`` and ``period_deadline`` are its period's bounds, and ``keep_until`` the
    instant until which the unit, left unfinished (claimed by a process that died, or
    failed), is still taken over once its period is no longer the job's latest; after it,
    the unit is closed as ``overtaken``, not run. (None on rows claimed before certdesk
    kept them: such a unit of a past period is closed.)
    """

    __tablename__ = "job_units"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(60))
    period: Mapped[str] = mapped_column(String(40))
    unit: Mapped[str] = mapped_column(String(200))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(40))
    claimed_by: Mapped[str] = mapped_column(String(200))
    claimed_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    period_due: Mapped[datetime | None]
    period_deadline: Mapped[datetime | None]
    keep_until: Mapped[datetime | None]
    __table_args__ = (
        UniqueConstraint("job", "period", "unit", name="uq_job_unit"),
        Index("ix_job_units_job_status", "job", "status"),
    )


class EngineFact(Base):
    """An instant the engine keeps once (``first-start``: certdesk's first tick)."""

    __tablename__ = "engine_facts"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime]


class WorkRequest(Base):
    """On-demand work asked for over the API or the portal ("probe now", "install now"),
    run by ``certdesk serve``'s on-demand workers (``application.on_demand``).

    ``kind``: ``probe`` | ``install``. ``status``: queued → running → done | failed.
    ``key`` is what makes two requests the same (the kind, the tenant and its URLs): one
    equal to a request still queued is that one. A running request is held by
    ``claimed_by`` until ``lease_until``, which its worker renews while it works; once the
    lease has passed (the process died), another worker takes it over. ``attempts``
    counts the claims.
    """

    __tablename__ = "work_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"))
    requested_by: Mapped[str] = mapped_column(String(200))
    urls: Mapped[list[str]] = mapped_column(JSON)
    key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    targets: Mapped[int] = mapped_column(Integer, default=0)
    ok: Mapped[int] = mapped_column(Integer, default=0)
    results: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        Index("ix_work_requests_kind_status_created", "kind", "status", "created_at"),
        Index("ix_work_requests_tenant_created", "tenant_id", "created_at"),
    )
