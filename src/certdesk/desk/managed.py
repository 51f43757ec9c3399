"""Platform-managed certificates: a domain's certificate is the customer's (``customer``,
the intake flows) or certdesk's own over ACME (``acme``), and where the latter stands.

A managed domain has one :class:`~certdesk.store.acme.ManagedCertificate` row: its state
(``waiting-for-dns``, ``ordering``, ``issued``, ``renewing``, ``failed``), what the
reseller is told, the CA's problem document of the last failure, and when the engine looks
at it again. One order runs per domain at a time: :func:`take_unit` leases the row with a
conditional update, so of several replicas exactly one gets it. The ACME conversation
itself runs outside any transaction (``certdesk.application.managed``); these functions
are its short steps in the database.

The state moves with what it names: an issued certificate is recorded on the row in the
transaction that stores it (:func:`record_taken_in`), and the row becomes ``issued`` in
the transaction that records its install (:func:`settle_installs`, called by
``desk.installs.record_install``), so the state never says ``ordering`` of a certificate
already served, nor ``issued`` of one still being installed. Renewal falls due at two
thirds of the lifetime, or at the time chosen in the CA's renewal window (RFC 9773) when
the CA offers renewal information (:func:`record_renewal_info`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from certdesk.desk.claims import ClaimState, require_verified
from certdesk.desk.context import Conflict, Ctx, NotFound, reads, tenant_by_name
from certdesk.desk.domains import current_certificates, find_domain
from certdesk.desk.modes import ManagedState, managed_row
from certdesk.desk.orders import order_csr
from certdesk.desk.records import open_key, seal_key
from certdesk.desk.statuses import OrderStatus
from certdesk.pki import PrivateKey
from certdesk.pki.csr import KeyKind, Subject, generate_key
from certdesk.store.acme import AcmeAccount, ManagedCertificate
from certdesk.store.models import CertificateRecord, CsrOrder, Domain, PrivateKeyRecord, Tenant

LEASE = timedelta(minutes=10)  # an order that takes longer is taken over by another replica
DNS_BACKOFF = (timedelta(minutes=1), timedelta(hours=1))  # first wait, longest wait
FAILURE_BACKOFF = (timedelta(minutes=5), timedelta(hours=24))
RATE_LIMITED_WAIT = timedelta(hours=1)  # when the CA says rateLimited without Retry-After


@dataclass(frozen=True, slots=True)
class ManagedView:
    url: str
    tenant: str
    state: str
    message: str
    problem: dict[str, Any] | None
    attempts: int
    next_try_at: datetime | None
    renew_at: datetime | None
    certificate_sha256: str | None
    renewal_info_at: datetime | None = None  # when the CA's renewal information is asked


def _view(ctx: Ctx, domain: Domain, row: ManagedCertificate) -> ManagedView:
    tenant = ctx.session.get(Tenant, domain.tenant_id)
    cert = ctx.session.get(CertificateRecord, row.certificate_id) if row.certificate_id else None
    return ManagedView(
        url=domain.url,
        tenant=tenant.name if tenant else "?",
        state=row.state,
        message=row.message,
        problem=row.problem,
        attempts=row.attempts,
        next_try_at=row.next_try_at,
        renew_at=row.renew_at,
        certificate_sha256=cert.sha256 if cert else None,
        renewal_info_at=row.ari_check_at,
    )


def _managed(ctx: Ctx, url: str) -> tuple[Domain, ManagedCertificate]:
    domain = find_domain(ctx, url)
    row = managed_row(ctx, domain.id)
    if row is None:
        raise NotFound(
            f"{domain.url} is not platform-managed: its certificate is the customer's",
            hint="change the domain's certificate mode to acme first",
        )
    return domain, row


@reads
def managed_status(ctx: Ctx, *, url: str) -> ManagedView:
    """Where the managed certificate of one of the actor's domains stands."""
    domain, row = _managed(ctx, url)
    return _view(ctx, domain, row)


@reads
def managed_state(ctx: Ctx, *, url: str) -> ManagedView | None:
    """Where one of the actor's domains' managed certificate stands; None: the customer's."""
    domain = find_domain(ctx, url)
    row = managed_row(ctx, domain.id)
    return _view(ctx, domain, row) if row is not None else None


