"""Domains: the custom-domain URLs of a tenant's portals."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, and_, case, func, select

from certdesk.desk.context import Conflict, Ctx, Forbidden, NotFound, reads, tenant_by_name
from certdesk.errors import InvalidArgument
from certdesk.pki import parse_host
from certdesk.store.models import Binding, CertificateRecord, Domain, Tenant


class Portal(enum.StrEnum):
    BSS = "bss"
    STOREFRONT = "storefront"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Url:
    """A custom-domain URL, normalised: ``https://host[:port][/path]``."""

    url: str
    hostname: str
    port: int


def parse_url(value: str) -> Url:
    """Read a URL or bare host name; the identity of a domain is its host and port."""
    text = value.strip()
    if not text:
        raise InvalidArgument("an empty URL was given")
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme != "https":
            raise InvalidArgument(
                f"{value!r} is not an https:// URL", hint="custom domains are served over https"
            )
    host = parse_host(text)
    if host.ip is not None:
        raise InvalidArgument(f"{value!r} is an IP address; a custom domain is a name")
    if host.name.startswith("*") or "*" in text:
        raise InvalidArgument(f"{value!r} is a wildcard; give each URL the certificate serves")
    port = host.port or 443
    path = urlsplit(text if "://" in text else "https://" + text).path.rstrip("/")
    netloc = host.name if port == 443 else f"{host.name}:{port}"
    return Url(url=f"https://{netloc}{path}", hostname=host.name, port=port)


def _operators_only_connect_to(ctx: Ctx) -> None:
    # The connect-to address makes certdesk open connections to it: an operator's call.
    if not ctx.actor.is_operator:
        raise Forbidden("only the platform's operators set a connect-to address")


def parse_connect_to(value: str | None) -> str | None:
    """``HOST:PORT`` of the platform's own terminator for this domain."""
    if value is None or not value.strip():
        return None
    host = parse_host(value.strip())
    if host.port is None:
        raise InvalidArgument(f"--connect-to {value!r} needs a port, like 10.0.0.5:443")
    name = f"[{host.name}]" if host.ip is not None and host.ip.version == 6 else host.name
    return f"{name}:{host.port}"


@dataclass(frozen=True, slots=True)
class DomainView:
    id: int
    url: str
    hostname: str
    port: int
    tenant: str
    portal: str
    monitored: bool
    connect_to: str | None
    certificate_sha256: str | None
    not_after: datetime | None
    deploy_target: str | None = None


def _active(ctx: Ctx, url: Url) -> Domain | None:
    return ctx.session.scalars(
        select(Domain).where(
            Domain.hostname == url.hostname, Domain.port == url.port, Domain.removed_at.is_(None)
        )
    ).one_or_none()


def find_domain(ctx: Ctx, value: str) -> Domain:
    """The actor's active domain for ``value``; another tenant's answers not-found."""
    url = parse_url(value)
    domain = _active(ctx, url)
    if domain is None or not ctx.visible(domain.tenant_id):
        raise NotFound(f"no domain {url.url}", hint="see 'certdesk domain list'")
    return domain


def ensure_domain(ctx: Ctx, tenant: Tenant, value: str, portal: str = "other") -> Domain:
    """The tenant's domain for ``value``, added if unknown; refused if another tenant has it."""
    url = parse_url(value)
    domain = _active(ctx, url)
    if domain is not None:
        if domain.tenant_id != tenant.id:
            raise Conflict(
                f"{url.url} is not available",
                hint="it is used by another account; ask the platform's operators",
            )
        return domain
    domain = Domain(
        tenant_id=tenant.id,
        url=url.url,
        hostname=url.hostname,
        port=url.port,
        portal=Portal(portal).value,
        monitored=True,
        created_at=ctx.now,
    )
    ctx.session.add(domain)
    ctx.session.flush()
    ctx.audit("domain.add", "domain", domain.id, tenant.id, url=url.url, portal=domain.portal)
    return domain


def add_domain(
    ctx: Ctx, *, url: str, tenant: str, portal: str = "other", connect_to: str | None = None
) -> DomainView:
    owner = tenant_by_name(ctx, tenant)
    parsed = parse_url(url)
    if _active(ctx, parsed) is not None:
        raise Conflict(
            f"{parsed.url} is registered already",
            hint="see 'certdesk domain list'; a URL belongs to one tenant",
        )
    if connect_to:
        _operators_only_connect_to(ctx)
    domain = ensure_domain(ctx, owner, url, portal)
    domain.connect_to = parse_connect_to(connect_to)
    return _view(ctx, domain)


