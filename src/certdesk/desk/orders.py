"""Flows 2–4: a CSR certdesk makes, the signed certificate's return, and renewal.

The private key is made here and never leaves certdesk (it is sealed by the vault);
the customer gets the ``.csr``. When the signed certificate comes back — PEM or DER,
leaf alone or with its chain, or ``.p7b`` — certdesk finds the waiting order by the
certificate's public key, so the user need not say which order it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from certdesk.desk.context import (
    Conflict,
    Ctx,
    Duplicate,
    NotFound,
    Refused,
    Stages,
    reads,
    staged,
    tenant_by_name,
)
from certdesk.desk.domains import (
    claim_check,
    current_certificates,
    ensure_domain,
    find_domain,
)
from certdesk.desk.intermediates import known_intermediates
from certdesk.desk.reading import CheckSpec, certificates_of, check_spec, der_of
from certdesk.desk.records import (
    advance,
    bind,
    chain_of,
    finish_intake,
    open_request,
    seal_key,
    store_certificate,
)
from certdesk.desk.statuses import OrderStatus, RequestStatus
from certdesk.errors import (
    CertdeskError,
    InputError,
    InvalidArgument,
    NoCertificate,
    UnsupportedFormat,
    WrongPassword,
    about,
)
from certdesk.fixes import Action, fix
from certdesk.pki import (
    Bundle,
    DomainUrl,
    Finding,
    Severity,
    check_bundle,
    load_bundle,
    spki_sha256,
)
from certdesk.pki.csr import (
    KeyKind,
    Subject,
    build_csr,
    csr_names,
    csr_pem,
    generate_key,
    subject_of,
)
from certdesk.pki.names import pattern_matches
from certdesk.store.models import (
    Binding,
    CertificateRecord,
    CsrOrder,
    Domain,
    PrivateKeyRecord,
    Request,
    Tenant,
)


@dataclass(frozen=True, slots=True)
class OrderView:
    id: int
    tenant: str
    common_name: str
    sans: tuple[str, ...]
    urls: tuple[str, ...]
    key_kind: str
    status: str
    csr_pem: str
    created_at: datetime
    renewal_of: str | None  # SHA-256 of the certificate it renews
    certificate: str | None  # SHA-256 of the certificate that fulfilled it


def order_csr(
    ctx: Ctx,
    *,
    tenant: str,
    subject: Subject,
    sans: Sequence[str] = (),
    urls: Sequence[str] = (),
    key_kind: str = KeyKind.RSA2048,
    renewal_of: CertificateRecord | None = None,
) -> OrderView:
    """Make a key and a CSR for ``subject``; the order waits for the signed certificate."""
    owner = tenant_by_name(ctx, tenant)
    kind = _key_kind(key_kind)
    with about("urls"):
        parsed = [DomainUrl.parse(u) for u in urls]
        for url in parsed:  # refused now, as intake does, not when the certificate comes back
            claim_check(ctx, owner, url)
    new_key = generate_key(kind)
    csr = build_csr(subject, new_key, sans, ctx.policy.is_public_suffix)
    names = csr_names(subject_of(csr), sans)
    uncovered = [
        u.url
        for u in parsed
        if not any(pattern_matches(n, u.hostname, ctx.policy.is_public_suffix) for n in names)
    ]
    if uncovered:
        raise InvalidArgument(
            "the request's names do not cover " + ", ".join(uncovered),
            fix=fix(Action.ADD_NAMES, field="urls", hosts=" ".join(uncovered)),
        )
    sealed = seal_key(ctx, owner.id, new_key)
    request = open_request(
        ctx,
        owner.id,
        "renew" if renewal_of is not None else "csr",
        f"CSR for {names[0]}" + (f" (renewal of {renewal_of.sha256[:16]}…)" if renewal_of else ""),
    )
    advance(
        ctx,
        request,
        RequestStatus.PROCESSING,
        "CSR made; waiting for the certificate authority's signed certificate",
    )
    order = CsrOrder(
        tenant_id=owner.id,
        common_name=names[0],
        subject=subject_of(csr).fields(),
        sans=list(names),
        urls=[u.url for u in parsed],
        key_kind=kind.value,
        private_key_id=sealed.id,
        spki_sha256=sealed.spki_sha256,
        csr_pem=csr_pem(csr).decode("ascii"),
        status=OrderStatus.PENDING,
        renewal_of_id=renewal_of.id if renewal_of is not None else None,
        request_id=request.id,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.session.add(order)
    ctx.session.flush()
    ctx.audit(
        "csr.order",
        "csr_order",
        order.id,
        owner.id,
        common_name=names[0],
        sans=list(names),
        urls=order.urls,
        key=kind.value,
        renewal_of=renewal_of.sha256 if renewal_of else None,
    )
    return _view(ctx, order)


def _key_kind(value: str) -> KeyKind:
    try:
        return KeyKind(value)
    except ValueError:
        raise InvalidArgument(
            f"unknown key type {value!r}",
            hint="choose one of " + ", ".join(k.value for k in KeyKind),
            field="key_kind",
        ) from None


@reads
def list_orders(
    ctx: Ctx, *, tenant: str | None = None, status: OrderStatus | None = None
) -> list[OrderView]:
    stmt = select(CsrOrder).order_by(CsrOrder.id)
    if tenant is not None:
        stmt = stmt.where(CsrOrder.tenant_id == tenant_by_name(ctx, tenant).id)
    if status is not None:
        stmt = stmt.where(CsrOrder.status == status)
    return [_view(ctx, o) for o in ctx.session.scalars(ctx.scoped(stmt, CsrOrder.tenant_id))]


def get_order(ctx: Ctx, order_id: int) -> CsrOrder:
    order = ctx.session.get(CsrOrder, order_id)
    if order is None or not ctx.visible(order.tenant_id):
        raise NotFound(f"no CSR order {order_id}", fix=fix(Action.LIST_ORDERS))
    return order


@reads
def show_order(ctx: Ctx, *, order_id: int) -> OrderView:
    return _view(ctx, get_order(ctx, order_id))


def cancel_order(ctx: Ctx, *, order_id: int) -> OrderView:
    order = get_order(ctx, order_id)
    if order.status != OrderStatus.PENDING:
        raise Conflict(f"CSR order {order_id} is {order.status}, not pending")
    order.status = OrderStatus.CANCELLED
    order.updated_at = ctx.now
    if order.request_id is not None:
        request = ctx.session.get(Request, order.request_id)
        if request is not None:
            advance(ctx, request, RequestStatus.REJECTED, f"cancelled by {ctx.actor.name}")
    ctx.audit("csr.cancel", "csr_order", order.id, order.tenant_id)
    return _view(ctx, order)


@dataclass(frozen=True, slots=True)
class CompleteResult:
    sha256: str
    order_id: int
    urls: tuple[str, ...]
    not_after: datetime
    replaced: tuple[str, ...]  # SHA-256 of certificates this one replaced on those URLs
    findings: tuple[Finding, ...]
    request_id: int | None = None


@dataclass(frozen=True, slots=True)
class SignedFile:
    """What the reader found in a signed certificate's file: its certificates (DER, in file
    order), the SHA-256 of each one's public key, and the file's format."""

    certificates: tuple[bytes, ...]
    spkis: tuple[str, ...]
    format: str


@dataclass(frozen=True, slots=True)
class CompletionPlan:
    """The order the file's certificate completes, and what to check it against."""

    order_id: int
    certificates: tuple[bytes, ...]  # the leaf first, then the file's others and known ones
    format: str
    wildcards: tuple[str, ...]  # wildcard names of the order, which the leaf must carry
    check: CheckSpec