@reads
def list_managed(ctx: Ctx, *, tenant: str | None = None) -> list[ManagedView]:
    """The actor's managed domains, by URL."""
    stmt = (
        select(Domain, ManagedCertificate)
        .join(ManagedCertificate, ManagedCertificate.domain_id == Domain.id)
        .where(Domain.removed_at.is_(None))
        .order_by(Domain.url)
    )
    if tenant is not None:
        stmt = stmt.where(Domain.tenant_id == tenant_by_name(ctx, tenant).id)
    rows = ctx.session.execute(ctx.scoped(stmt, Domain.tenant_id)).all()
    return [_view(ctx, domain, row) for domain, row in rows]


# --- the engine's steps ---------------------------------------------------------------


@reads
def due_units(ctx: Ctx) -> list[str]:
    """The URLs of managed domains due now: to check DNS for, to order, to renew (at
    ``renew_at``), or to ask the CA's renewal information for (at ``ari_check_at``), and
    not leased by an order running elsewhere."""
    stmt = (
        select(Domain.url)
        .join(ManagedCertificate, ManagedCertificate.domain_id == Domain.id)
        .where(
            Domain.removed_at.is_(None),
            # A pending ownership claim is ordered nothing until it is verified.
            Domain.claim == ClaimState.VERIFIED.value,
            or_(ManagedCertificate.busy_until.is_(None), ManagedCertificate.busy_until <= ctx.now),
            or_(
                ManagedCertificate.next_try_at <= ctx.now,
                ManagedCertificate.renew_at <= ctx.now,
                ManagedCertificate.ari_check_at <= ctx.now,
            ),
        )
        .order_by(ManagedCertificate.next_try_at, Domain.url)
    )
    return list(ctx.session.scalars(ctx.scoped(stmt, Domain.tenant_id)))


@dataclass(frozen=True, slots=True)
class Unit:
    """A managed domain leased for one order: what the ACME steps need, in plain values."""

    domain_id: int
    url: str
    hostname: str
    tenant: str
    tenant_id: int
    renewing: bool
    csr_order_id: int | None  # a pending CSR order an earlier attempt made: its CSR is reused
    csr_pem: str | None
    certificate_id: int | None
    order_due: bool = True  # False: only the CA's renewal information is to be asked
    leaf_pem: str | None = None  # the certificate issued before (for renewal information)