_VIEW_COLUMNS = (
    Domain.id,
    Domain.url,
    Domain.hostname,
    Domain.port,
    Tenant.name,
    Domain.portal,
    Domain.monitored,
    Domain.connect_to,
    CertificateRecord.sha256,
    CertificateRecord.not_after,
    Domain.deploy_target,
)


def _listing(ctx: Ctx, tenant: str | None) -> Select[*tuple[Any, ...]]:
    """Active domains with their tenant's name and current certificate: one query."""
    stmt: Select[*tuple[Any, ...]] = (
        select(*_VIEW_COLUMNS)
        .join(Tenant, Tenant.id == Domain.tenant_id)
        .outerjoin(Binding, and_(Binding.domain_id == Domain.id, Binding.unbound_at.is_(None)))
        .outerjoin(CertificateRecord, CertificateRecord.id == Binding.certificate_id)
        .where(Domain.removed_at.is_(None))
    )
    if tenant is not None:
        stmt = stmt.where(Domain.tenant_id == tenant_by_name(ctx, tenant).id)
    return ctx.scoped(stmt, Domain.tenant_id)


@reads
def list_domains(
    ctx: Ctx, *, tenant: str | None = None, limit: int | None = None, offset: int = 0
) -> list[DomainView]:
    """The active domains with their tenant and current certificate, in one query.

    ``limit``/``offset`` page through them (ordered by host name and port).
    """
    stmt = _listing(ctx, tenant).order_by(Domain.hostname, Domain.port).offset(max(0, offset))
    if limit is not None:
        stmt = stmt.limit(max(0, limit))
    return [DomainView(*row) for row in ctx.session.execute(stmt)]


@dataclass(frozen=True, slots=True)
class Overview:
    """A dashboard's worth: how many domains per urgency, a page of them, the expiries to
    chart — computed by the database from each domain's indexed ``expires_at`` (the
    expiry that counts, as in the reports: served if probed, else installed)."""

    counts: dict[str, int]
    total: int  # of the urgency shown (or all)
    rows: list[DomainView]  # ``not_after`` here is the expiry that counts
    weeks: list[int]  # how many expire in each week after ``at`` (days 0–``chart_days``)


