"""Domains: the custom-domain URLs of a tenant's portals."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import and_, func, select

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


@reads
def list_domains(
    ctx: Ctx, *, tenant: str | None = None, limit: int | None = None, offset: int = 0
) -> list[DomainView]:
    """The active domains with their tenant and current certificate, in one query.

    ``limit``/``offset`` page through them (ordered by host name and port).
    """
    stmt = (
        select(Domain, Tenant.name, CertificateRecord.sha256, CertificateRecord.not_after)
        .join(Tenant, Tenant.id == Domain.tenant_id)
        .outerjoin(Binding, and_(Binding.domain_id == Domain.id, Binding.unbound_at.is_(None)))
        .outerjoin(CertificateRecord, CertificateRecord.id == Binding.certificate_id)
        .where(Domain.removed_at.is_(None))
        .order_by(Domain.hostname, Domain.port)
    )
    if tenant is not None:
        stmt = stmt.where(Domain.tenant_id == tenant_by_name(ctx, tenant).id)
    stmt = ctx.scoped(stmt, Domain.tenant_id).offset(max(0, offset))
    if limit is not None:
        stmt = stmt.limit(max(0, limit))
    return [
        _view_of(domain, tenant_name, sha256, not_after)
        for domain, tenant_name, sha256, not_after in ctx.session.execute(stmt)
    ]


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
    return _view_of(
        domain,
        tenant.name if tenant else "?",
        cert.sha256 if cert else None,
        cert.not_after if cert else None,
    )


def _view_of(
    domain: Domain, tenant: str, sha256: str | None, not_after: datetime | None
) -> DomainView:
    return DomainView(
        id=domain.id,
        url=domain.url,
        hostname=domain.hostname,
        port=domain.port,
        tenant=tenant,
        portal=domain.portal,
        monitored=domain.monitored,
        connect_to=domain.connect_to,
        certificate_sha256=sha256,
        not_after=not_after,
        deploy_target=domain.deploy_target,
    )