@dataclass(frozen=True, slots=True)
class ChainReading:
    chain: tuple[bytes, ...]  # leaf → root, as checked
    dns_names: tuple[str, ...]
    findings: tuple[Finding, ...]


@staged
def complete_order(
    stages: Stages, *, data: bytes, then: Callable[[Ctx, CompleteResult], object] | None = None
) -> CompleteResult:
    """Take the signed certificate back and pair it with its waiting order by public key.

    ``then`` runs in the very transaction that stores it (a platform-managed domain's state
    moves with its certificate, never a moment after)."""
    with about("file", InputError):
        found = stages.read(
            read_signed,
            (data, stages.policy.max_upload_bytes, stages.policy.max_pkcs12_iterations),
        )
    plan = stages.look(plan_completion, found=found)
    with about("file", InputError):
        reading = stages.read(check_signed, plan)
    missing = [n for n in plan.wildcards if n not in {d.lower() for d in reading.dns_names}]
    findings = list(reading.findings) + [
        Finding(
            "name-mismatch",
            Severity.ERROR,
            f"the certificate does not include the wildcard {n} that was requested",
            "ask the certificate authority to issue it with every name of the CSR",
            host=n,
        )
        for n in missing
    ]
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if errors:
        raise Refused(
            f"the signed certificate cannot be accepted: {len(errors)} problem(s)",
            findings,
            hint="fix every error listed and send the certificate again",
            field="file",
        )
    if then is None:
        return stages.write(store_completion, plan=plan, chain=reading.chain, findings=findings)

    def store_then(ctx: Ctx) -> CompleteResult:
        result = store_completion(ctx, plan=plan, chain=reading.chain, findings=findings)
        then(ctx, result)
        return result

    return stages.write(store_then)


