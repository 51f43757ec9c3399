"""What each URL serves: one page of the actor's domains with the state their probes
found, and the urgency of the expiry that counts.

The expiry that counts is the one the reports use (``Domain.expires_at``): the served
certificate's from the latest probe that completed a handshake, else the installed one's.
Urgency is ``certdesk.pki.expiry``'s, as for every page, count and report that shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, select

from certdesk.desk.context import Ctx, reads, tenant_by_name
from certdesk.errors import InvalidArgument
from certdesk.pki.expiry import URGENCY_BUCKETS, Urgency, days_left, urgency
from certdesk.store.models import Binding, CertificateRecord, Domain, Tenant
from certdesk.store.monitoring import DomainState

S = TypeVar("S", bound="Select[*tuple[Any, ...]]")

# The urgencies, most urgent known first; what each means is ``certdesk.pki.expiry``'s.
URGENCIES = tuple(Urgency)

_urgency_of = urgency  # served_overview's filter of that name shadows it


def _urgency_is(label: str, at: datetime) -> list[ColumnElement[bool]]:
    """The expiries (``Domain.expires_at``) of one urgency at ``at``."""
    expires = Domain.expires_at
    if label == "none":
        return [expires.is_(None)]
    if label == "expired":
        return [expires <= at]
    edges = [at, *(at + delta for _, delta in URGENCY_BUCKETS)]
    if label == "ok":
        return [expires >= edges[-1]]
    n = [name for name, _ in URGENCY_BUCKETS].index(Urgency(label)) + 1
    low = expires > at if n == 1 else expires >= edges[n - 1]
    return [low, expires < edges[n]]


@dataclass(frozen=True, slots=True)
class ServedRow:
    """One active domain: what is installed, what its probes found, and its urgency."""

    url: str
    tenant: str
    portal: str
    monitored: bool
    installed_sha256: str | None
    installed_not_after: datetime | None
    not_after: datetime | None  # the expiry that counts
    source: str | None  # "served" (latest probe with a handshake) | "installed" | None
    common_name: str | None  # of the certificate that counts
    issuer: str | None
    drift: bool | None  # serves another certificate than the one installed
    last_probe_at: datetime | None
    last_probe_ok: bool | None
    last_error: str | None  # the latest probe's error kind, when it failed
    urgency: Urgency
    days_left: int | None


@dataclass(frozen=True, slots=True)
class ServedPage:
    rows: list[ServedRow]
    total: int  # of the domains the filters keep, over every page
    at: datetime


@reads
def served_overview(
    ctx: Ctx,
    *,
    limit: int = 50,
    offset: int = 0,
    urgency: str | None = None,
    drift: bool = False,
    failing: bool = False,
    tenant: str | None = None,
) -> ServedPage:
    """One page of the actor's active domains, soonest installed expiry first (those with
    nothing installed last, then by URL), with their served state at the desk's instant.

    Filters: ``urgency`` (one of :data:`URGENCIES`), ``drift`` (only those that serve
    another certificate than the one installed), ``failing`` (only those whose latest
    probe failed), ``tenant`` (by name; a reseller's own only).
    """
    if urgency is not None and urgency not in URGENCIES:
        raise InvalidArgument(
            f"no urgency {urgency!r}", hint="choose one of: " + ", ".join(URGENCIES)
        )
    at = ctx.now
    conditions: list[ColumnElement[bool]] = [Domain.removed_at.is_(None)]
    if tenant is not None:
        conditions.append(Domain.tenant_id == tenant_by_name(ctx, tenant).id)
    if urgency is not None:
        conditions += _urgency_is(urgency, at)
    if drift:
        conditions.append(DomainState.served_drift.is_(True))
    if failing:
        conditions.append(DomainState.last_ok.is_(False))

    def joined(stmt: S) -> S:
        return ctx.scoped(
            stmt.join(Tenant, Tenant.id == Domain.tenant_id)
            .outerjoin(DomainState, DomainState.domain_id == Domain.id)
            .outerjoin(Binding, and_(Binding.domain_id == Domain.id, Binding.unbound_at.is_(None)))
            .outerjoin(CertificateRecord, CertificateRecord.id == Binding.certificate_id)
            .where(*conditions),
            Domain.tenant_id,
        )

    total = ctx.session.scalar(joined(select(func.count()).select_from(Domain))) or 0
    installed = CertificateRecord.not_after
    page = joined(
        select(
            Domain.url,
            Tenant.name,
            Domain.portal,
            Domain.monitored,
            CertificateRecord.sha256,
            installed,
            Domain.expires_at,
            Domain.expiry_source,
            CertificateRecord.common_name,
            CertificateRecord.issuer_common_name,
            DomainState.served_common_name,
            DomainState.served_issuer,
            DomainState.served_drift,
            DomainState.last_probe_at,
            DomainState.last_ok,
            DomainState.last_error_kind,
        ).select_from(Domain)
    ).order_by(installed.is_(None), installed, Domain.url)
    rows = []
    for row in ctx.session.execute(page.limit(max(0, limit)).offset(max(0, offset))):
        (url, tenant_name, portal, monitored, sha256, installed_at, expires, source) = row[:8]
        c_cn, c_issuer, s_cn, s_issuer, served_drift, probe_at, ok, error = row[8:]
        served = source == "served"
        rows.append(
            ServedRow(
                url=url,
                tenant=tenant_name,
                portal=portal,
                monitored=monitored,
                installed_sha256=sha256,
                installed_not_after=installed_at,
                not_after=expires,
                source=source if expires is not None else None,
                common_name=s_cn if served else c_cn,
                issuer=s_issuer if served else c_issuer,
                drift=served_drift,
                last_probe_at=probe_at,
                last_probe_ok=ok,
                last_error=error if ok is False else None,
                urgency=_urgency_of(expires, at),
                days_left=days_left(expires, at) if expires is not None else None,
            )
        )
    return ServedPage(rows=rows, total=int(total), at=at)
