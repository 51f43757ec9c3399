"""The platform's figures for monitoring (``/metrics``): per URL the expiry that counts,
the latest probe's outcome and drift; report deliveries by kind and status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from certdesk.desk.context import Ctx, Forbidden, reads
from certdesk.store.models import Domain, Tenant
from certdesk.store.monitoring import DomainState, ReportDelivery


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
class MetricsSnapshot:
    urls: tuple[UrlFigures, ...]  # the monitored, active domains, by URL
    deliveries: tuple[DeliveryCount, ...]  # by kind, then status


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
        .where(Domain.removed_at.is_(None), Domain.monitored.is_(True))
        .order_by(Domain.url)
    )
    urls = tuple(
        UrlFigures(url, tenant, expires, source if expires is not None else None, ok, drift)
        for url, tenant, expires, source, ok, drift in rows
    )
    deliveries = ctx.session.execute(
        select(ReportDelivery.kind, ReportDelivery.status, func.count(ReportDelivery.id))
        .group_by(ReportDelivery.kind, ReportDelivery.status)
        .order_by(ReportDelivery.kind, ReportDelivery.status)
    )
    return MetricsSnapshot(
        urls=urls, deliveries=tuple(DeliveryCount(k, s, n) for k, s, n in deliveries)
    )