def read_signed(job: tuple[bytes, int, int]) -> SignedFile:
    """Load the signed certificate's file (pure; see ``reading``): certificates only."""
    data, max_bytes, max_iterations = job
    try:
        bundle = load_bundle(data, None, max_bytes=max_bytes, max_iterations=max_iterations)
    except WrongPassword as exc:  # a .pfx or an encrypted key: either way, a private key
        raise UnsupportedFormat(
            "this file is protected by a password, so it holds a private key; for a CSR "
            "certdesk made, send only the signed certificate (.crt, .pem, .cer or .p7b)",
            fix=fix(Action.SUBMIT_PFX),
        ) from exc
    if bundle.format == "pkcs12" or bundle.private_key is not None:
        raise UnsupportedFormat(
            "this file holds a private key; for a CSR certdesk made, send only the signed "
            "certificate (.crt, .pem, .cer or .p7b)",
            fix=fix(Action.SUBMIT_PFX),
        )
    if not bundle.certificates:
        raise NoCertificate("the file holds no certificate")
    return SignedFile(
        certificates=der_of(bundle.certificates),
        spkis=tuple(spki_sha256(c.public_key()) for c in bundle.certificates),
        format=bundle.format,
    )


def plan_completion(ctx: Ctx, *, found: SignedFile) -> CompletionPlan:
    """Find the waiting order (the actor's to see) and the chain to check, read-only."""
    order, leaf = _match_order(ctx, found)
    # The order was found by this certificate's public key, so its sealed key matches:
    # the vault need not open it to prove that again.
    certs = (leaf, *[c for c in found.certificates if c != leaf])
    known = known_intermediates(ctx, certificates=certificates_of(certs))
    return CompletionPlan(
        order_id=order.id,
        certificates=certs,
        format=found.format,
        wildcards=tuple(n for n in order.sans if n.startswith("*.")),
        check=check_spec(
            ctx,
            hosts=[n for n in order.sans if not n.startswith("*.")],
            intermediates=der_of(known),
        ),
    )


def check_signed(plan: CompletionPlan) -> ChainReading:
    """Every check of the chain against the order's names (pure; see ``reading``)."""
    bundle = Bundle(
        certificates=certificates_of(plan.certificates), private_key=None, format=plan.format
    )
    report = check_bundle(bundle, plan.check.options())
    return ChainReading(
        chain=der_of(report.ordered_chain()),
        dns_names=tuple(report.leaf.dns_names),
        findings=report.findings,
    )


def store_completion(
    ctx: Ctx, *, plan: CompletionPlan, chain: tuple[bytes, ...], findings: Sequence[Finding]
) -> CompleteResult:
    """Store the checked certificate and fulfil its order: the one step under the write
    lock. The order is taken again here: another completion may have fulfilled it since."""
    order = get_order(ctx, plan.order_id)
    if order.status != OrderStatus.PENDING:
        raise _not_pending([order])
    owner = ctx.session.get(Tenant, order.tenant_id)
    assert owner is not None
    certs = certificates_of(chain)
    key_record = ctx.session.get(PrivateKeyRecord, order.private_key_id)
    cert = store_certificate(ctx, owner.id, certs, source="csr", key=key_record)
    domains = [ensure_domain(ctx, owner, u) for u in order.urls]
    if order.renewal_of_id is not None:
        old = ctx.session.get(CertificateRecord, order.renewal_of_id)
        if old is not None:
            # A renewal replaces the old certificate wherever it is still in use.
            for domain in ctx.session.scalars(
                select(Domain)
                .join(Binding, Binding.domain_id == Domain.id)
                .where(Binding.certificate_id == old.id, Binding.unbound_at.is_(None))
            ):
                if domain not in domains:
                    domains.append(domain)
    before = current_certificates(ctx, [d.id for d in domains])
    request = ctx.session.get(Request, order.request_id) if order.request_id else None
    bind(ctx, cert, domains, request)
    order.status = OrderStatus.FULFILLED
    order.certificate_id = cert.id
    order.updated_at = ctx.now
    if request is not None:
        finish_intake(ctx, request, domains, "signed certificate received and stored")
    replaced = tuple(sorted({c.sha256 for c in before.values() if c.id != cert.id}))
    ctx.audit(
        "csr.complete",
        "certificate",
        cert.sha256,
        owner.id,
        order=order.id,
        urls=[d.url for d in domains],
        replaced=list(replaced),
    )
    return CompleteResult(
        cert.sha256,
        order.id,
        tuple(d.url for d in domains),
        certs[0].not_valid_after_utc,
        replaced,
        tuple(findings),
        request.id if request is not None else None,
    )


