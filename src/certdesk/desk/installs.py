"""Installing in the desk: what to install where, and recording what the install proved.

The deploy itself (files, nginx, HAProxy…) is a side effect outside the database; it
runs between :func:`install_work` and :func:`record_install`, in
``certdesk.application.installer``.

Each binding (a certificate on a domain) has an install state that tells the truth:

- ``stored``: accepted and kept, not (yet) installed by certdesk;
- ``installing``: a deploy of it has begun (:func:`begin_install`); one still
  installing after :data:`STALE_INSTALLING` was left by a stopped process and is retried;
- ``installed``: deployed and proven by a handshake (or deployed on a target that has
  no address to prove it with);
- ``install-failed``: the last attempt failed; ``install_reason`` says why,
  ``install_attempts`` counts the failures in a row and ``install_next_at`` is when it
  is tried again (:data:`FIRST_RETRY`, doubling, at most :data:`LONGEST_RETRY`). After
  :data:`ALERT_AFTER` failures in a row the operators are told once.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from sqlalchemy import select

from certdesk.desk.claims import HELD_REASON, ClaimState, require_verified
from certdesk.desk.context import Ctx, Forbidden, NotFound
from certdesk.desk.domains import current_certificates, find_domain
from certdesk.desk.managed import Installed, settle_installs
from certdesk.desk.records import advance, chain_of, open_key
from certdesk.desk.statuses import RequestStatus
from certdesk.pki import PrivateKey, iso_utc, served
from certdesk.store.models import (
    Binding,
    CertificateRecord,
    Domain,
    PrivateKeyRecord,
    Request,
    Tenant,
)


class InstallState(enum.StrEnum):
    """Where the install of a certificate on a domain stands."""

    STORED = "stored"
    INSTALLING = "installing"
    INSTALLED = "installed"
    FAILED = "install-failed"


FIRST_RETRY = timedelta(minutes=5)
LONGEST_RETRY = timedelta(hours=6)
ALERT_AFTER = 3  # failures in a row before the operators are e-mailed (once)
# An install still ``installing`` this long after it began was left by a process that
# stopped mid-deploy: it is due to be tried again.
STALE_INSTALLING = timedelta(minutes=15)


def retry_delay(attempts: int) -> timedelta:
    """How long after its ``attempts``-th failure in a row an install is tried again."""
    if attempts <= 1:
        return FIRST_RETRY
    doubled: timedelta = FIRST_RETRY * (2 ** min(attempts - 1, 16))
    return min(doubled, LONGEST_RETRY)


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
    binding_id: int = 0
    state: InstallState = InstallState.STORED
    # The domain is a pending ownership claim: not installed until it is verified (the
    # binding stays ``stored``, its reason :data:`~certdesk.desk.claims.HELD_REASON`).
    held: bool = False


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
        stmt = (
            select(Domain)
            .where(Domain.removed_at.is_(None), Domain.claim == ClaimState.VERIFIED.value)
            .order_by(Domain.id)
        )
        domains = list(ctx.session.scalars(ctx.scoped(stmt, Domain.tenant_id)))
    else:
        domains = [find_domain(ctx, u) for u in urls]
        for domain in domains:
            require_verified(domain, "install a certificate on")
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
        held = domain.claim != ClaimState.VERIFIED.value
        if held and binding.install_state == InstallState.STORED.value:
            binding.install_reason = HELD_REASON
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
                binding_id=binding.id,
                state=InstallState(binding.install_state),
                held=held,
            )
        )
    return work


@dataclass(frozen=True, slots=True)
class InstallRecord:
    request_id: int | None
    tenant_emails: tuple[str, ...]
    tenant: str


@dataclass(frozen=True, slots=True)
class BindingState:
    """The install state of one domain's certificate, as recorded."""

    url: str
    state: InstallState
    reason: str | None
    attempts: int
    next_try_at: datetime | None
    alert: bool = False  # this failure is the one the operators are to be told of


@dataclass(frozen=True, slots=True)
class Recorded:
    requests: list[InstallRecord]
    states: dict[str, BindingState]  # by URL

    @property
    def alerts(self) -> list[BindingState]:
        return [s for s in self.states.values() if s.alert]