@reads
def domain_overview(
    ctx: Ctx,
    *,
    at: datetime,
    buckets: Sequence[tuple[str, timedelta]],
    show: str | None = None,
    limit: int = 100,
    offset: int = 0,
    chart_days: int = 90,
) -> Overview:
    """Domains by urgency at ``at``: ``none`` (no expiry known), ``expired``
    (``expires_at <= at``), then each ``(label, delta)`` of ``buckets`` for
    ``expires_at < at + delta`` in order, else ``ok``. Rows come soonest expiry first."""
    expires = Domain.expires_at
    bucket = case(
        (expires.is_(None), "none"),
        (expires <= at, "expired"),
        *[(expires < at + delta, label) for label, delta in buckets],
        else_="ok",
    )
    active = ctx.scoped(select(Domain.id).where(Domain.removed_at.is_(None)), Domain.tenant_id)
    counts = dict.fromkeys(["none", "expired", *(b for b, _ in buckets), "ok"], 0)
    for label, count in ctx.session.execute(
        active.with_only_columns(bucket, func.count(Domain.id)).group_by(bucket)
    ):
        counts[label] = count
    chosen = active.where(bucket == show) if show in counts else active
    page = [
        row[0]
        for row in ctx.session.execute(
            chosen.order_by(expires.is_(None), expires, Domain.url)
            .limit(max(0, limit))
            .offset(max(0, offset))
        )
    ]
    rows: list[DomainView] = []
    if page:
        by_id = {
            row[0]: row
            for row in ctx.session.execute(
                select(*_VIEW_COLUMNS[:-1], Domain.expires_at, Domain.deploy_target)
                .join(Tenant, Tenant.id == Domain.tenant_id)
                .outerjoin(
                    Binding, and_(Binding.domain_id == Domain.id, Binding.unbound_at.is_(None))
                )
                .outerjoin(CertificateRecord, CertificateRecord.id == Binding.certificate_id)
                .where(Domain.id.in_(page))
            )
        }
        for domain_id in page:
            row = by_id[domain_id]
            rows.append(
                DomainView(
                    id=row[0],
                    url=row[1],
                    hostname=row[2],
                    port=row[3],
                    tenant=row[4],
                    portal=row[5],
                    monitored=row[6],
                    connect_to=row[7],
                    certificate_sha256=row[8],
                    not_after=row[10],
                    deploy_target=row[11],
                )
            )
    weeks = [0] * (-(-chart_days // 7))
    week = case(
        *[(expires < at + timedelta(days=7 * (n + 1)), n) for n in range(len(weeks) - 1)],
        else_=len(weeks) - 1,
    )
    for n, count in ctx.session.execute(
        active.with_only_columns(week, func.count(Domain.id))
        .where(expires > at, expires <= at + timedelta(days=chart_days))
        .group_by(week)
    ):
        weeks[n] = count
    return Overview(
        counts=counts,
        total=counts[show] if show in counts else sum(counts.values()),
        rows=rows,
        weeks=weeks,
    )


@reads
def show_domain(ctx: Ctx, *, url: str) -> DomainView:
    """One of the actor's domains, with its tenant and current certificate."""
    return _view(ctx, find_domain(ctx, url))


@reads
def count_domains(ctx: Ctx, *, tenant: str | None = None) -> int:
    stmt = select(func.count(Domain.id)).where(Domain.removed_at.is_(None))
    if tenant is not None:
        stmt = stmt.where(Domain.tenant_id == tenant_by_name(ctx, tenant).id)
    return int(ctx.session.scalar(ctx.scoped(stmt, Domain.tenant_id)) or 0)


def current_certificates(ctx: Ctx, domain_ids: list[int]) -> dict[int, CertificateRecord]:
    """The certificate bound now to each of ``domain_ids``."""
    if not domain_ids:
        return {}
    rows = ctx.session.execute(
        select(Binding.domain_id, CertificateRecord)
        .join(CertificateRecord, CertificateRecord.id == Binding.certificate_id)
        .where(Binding.unbound_at.is_(None), Binding.domain_id.in_(domain_ids))
    )
    return dict(rows.all())


def change_domain(
    ctx: Ctx,
    *,
    url: str,
    portal: str | None = None,
    connect_to: str | None = None,
    monitored: bool | None = None,
) -> DomainView:
    domain = find_domain(ctx, url)
    changes: dict[str, object] = {}
    if portal is not None:
        domain.portal = changes["portal"] = Portal(portal).value
    if connect_to is not None:
        _operators_only_connect_to(ctx)
        domain.connect_to = parse_connect_to(connect_to)
        changes["connect_to"] = domain.connect_to
    if monitored is not None:
        domain.monitored = changes["monitored"] = monitored
    ctx.audit("domain.change", "domain", domain.id, domain.tenant_id, url=domain.url, **changes)
    return _view(ctx, domain)


def remove_domain(ctx: Ctx, *, url: str) -> DomainView:
    """Retire a domain: it stops being monitored and served; its history stays."""
    domain = find_domain(ctx, url)
    view = _view(ctx, domain)
    domain.removed_at = ctx.now
    domain.monitored = False
    for binding in ctx.session.scalars(
        select(Binding).where(Binding.domain_id == domain.id, Binding.unbound_at.is_(None))
    ):
        binding.unbound_at = ctx.now
    ctx.audit("domain.remove", "domain", domain.id, domain.tenant_id, url=domain.url)
    return view


def _view(ctx: Ctx, domain: Domain, cert: CertificateRecord | None = None) -> DomainView:
    if cert is None:
        cert = current_certificates(ctx, [domain.id]).get(domain.id)
    tenant = ctx.session.get(Tenant, domain.tenant_id)
    return DomainView(
        id=domain.id,
        url=domain.url,
        hostname=domain.hostname,
        port=domain.port,
        tenant=tenant.name if tenant else "?",
        portal=domain.portal,
        monitored=domain.monitored,
        connect_to=domain.connect_to,
        certificate_sha256=cert.sha256 if cert else None,
        not_after=cert.not_after if cert else None,
        deploy_target=domain.deploy_target,
    )