def _match_order(ctx: Ctx, found: SignedFile) -> tuple[CsrOrder, bytes]:
    by_spki = dict(zip(found.spkis, found.certificates, strict=True))
    orders = ctx.session.scalars(
        ctx.scoped(
            select(CsrOrder).where(CsrOrder.spki_sha256.in_(list(by_spki))), CsrOrder.tenant_id
        )
    ).all()
    pending = [o for o in orders if o.status == OrderStatus.PENDING]
    if pending:
        order = pending[0]
        return order, by_spki[order.spki_sha256]
    raise _not_pending(orders)


def _not_pending(orders: Sequence[CsrOrder]) -> CertdeskError:
    """Why a certificate whose key matches ``orders``, none pending, is refused."""
    if any(o.status == OrderStatus.FULFILLED for o in orders):
        return Duplicate(
            "this certificate's order was fulfilled already",
            fix=fix(Action.LIST_ORDERS),
        )
    if any(o.status == OrderStatus.CANCELLED for o in orders):
        return Conflict(
            "this certificate belongs to a CSR order that was cancelled",
            fix=fix(Action.NEW_ORDER),
        )
    return Refused(
        "the certificate's public key matches no waiting CSR order",
        [
            Finding(
                "no-matching-order",
                Severity.ERROR,
                "no CSR made by certdesk (for your account) has this certificate's key",
                "send the certificate issued for the CSR certdesk made; a certificate with "
                "its own key is submitted as a .pfx together with that key",
            )
        ],
    )


def renew(ctx: Ctx, *, url: str, key_kind: str | None = None) -> OrderView:
    """A new CSR order pre-filled from the certificate now on ``url`` (a new key)."""
    domain = find_domain(ctx, url)
    current = current_certificates(ctx, [domain.id]).get(domain.id)
    if current is None:
        raise NotFound(
            f"no certificate is installed on {domain.url}",
            fix=fix(Action.NEW_ORDER),
        )
    owner = ctx.session.get(Tenant, domain.tenant_id)
    assert owner is not None
    leaf = chain_of(current)[0]
    subject = subject_of(leaf)
    if not subject.common_name:
        subject = Subject(
            common_name=current.dns_names[0] if current.dns_names else "",
            organization=subject.organization,
            unit=subject.unit,
            locality=subject.locality,
            state=subject.state,
            country=subject.country,
        )
    urls = [
        d.url
        for d in ctx.session.scalars(
            select(Domain)
            .join(Binding, Binding.domain_id == Domain.id)
            .where(Binding.certificate_id == current.id, Binding.unbound_at.is_(None))
        )
    ]
    kind = key_kind or _kind_of(current)
    return order_csr(
        ctx,
        tenant=owner.name,
        subject=subject,
        sans=[n for n in current.dns_names if n != subject.common_name],
        urls=urls,
        key_kind=kind,
        renewal_of=current,
    )


def _kind_of(cert: CertificateRecord) -> str:
    if cert.key_type == "EC":
        return KeyKind.P384 if cert.key_size >= 384 else KeyKind.P256
    return {3072: KeyKind.RSA3072, 4096: KeyKind.RSA4096}.get(cert.key_size, KeyKind.RSA2048)


def _view(ctx: Ctx, order: CsrOrder) -> OrderView:
    tenant = ctx.session.get(Tenant, order.tenant_id)
    renewal = (
        ctx.session.get(CertificateRecord, order.renewal_of_id) if order.renewal_of_id else None
    )
    cert = (
        ctx.session.get(CertificateRecord, order.certificate_id) if order.certificate_id else None
    )
    return OrderView(
        id=order.id,
        tenant=tenant.name if tenant else "?",
        common_name=order.common_name,
        sans=tuple(order.sans),
        urls=tuple(order.urls),
        key_kind=order.key_kind,
        status=order.status,
        csr_pem=order.csr_pem,
        created_at=order.created_at,
        renewal_of=renewal.sha256 if renewal else None,
        certificate=cert.sha256 if cert else None,
    )
