"""Which URLs a report lists: one query, filtered and sorted by the database.

The date that counts for a URL is the served certificate's expiry from its latest
probe that completed a handshake; the installed certificate's when it has not been
probed (yet, or ever successfully). ``Domain.expires_at`` holds it, indexed, so a
report reads one index range whatever the number of domains. Only monitored, not
removed domains are listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Protocol

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import aliased

from certdesk.desk.context import Ctx, reads, tenant_by_name
from certdesk.pki.expiry import is_expired
from certdesk.reports.kinds import ReportKind, find_kind
from certdesk.reports.model import Report, ReportRow
from certdesk.reports.windows import Window
from certdesk.store.models import Binding, CertificateRecord, Domain, Tenant
from certdesk.store.monitoring import DomainState


class ReportSettings(Protocol):
    """What a report needs of the scheduler's configuration."""

    @property
    def tz(self) -> tzinfo: ...
    @property
    def kinds(self) -> tuple[ReportKind, ...]: ...


def select_rows(
    ctx: Ctx, at: datetime, window: Window, *, tenant_id: int | None = None
) -> Iterator[ReportRow]:
    """Rows of expired URLs and of URLs expiring in ``window``, soonest first."""
    cert = aliased(CertificateRecord)
    expiry = Domain.expires_at  # kept current by record_probes and bind; indexed
    low = expiry >= window.low if window.low_inclusive else expiry > window.low
    stmt = (
        select(
            Domain.url,
            Tenant.name,
            Domain.portal,
            expiry,
            Domain.expiry_source == "served",
            DomainState.served_common_name,
            DomainState.served_issuer,
            DomainState.served_drift,
            DomainState.last_probe_at,
            DomainState.last_ok,
            DomainState.last_error_kind,
            cert.common_name,
            cert.issuer_common_name,
            cert.not_after,
            Binding.install_state,
        )
        .join(Tenant, Tenant.id == Domain.tenant_id)
        .outerjoin(DomainState, DomainState.domain_id == Domain.id)
        .outerjoin(Binding, and_(Binding.domain_id == Domain.id, Binding.unbound_at.is_(None)))
        .outerjoin(cert, cert.id == Binding.certificate_id)
        # A pending ownership claim is nobody's name yet: not reported as the tenant's.
        .where(Domain.monitored.is_(True), Domain.removed_at.is_(None), Domain.claim == "verified")
        .where(or_(expiry <= at, and_(low, expiry <= window.high)))
        .order_by(expiry, Domain.url)
    )
    if tenant_id is not None:
        stmt = stmt.where(Domain.tenant_id == tenant_id)
    stmt = ctx.scoped(stmt, Domain.tenant_id)
    for row in ctx.session.execute(stmt.execution_options(yield_per=2000)):
        (
            url,
            tenant,
            portal,
            not_after,
            is_served,
            s_cn,
            s_issuer,
            drift,
            probe_at,
            ok,
            err,
            c_cn,
            c_issuer,
            c_not_after,
            install_state,
        ) = row
        assert not_after is not None  # the WHERE clause selects on it
        yield ReportRow(
            url=url,
            tenant=tenant,
            portal=portal,
            common_name=s_cn if is_served else c_cn,
            issuer=s_issuer if is_served else c_issuer,
            not_after=not_after,
            source="served" if is_served else "installed",
            drift=drift,
            last_probe_at=probe_at,
            last_probe_ok=ok,
            last_error=err,
            installed_not_after=c_not_after
            if install_state == "installed" and c_not_after != not_after
            else None,
        )


def build_report(
    ctx: Ctx,
    kind: ReportKind,
    at: datetime,
    tz: tzinfo,
    *,
    tenant_id: int | None = None,
    audience: str = "operators",
    period: str | None = None,
    late: bool = False,
) -> Report:
    expired: list[ReportRow] = []
    expiring: list[ReportRow] = []
    for row in select_rows(ctx, at, kind.window(at), tenant_id=tenant_id):
        (expired if is_expired(row.not_after, at) else expiring).append(row)
    return Report(
        kind=kind.name,
        title=kind.title,
        at=at,
        tz=tz,
        audience=audience,
        expired=tuple(expired),
        expiring=tuple(expiring),
        window_text=kind.window_text,
        period=period,
        late=late,
    )


@reads
def preview_report(
    ctx: Ctx,
    *,
    kind: str,
    config: ReportSettings,
    at: datetime | None = None,
    tenant: str | None = None,
) -> Report:
    """The report of the kind named ``kind`` as it would be sent at ``at`` (default: now):
    to ``tenant``'s contacts
    when named, to a reseller for its own tenant, else to the operators. Nothing is sent.

    A read-only use case: every interface runs it with ``Desk.run``, the report's
    settings given as a value (``application.compose.report_config``)."""
    moment = at or ctx.now
    owner = tenant_by_name(ctx, tenant) if tenant else None
    if owner is None and ctx.actor.tenant_id is not None:
        owner = ctx.session.get(Tenant, ctx.actor.tenant_id)
    return build_report(
        ctx,
        find_kind(config.kinds, kind),
        moment,
        config.tz,
        tenant_id=owner.id if owner else None,
        audience=owner.name if owner else "the platform's operators",
    )