def take_unit(ctx: Ctx, *, url: str, force: bool = False) -> Unit | None:
    """Lease ``url``'s managed domain for one order, if it is due (or ``force``) and no
    order runs for it; None when it is not due or another replica has it."""
    domain, row = _managed(ctx, url)
    if domain.claim != ClaimState.VERIFIED.value:
        if force:
            require_verified(domain, "order a certificate for")
        return None
    now = ctx.now
    due = (row.next_try_at is not None and row.next_try_at <= now) or (
        row.renew_at is not None and row.renew_at <= now
    )
    ask_ari = row.ari_check_at is not None and row.ari_check_at <= now
    if not (due or ask_ari or force):
        return None
    taken = ctx.session.execute(
        update(ManagedCertificate)
        .where(
            ManagedCertificate.id == row.id,
            or_(ManagedCertificate.busy_until.is_(None), ManagedCertificate.busy_until <= now),
        )
        .values(busy_until=now + LEASE, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        if force:
            raise Conflict(
                f"an order for {domain.url} is running already",
                hint="wait for it to finish; its state shows how it went",
            )
        return None
    ctx.session.refresh(row)
    current = current_certificates(ctx, [domain.id]).get(domain.id)
    order = ctx.session.get(CsrOrder, row.csr_order_id) if row.csr_order_id else None
    pending = order is not None and order.status == OrderStatus.PENDING
    tenant = ctx.session.get(Tenant, domain.tenant_id)
    assert tenant is not None
    issued = ctx.session.get(CertificateRecord, row.certificate_id) if row.certificate_id else None
    return Unit(
        domain_id=domain.id,
        url=domain.url,
        hostname=domain.hostname,
        tenant=tenant.name,
        tenant_id=tenant.id,
        renewing=current is not None,
        csr_order_id=order.id if order is not None and pending else None,
        csr_pem=order.csr_pem if order is not None and pending else None,
        certificate_id=current.id if current is not None else None,
        order_due=due or force,
        leaf_pem=_leaf_pem(issued) if issued is not None else None,
    )


def _leaf_pem(cert: CertificateRecord) -> str:
    return cert.chain_pem.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"


def _held(ctx: Ctx, domain_id: int) -> ManagedCertificate | None:
    """The row, if still managed (it may have been changed back to ``customer`` meanwhile)."""
    return managed_row(ctx, domain_id)


def _backoff(attempts: int, limits: tuple[timedelta, timedelta]) -> timedelta:
    first, longest = limits
    wait: timedelta = first * (2 ** max(attempts - 1, 0))
    return min(wait, longest)


def record_waiting(ctx: Ctx, *, domain_id: int, message: str) -> None:
    """The domain does not point at the platform yet: say what to set, look again later."""
    row = _held(ctx, domain_id)
    if row is None:
        return
    row.attempts += 1
    row.state = ManagedState.WAITING_FOR_DNS.value
    row.message = message
    row.next_try_at = ctx.now + _backoff(row.attempts, DNS_BACKOFF)
    row.renew_at = None  # a renewal waits too: the next try decides, not the old date
    row.ari_check_at = None
    row.busy_until = None
    row.updated_at = ctx.now


def record_ordering(ctx: Ctx, *, domain_id: int, renewing: bool, csr_order_id: int) -> None:
    row = _held(ctx, domain_id)
    if row is None:
        return
    row.state = (ManagedState.RENEWING if renewing else ManagedState.ORDERING).value
    row.message = (
        "renewing: the certificate authority is checking the domain"
        if renewing
        else "ordering: the certificate authority is checking the domain"
    )
    row.csr_order_id = csr_order_id
    row.ari_check_at = None
    row.updated_at = ctx.now


def start_order(ctx: Ctx, *, unit: Unit, key_kind: str) -> str:
    """The CSR (PEM) to order with: the one an earlier attempt made, if its order still
    waits, else a new CSR order of the desk (key made and sealed here; for a renewal,
    the renewal of the certificate on the domain now)."""
    csr_pem, order_id = unit.csr_pem, unit.csr_order_id
    if csr_pem is None or order_id is None:
        old = (
            ctx.session.get(CertificateRecord, unit.certificate_id) if unit.certificate_id else None
        )
        view = order_csr(
            ctx,
            tenant=unit.tenant,
            subject=Subject(common_name=unit.hostname),
            urls=[unit.url],
            key_kind=key_kind,
            renewal_of=old,
        )
        csr_pem, order_id = view.csr_pem, view.id
    record_ordering(ctx, domain_id=unit.domain_id, renewing=unit.renewing, csr_order_id=order_id)
    return csr_pem


def publish_challenge(ctx: Ctx, *, domain_id: int, token: str, key_authorization: str) -> None:
    """Store the HTTP-01 answer where every replica of ``serve`` finds it."""
    row = _held(ctx, domain_id)
    if row is None:
        return
    row.token = token
    row.key_authorization = key_authorization
    row.updated_at = ctx.now


@reads
def challenge_answer(ctx: Ctx, *, token: str) -> str | None:
    """The key authorisation for ``token`` (HTTP-01), or None. Public by nature: the CA
    fetches it without credentials, as the whole Internet may."""
    stmt = select(ManagedCertificate.key_authorization).where(ManagedCertificate.token == token)
    return ctx.session.scalars(ctx.scoped(stmt, ManagedCertificate.tenant_id)).first()


def issued_text(cert: CertificateRecord) -> str:
    return f"issued by the certificate authority, valid until {cert.not_after:%Y-%m-%d}"


def record_taken_in(
    ctx: Ctx, *, domain_id: int, sha256: str, installing: bool, renewal_info: bool
) -> None:
    """The issued certificate is stored and bound: in that same transaction (``then`` of
    ``complete_order``) the row points at it and renewal falls due at two thirds of its
    lifetime (the CA's renewal information, if ``renewal_info``, is asked at once, and
    may say otherwise). ``installing``: the row stays ``ordering``/``renewing`` until the
    install is recorded (:func:`settle_installs`); else it is ``issued`` now."""
    row = _held(ctx, domain_id)
    if row is None:
        return
    cert = ctx.session.scalars(
        select(CertificateRecord).where(
            CertificateRecord.tenant_id == row.tenant_id, CertificateRecord.sha256 == sha256
        )
    ).one()
    if installing:
        row.message = issued_text(cert) + "; installing it on the platform"
    else:
        row.state = ManagedState.ISSUED.value
        row.message = issued_text(cert)
        row.busy_until = None
    row.problem = None
    row.attempts = 0
    row.certificate_id = cert.id
    row.csr_order_id = None
    row.renew_at = cert.not_before + (cert.not_after - cert.not_before) * 2 / 3
    row.ari_check_at = ctx.now if renewal_info else None
    row.next_try_at = None
    row.token = None
    row.key_authorization = None
    row.updated_at = ctx.now
    ctx.audit("acme.issued", "certificate", sha256, row.tenant_id, domain=domain_id)


def _taken_in(row: ManagedCertificate | None, sha256: str, ctx: Ctx) -> CertificateRecord | None:
    """The row's certificate if it is ``sha256`` and the row waits for (or is past) its
    install: not while a later order runs, nor after a failure."""
    if row is None or row.certificate_id is None or row.csr_order_id is not None:
        return None
    if row.state not in (ManagedState.ORDERING, ManagedState.RENEWING, ManagedState.ISSUED):
        return None
    cert = ctx.session.get(CertificateRecord, row.certificate_id)
    return cert if cert is not None and cert.sha256 == sha256 else None


@dataclass(frozen=True, slots=True)
class Installed:
    """One certificate's install as recorded, for :func:`settle_installs`."""

    domain_id: int
    sha256: str
    in_place: bool  # installed (served); False: the install failed
    how: str  # what the install did, in the reseller's words


def settle_installs(ctx: Ctx, done: Sequence[Installed]) -> None:
    """Installs are being recorded (the same transaction): each managed domain taken in
    and waiting for its install is ``issued`` now, and says whether its certificate is
    served. A later install (the engine's retries) tells the same way. One query for
    all, however many domains the install had."""
    if not done:
        return
    rows = ctx.session.scalars(
        select(ManagedCertificate).where(
            ManagedCertificate.domain_id.in_({i.domain_id for i in done})
        )
    )
    by_domain = {row.domain_id: row for row in rows}
    for item in done:
        row = by_domain.get(item.domain_id)
        cert = _taken_in(row, item.sha256, ctx)
        if row is None or cert is None:
            continue
        how = item.how if item.in_place else "not installed yet: " + item.how
        row.state = ManagedState.ISSUED.value
        row.message = f"{issued_text(cert)}; {how}"
        row.busy_until = None
        row.updated_at = ctx.now


def record_issued(ctx: Ctx, *, domain_id: int, sha256: str) -> None:
    """Issued, and no install recorded it (nothing was installed): ``issued`` now."""
    row = _held(ctx, domain_id)
    cert = _taken_in(row, sha256, ctx)
    if row is None or cert is None or row.state == ManagedState.ISSUED:
        return
    row.state = ManagedState.ISSUED.value
    row.message = issued_text(cert)
    row.busy_until = None
    row.updated_at = ctx.now


def record_renewal_info(
    ctx: Ctx,
    *,
    domain_id: int,
    renew_at: datetime | None,
    next_check: datetime | None,
    error: str | None = None,
) -> bool:
    """What the CA's renewal information said: renew at ``renew_at`` (None: keep the
    time known, two thirds of the lifetime or an earlier answer), ask again at
    ``next_check``. True when renewal is due now."""
    row = _held(ctx, domain_id)
    if row is None:
        return False
    if renew_at is not None:
        row.renew_at = renew_at
    row.ari_check_at = next_check
    due = row.renew_at is not None and row.renew_at <= ctx.now
    if not due:
        row.busy_until = None  # nothing more to do now; due: the lease holds for the order
    row.updated_at = ctx.now
    if error is not None:
        ctx.audit("acme.renewal-info-failed", "domain", domain_id, row.tenant_id, error=error)
    return due


def record_failure(
    ctx: Ctx,
    *,
    domain_id: int,
    message: str,
    problem: dict[str, Any] | None,
    retry_after: datetime | None = None,
) -> None:
    """The order failed: keep the CA's problem, try again later (never sooner than the CA
    asked). A certificate issued before stays installed meanwhile."""
    row = _held(ctx, domain_id)
    if row is None:
        return
    row.attempts += 1
    wait = _backoff(row.attempts, FAILURE_BACKOFF)
    if problem is not None and str(problem.get("type", "")).endswith(":rateLimited"):
        wait = max(wait, RATE_LIMITED_WAIT)
    next_try = ctx.now + wait
    if retry_after is not None and retry_after > next_try:
        next_try = retry_after
    row.state = ManagedState.FAILED.value
    kept = " (the certificate issued before stays installed)" if row.certificate_id else ""
    row.message = message + kept
    row.problem = problem
    row.next_try_at = next_try
    row.renew_at = None
    row.ari_check_at = None
    row.busy_until = None
    row.token = None
    row.key_authorization = None
    row.updated_at = ctx.now
    ctx.audit(
        "acme.failed",
        "domain",
        domain_id,
        row.tenant_id,
        problem=(problem or {}).get("type"),
        next_try=next_try.isoformat(),
    )


# --- the tenant's ACME account ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Account:
    key: PrivateKey
    url: str | None  # None: not registered yet


def account_for(ctx: Ctx, *, tenant_id: int, directory: str) -> Account:
    """The tenant's account at ``directory`` (its key opened from the vault), or a new key
    sealed now for an account still to be registered."""
    account = ctx.session.scalars(
        select(AcmeAccount).where(
            AcmeAccount.tenant_id == tenant_id, AcmeAccount.directory_url == directory
        )
    ).one_or_none()
    if account is not None:
        record = ctx.session.get(PrivateKeyRecord, account.private_key_id)
        assert record is not None
        return Account(open_key(ctx, record), account.account_url)
    return Account(generate_key(KeyKind.P256), None)


def save_account(ctx: Ctx, *, tenant_id: int, directory: str, key: PrivateKey, url: str) -> None:
    """Keep a newly registered account: its key sealed by the vault."""
    exists = ctx.session.scalars(
        select(AcmeAccount.id).where(
            AcmeAccount.tenant_id == tenant_id, AcmeAccount.directory_url == directory
        )
    ).first()
    if exists is not None:
        return  # registered meanwhile by another order of the tenant's
    record = seal_key(ctx, tenant_id, key)
    ctx.session.add(
        AcmeAccount(
            tenant_id=tenant_id,
            directory_url=directory,
            account_url=url,
            private_key_id=record.id,
            created_at=ctx.now,
        )
    )
    ctx.audit("acme.account", "acme_account", url, tenant_id, directory=directory)


@dataclass(frozen=True, slots=True)
class RevokeTarget:
    url: str
    tenant: str
    tenant_id: int
    sha256: str
    leaf_pem: str


@reads
def managed_for_revoke(ctx: Ctx, *, url: str) -> RevokeTarget:
    """The certificate certdesk issued for managed ``url``, to revoke."""
    domain, row = _managed(ctx, url)
    cert = ctx.session.get(CertificateRecord, row.certificate_id) if row.certificate_id else None
    if cert is None:
        raise NotFound(
            f"no certificate has been issued for {domain.url} yet",
            hint="its managed-certificate state says where its order stands",
        )
    tenant = ctx.session.get(Tenant, domain.tenant_id)
    assert tenant is not None
    return RevokeTarget(domain.url, tenant.name, tenant.id, cert.sha256, _leaf_pem(cert))


def record_revoked(ctx: Ctx, *, url: str, sha256: str) -> None:
    """Revoked at the CA: the domain is due at once for a new certificate."""
    domain, row = _managed(ctx, url)
    row.message = "the certificate was revoked; certdesk orders a new one"
    row.next_try_at = ctx.now
    row.renew_at = ctx.now
    row.updated_at = ctx.now
    ctx.audit("acme.revoke", "certificate", sha256, domain.tenant_id, url=domain.url)
