"""Installing in the desk: what to install where, and recording what the install proved.

The deploy itself (files, nginx, HAProxy…) is a side effect outside the database; it
runs between :func:`install_work` and :func:`record_install`, in ``certdesk.application.installer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from sqlalchemy import select

from certdesk.desk.context import Ctx, NotFound
from certdesk.desk.domains import current_certificates, find_domain
from certdesk.desk.records import advance, chain_of, open_key
from certdesk.desk.statuses import RequestStatus
from certdesk.pki import PrivateKey, served
from certdesk.store.models import Binding, Domain, PrivateKeyRecord, Request, Tenant


@dataclass(frozen=True, slots=True)
class InstallWork:
    domain_id: int
    tenant_id: int
    url: str
    hostname: str
    port: int
    target: str | None  # the domain's deploy target; None: the default
    sha256: str
    common_name: str | None
    chain: tuple[x509.Certificate, ...]
    key: PrivateKey
    request_id: int | None


def install_work(
    ctx: Ctx,
    *,
    urls: Sequence[str] = (),
    every: bool = False,
    request_id: int | None = None,
) -> list[InstallWork]:
    """The certificate now bound to each domain asked for, with its key from the vault."""
    if request_id is not None:
        request = ctx.session.get(Request, request_id)
        if request is None or not ctx.visible(request.tenant_id):
            raise NotFound(f"no request {request_id}")
        domains = list(
            ctx.session.scalars(
                select(Domain)
                .join(Binding, Binding.domain_id == Domain.id)
                .where(
                    Binding.request_id == request_id,
                    Binding.unbound_at.is_(None),
                    Domain.removed_at.is_(None),
                )
                .order_by(Domain.id)
            )
        )
    elif every:
        stmt = select(Domain).where(Domain.removed_at.is_(None)).order_by(Domain.id)
        domains = list(ctx.session.scalars(ctx.scoped(stmt, Domain.tenant_id)))
    else:
        domains = [find_domain(ctx, u) for u in urls]
    current = current_certificates(ctx, [d.id for d in domains])
    work: list[InstallWork] = []
    for domain in domains:
        cert = current.get(domain.id)
        if cert is None:
            if urls:
                raise NotFound(
                    f"no certificate is bound to {domain.url}",
                    hint="submit one, or complete its CSR order, first",
                )
            continue
        record = (
            ctx.session.get(PrivateKeyRecord, cert.private_key_id) if cert.private_key_id else None
        )
        if record is None:
            if urls:
                raise NotFound(f"certdesk holds no private key for the certificate on {domain.url}")
            continue
        binding = ctx.session.scalars(
            select(Binding).where(Binding.domain_id == domain.id, Binding.unbound_at.is_(None))
        ).one()
        work.append(
            InstallWork(
                domain_id=domain.id,
                tenant_id=domain.tenant_id,
                url=domain.url,
                hostname=domain.hostname,
                port=domain.port,
                target=domain.deploy_target,
                sha256=cert.sha256,
                common_name=cert.common_name,
                chain=served(chain_of(cert)),
                key=open_key(ctx, record),
                request_id=request_id if request_id is not None else binding.request_id,
            )
        )
    return work


@dataclass(frozen=True, slots=True)
class InstallRecord:
    request_id: int | None
    tenant_emails: tuple[str, ...]
    tenant: str


def record_install(
    ctx: Ctx,
    *,
    target: str,
    work: Sequence[InstallWork],
    ok: bool,
    message: str,
    installed: bool = False,
) -> list[InstallRecord]:
    """Write the outcome of one install: each request completed, or left open with why.

    ``installed``: the install failed, but the target still holds these very
    certificates (it changed nothing, or what it changed was put back). A request
    completed before stays completed then — its certificate is where it was — and
    only the audit tells of the attempt.
    """
    out: list[InstallRecord] = []
    for request_id in sorted({w.request_id for w in work if w.request_id is not None}):
        request = ctx.session.get(Request, request_id)
        if request is None:
            continue
        if ok:
            advance(ctx, request, RequestStatus.COMPLETED, message)
        elif not (installed and request.status == RequestStatus.COMPLETED):
            advance(ctx, request, RequestStatus.PROCESSING, message)
        tenant = ctx.session.get(Tenant, request.tenant_id)
        out.append(
            InstallRecord(
                request_id, tuple(tenant.emails) if tenant else (), tenant.name if tenant else "?"
            )
        )
    for tenant_id in sorted({w.tenant_id for w in work}):
        ctx.audit(
            "certificate.install" if ok else "certificate.install-failed",
            "deploy",
            target,
            tenant_id,
            message=message,
            urls=[w.url for w in work if w.tenant_id == tenant_id],
            certificates=sorted({w.sha256 for w in work if w.tenant_id == tenant_id}),
        )
    return out


def set_deploy_target(ctx: Ctx, *, url: str, target: str | None) -> str | None:
    """Choose the deploy target of one domain (operators; None: back to the default)."""
    from certdesk.desk.context import Forbidden

    if not ctx.actor.is_operator:
        raise Forbidden("choosing a domain's deploy target is for the platform's operators")
    domain = find_domain(ctx, url)
    domain.deploy_target = target
    ctx.audit(
        "domain.change", "domain", domain.id, domain.tenant_id, url=domain.url, deploy_target=target
    )
    return target