def begin_install(ctx: Ctx, *, work: Sequence[InstallWork]) -> None:
    """The deploy of these bindings begins: they are ``installing`` until it is recorded."""
    for binding in _bindings(ctx, work):
        binding.install_state = InstallState.INSTALLING.value
        binding.install_next_at = ctx.now + STALE_INSTALLING


def _bindings(ctx: Ctx, work: Sequence[InstallWork]) -> list[Binding]:
    """The bindings of ``work`` that are still current (a newer one may have replaced one)."""
    ids = [w.binding_id for w in work if w.binding_id]
    if not ids:
        return []
    return list(
        ctx.session.scalars(
            select(Binding)
            .where(Binding.id.in_(ids), Binding.unbound_at.is_(None))
            .order_by(Binding.id)
            .with_for_update()
        )
    )


def plain_failure(request_id: int | None) -> str:
    """What a reseller reads of an install that failed: a plain sentence and the request to
    quote. The terminator's own words (nginx's ``-t`` output names the server's files) are
    for the platform's operators: the binding's reason (shown to operators), the command
    line and the server's log keep them."""
    reference = f" (reference: request #{request_id})" if request_id is not None else ""
    return (
        "installing it on the platform did not succeed; the platform's "
        f"operators have the details{reference}"
    )


def record_install(
    ctx: Ctx,
    *,
    target: str,
    work: Sequence[InstallWork],
    ok: bool,
    message: str,
    installed: bool = False,
) -> Recorded:
    """Write the outcome of one install: each binding's state, each request completed or
    left open with why, the audit.

    ``installed``: the install failed, but the target still holds these very
    certificates (it changed nothing, or what it changed was put back). A binding proven
    before stays ``installed`` then and a request completed before stays completed —
    the certificate is where it was — and only the audit tells of the attempt.
    """
    urls = {w.binding_id: w.url for w in work}
    states: dict[str, BindingState] = {}
    for binding in _bindings(ctx, work):
        states[urls[binding.id]] = _record_state(
            ctx, binding, urls[binding.id], ok=ok, message=message, installed=installed
        )
    settled: list[Installed] = []  # platform-managed domains' states move in this transaction
    for w in work:
        state = states.get(w.url)
        if state is None:
            continue
        in_place = state.state is InstallState.INSTALLED
        how = message if ok else plain_failure(w.request_id)
        if state.next_try_at is not None:
            how += f"; next try at {iso_utc(state.next_try_at)}"
        if in_place and not ok:
            how = "installed on the platform"
        settled.append(Installed(w.domain_id, w.sha256, in_place, how))
    settle_installs(ctx, settled)
    out: list[InstallRecord] = []
    for request_id in sorted({w.request_id for w in work if w.request_id is not None}):
        request = ctx.session.get(Request, request_id)
        if request is None:
            continue
        if ok:
            advance(ctx, request, RequestStatus.COMPLETED, message)
        elif not (installed and request.status == RequestStatus.COMPLETED):
            # The request's timeline is the tenant's to read: no server paths in it.
            advance(ctx, request, RequestStatus.PROCESSING, plain_failure(request_id))
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
            # The tenant reads its audit log: a failure's own words stay with the operators.
            message=message if ok else plain_failure(None),
            urls=[w.url for w in work if w.tenant_id == tenant_id],
            certificates=sorted({w.sha256 for w in work if w.tenant_id == tenant_id}),
        )
    return Recorded(out, states)


def _record_state(
    ctx: Ctx, binding: Binding, url: str, *, ok: bool, message: str, installed: bool
) -> BindingState:
    if ok or (installed and binding.installed_at is not None):
        binding.install_state = InstallState.INSTALLED.value
        binding.install_next_at = None
        if ok:
            _expiry_of(ctx, binding)
            binding.installed_at = ctx.now
            binding.install_reason = None
            binding.install_attempts = 0
            binding.install_alerted = False
        return BindingState(url, InstallState.INSTALLED, binding.install_reason, 0, None)
    binding.install_state = InstallState.FAILED.value
    binding.install_reason = message
    _expiry_of_what_is_installed(ctx, binding)
    binding.install_attempts += 1
    binding.install_next_at = ctx.now + retry_delay(binding.install_attempts)
    alert = binding.install_attempts >= ALERT_AFTER and not binding.install_alerted
    if alert:
        binding.install_alerted = True
    return BindingState(
        url,
        InstallState.FAILED,
        message,
        binding.install_attempts,
        binding.install_next_at,
        alert=alert,
    )


