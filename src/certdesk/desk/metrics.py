"""The platform's figures for monitoring (``/metrics``): per URL the expiry that counts,
the latest probe's outcome and drift; report deliveries by kind and status; per job of
the engine its last success and its failed, pending and overtaken units."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select

from certdesk.desk.context import Ctx, Forbidden, reads
from certdesk.store.jobs import JobUnit
from certdesk.store.models import Domain, Tenant
from certdesk.store.monitoring import DomainState


@dataclass(frozen=True, slots=True)
class UrlFigures:
    url: str
    tenant: str
    expires_at: datetime | None  # the expiry that counts, as in the reports
    source: str | None  # "served" | "installed" (None when no expiry is known)
    probe_ok: bool | None  # the latest probe's outcome; None if never probed
    drift: bool | None  # the served certificate differs from the installed one


@dataclass(frozen=True, slots=True)
class DeliveryCount:
    kind: str
    status: str
    count: int


@dataclass(frozen=True, slots=True)
class JobFigures:
    job: str
    last_success: datetime | None  # the latest unit done
    failed: int  # units failed (waiting for a retry) or given up
    pending: int  # units claimed or waiting for a retry
    overtaken: int = 0  # units left over in a past period and closed unrun


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    urls: tuple[UrlFigures, ...]  # the monitored, active domains, by URL
    deliveries: tuple[DeliveryCount, ...]  # by kind, then status
    jobs: tuple[JobFigures, ...] = ()  # by job name


@reads
def metrics_snapshot(ctx: Ctx) -> MetricsSnapshot:
    """Every monitored URL's figures and the report deliveries (operators only)."""
    if not ctx.actor.is_operator:
        raise Forbidden("metrics are for the platform's operators")
    rows = ctx.session.execute(
        select(
            Domain.url,
            Tenant.name,
            Domain.expires_at,
            Domain.expiry_source,
            DomainState.last_ok,
            DomainState.served_drift,
        )
        .join(Tenant, Tenant.id == Domain.tenant_id)
        .outerjoin(DomainState, DomainState.domain_id == Domain.id)
        .where(Domain.removed_at.is_(None), Domain.monitored.is_(True), Domain.claim == "verified")
        .order_by(Domain.url)
    )
    urls = tuple(
        UrlFigures(url, tenant, expires, source if expires is not None else None, ok, drift)
        for url, tenant, expires, source, ok, drift in rows
    )
    shown = case(
        (JobUnit.status == "done", func.coalesce(JobUnit.outcome, "done")), else_=JobUnit.status
    )
    deliveries = ctx.session.execute(
        select(JobUnit.job, shown, func.count(JobUnit.id))
        .where(JobUnit.job.startswith("report.", autoescape=True))
        .group_by(JobUnit.job, shown)
        .order_by(JobUnit.job, shown)
    )
    failed = JobUnit.status.in_(("failed", "gave-up"))
    pending = or_(
        JobUnit.status == "claimed",
        and_(JobUnit.status == "failed", JobUnit.next_attempt_at.is_not(None)),
    )
    jobs = ctx.session.execute(
        select(
            JobUnit.job,
            func.max(case((JobUnit.status == "done", JobUnit.finished_at))),
            func.count(case((failed, JobUnit.id))),
            func.count(case((pending, JobUnit.id))),
            func.count(case((JobUnit.status == "overtaken", JobUnit.id))),
        )
        .group_by(JobUnit.job)
        .order_by(JobUnit.job)
    )
    return MetricsSnapshot(
        urls=urls,
        deliveries=tuple(DeliveryCount(k.removeprefix("report."), s, n) for k, s, n in deliveries),
        jobs=tuple(JobFigures(j, last, f, p, o) for j, last, f, p, o in jobs),
    )