def proven_by_probe(ctx: Ctx, *, domain_id: int, sha256: str) -> bool:
    """A handshake showed ``sha256`` served on the domain: if that is the certificate
    bound to it, that binding is ``installed`` (however it got there: by hand, or an
    install that failed before). Whether it changed anything."""
    binding = ctx.session.scalars(
        select(Binding)
        .join(CertificateRecord, CertificateRecord.id == Binding.certificate_id)
        .where(
            Binding.domain_id == domain_id,
            Binding.unbound_at.is_(None),
            Binding.install_state != InstallState.INSTALLED.value,
            CertificateRecord.sha256 == sha256,
        )
    ).one_or_none()
    if binding is None:
        return False
    binding.install_state = InstallState.INSTALLED.value
    binding.installed_at = ctx.now
    binding.install_reason = None
    binding.install_attempts = 0
    binding.install_next_at = None
    binding.install_alerted = False
    return True


def _expiry_of(ctx: Ctx, installed: Binding) -> None:
    """Installed: unless a handshake has told what the domain serves, the expiry that
    counts is this certificate's (again, after a failure had put the previous one back)."""
    domain = ctx.session.get(Domain, installed.domain_id)
    cert = ctx.session.get(CertificateRecord, installed.certificate_id)
    if domain is not None and cert is not None and domain.expiry_source != "served":
        domain.expires_at = cert.not_after
        domain.expiry_source = "installed"


def _expiry_of_what_is_installed(ctx: Ctx, failed: Binding) -> None:
    """A certificate that failed to install does not count as live: unless a handshake
    has told what the domain serves, its expiry is again that of the certificate
    certdesk last installed there (a renewal whose deploy failed: the old one)."""
    domain = ctx.session.get(Domain, failed.domain_id)
    if domain is None or domain.expiry_source == "served":
        return
    before = ctx.session.scalars(
        select(CertificateRecord.not_after)
        .join(Binding, Binding.certificate_id == CertificateRecord.id)
        .where(
            Binding.domain_id == domain.id,
            Binding.id != failed.id,
            Binding.installed_at.is_not(None),
        )
        .order_by(Binding.installed_at.desc(), Binding.id.desc())
        .limit(1)
    ).one_or_none()
    if before is not None:
        domain.expires_at = before


def due_retries(ctx: Ctx, *, now: datetime) -> list[str]:
    """The URLs whose failed install is due to be tried again, whose install was left
    ``installing`` by a process that stopped, or whose install waited for the domain's
    ownership to be verified (``stored`` with a next try; operators: all tenants)."""
    stmt = (
        select(Domain.url)
        .join(Binding, Binding.domain_id == Domain.id)
        .where(
            Binding.unbound_at.is_(None),
            Binding.install_state.in_(
                [
                    InstallState.FAILED.value,
                    InstallState.INSTALLING.value,
                    InstallState.STORED.value,
                ]
            ),
            Binding.install_next_at <= now,
            Domain.removed_at.is_(None),
            Domain.claim == ClaimState.VERIFIED.value,
        )
        .order_by(Binding.install_next_at, Domain.url)
    )
    return list(ctx.session.scalars(ctx.scoped(stmt, Domain.tenant_id)))


def install_state(ctx: Ctx, *, url: str) -> BindingState | None:
    """The install state of the certificate bound to ``url`` (None: none is bound)."""
    domain = find_domain(ctx, url)
    binding = ctx.session.scalars(
        select(Binding).where(Binding.domain_id == domain.id, Binding.unbound_at.is_(None))
    ).one_or_none()
    if binding is None:
        return None
    return BindingState(
        domain.url,
        InstallState(binding.install_state),
        binding.install_reason,
        binding.install_attempts,
        binding.install_next_at,
    )


def set_deploy_target(ctx: Ctx, *, url: str, target: str | None) -> str | None:
    """Choose the deploy target of one domain (operators; None: back to the default)."""
    if not ctx.actor.is_operator:
        raise Forbidden("choosing a domain's deploy target is for the platform's operators")
    domain = find_domain(ctx, url)
    domain.deploy_target = target
    ctx.audit(
        "domain.change", "domain", domain.id, domain.tenant_id, url=domain.url, deploy_target=target
    )
    return target
