"""Flow 1: a customer's own certificate, as a ``.pfx`` with its password.

As the seed says, only ``.pfx``/``.p12`` is accepted here; anything else is
refused with the hint to convert it. Every check runs against the URLs given;
any error-level finding refuses the submission with every finding at once, and
nothing is stored. The password opens the file and is dropped.

The flow is :func:`~certdesk.desk.context.staged`: the tenant and the URLs are looked up
first (read-only), the file is read and checked outside any transaction by the desk's
reader (:func:`read_pfx`, a pure function over plain values), and only then does one
short write transaction store it, re-checking what the database decides: the tenant,
a duplicate, who owns each URL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from certdesk.desk.context import Ctx, Duplicate, Refused, Stages, staged, tenant_by_name
from certdesk.desk.domains import current_certificates, ensure_domain
from certdesk.desk.intermediates import known_intermediates
from certdesk.desk.reading import (
    CheckSpec,
    certificates_of,
    check_spec,
    der_of,
    key_der,
    key_of,
)
from certdesk.desk.records import (
    advance,
    bind,
    find_certificate,
    finish_intake,
    not_installed,
    open_request,
    seal_key,
    store_certificate,
)
from certdesk.desk.statuses import RequestStatus
from certdesk.errors import (
    InputError,
    InvalidArgument,
    NoCertificate,
    NoPrivateKey,
    UnsupportedFormat,
    WrongPassword,
    about,
)
from certdesk.fixes import Action, fix
from certdesk.pki import (
    CertificateInfo,
    DomainUrl,
    Finding,
    Severity,
    check_bundle,
    describe,
    load_bundle,
)
from certdesk.pki.names import normalise_pattern
from certdesk.store.models import Binding, Request


@dataclass(frozen=True, slots=True)
class SubmitResult:
    sha256: str
    request_id: int
    urls: tuple[str, ...]
    not_after: datetime
    findings: tuple[Finding, ...]  # warnings and notes; errors refuse the submission


@dataclass(frozen=True, slots=True)
class PfxJob:
    """What the reader gets: the file, its password (used once, never shown), the checks."""

    data: bytes = field(repr=False)
    password: bytes | None = field(repr=False)
    max_bytes: int
    max_iterations: int
    check: CheckSpec


@dataclass(frozen=True, slots=True)
class PfxReading:
    """What the reader gives back: the chain leaf → root (DER), the key, every finding."""

    chain: tuple[bytes, ...]
    key: bytes = field(repr=False)  # PKCS#8 DER, unencrypted: sealed by the store step
    findings: tuple[Finding, ...]
    given: tuple[bytes, ...] = ()  # DER: every certificate the file holds

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def incomplete(self) -> bool:
        """No path to a trusted root could be built from what the file holds."""
        return any(f.code == "chain-incomplete" for f in self.errors)


@dataclass(frozen=True, slots=True)
class SubmitPlan:
    tenant: str
    urls: tuple[str, ...]
    check: CheckSpec


@staged
def submit_pfx(
    stages: Stages,
    *,
    tenant: str,
    data: bytes,
    password: bytes | None,
    common_name: str,
    urls: Sequence[str],
    portal: str = "other",
) -> SubmitResult:
    plan = stages.look(plan_submission, tenant=tenant, common_name=common_name, urls=urls)
    job = PfxJob(
        data,
        password,
        stages.policy.max_upload_bytes,
        stages.policy.max_pkcs12_iterations,
        plan.check,
    )
    with about("file", InputError), about("password", WrongPassword):
        reading = stages.read(read_pfx, job)
        if reading.incomplete:
            # A leaf sent without its chain (many customers' .pfx files): complete it from
            # the intermediates certdesk has seen, as browsers do from their cache, and
            # read again.
            known = stages.look(known_intermediates, certificates=certificates_of(reading.given))
            if known:
                check = dataclasses.replace(plan.check, intermediates=der_of(known))
                reading = stages.read(read_pfx, dataclasses.replace(job, check=check))
    del job
    if reading.errors:
        raise Refused(
            f"the certificate cannot be accepted: {len(reading.errors)} problem(s)",
            reading.findings,
            hint="fix every error listed and submit again",
            field="file",
        )
    return stages.write(store_submission, plan=plan, reading=reading, portal=portal)


def plan_submission(ctx: Ctx, *, tenant: str, common_name: str, urls: Sequence[str]) -> SubmitPlan:
    """The tenant (the actor's to see), the URLs and the checks, before the file is read."""
    owner = tenant_by_name(ctx, tenant)
    if not urls:
        raise InvalidArgument("give at least one URL the certificate is for", field="urls")
    with about("urls"):
        parsed = [DomainUrl.parse(u) for u in urls]
    if not common_name.strip():
        raise InvalidArgument("give the certificate's common name", field="common_name")
    return SubmitPlan(
        tenant=owner.name,
        urls=tuple(u.url for u in parsed),
        check=check_spec(
            ctx,
            hosts=[u.url for u in parsed],
            expected_common_name=normalise_pattern(common_name) or common_name,
        ),
    )


def read_pfx(job: PfxJob) -> PfxReading:
    """Open the ``.pfx`` and run every check: pure, over plain values (see ``reading``)."""
    bundle = load_bundle(
        job.data, job.password, max_bytes=job.max_bytes, max_iterations=job.max_iterations
    )
    if bundle.format != "pkcs12":
        raise UnsupportedFormat(
            f"this path takes a .pfx/.p12 file, and this file is {bundle.format.upper()}",
            fix=fix(Action.CONVERT_TO_PFX, field="file"),
        )
    if not bundle.certificates:
        raise NoCertificate(
            "the .pfx holds no certificate",
            hint="export the .pfx again with the certificate included",
        )
    if bundle.private_key is None:
        raise NoPrivateKey(
            "the .pfx holds no private key",
            hint="export it again with the private key included (on Windows: 'Yes, export "
            "the private key')",
        )
    report = check_bundle(bundle, job.check.options())
    return PfxReading(
        chain=der_of(report.ordered_chain()),
        key=key_der(bundle.private_key),
        findings=report.findings,
        given=der_of(bundle.certificates),
    )


def store_submission(
    ctx: Ctx, *, plan: SubmitPlan, reading: PfxReading, portal: str = "other"
) -> SubmitResult:
    """Store what :func:`read_pfx` accepted: the one step under the write lock."""
    owner = tenant_by_name(ctx, plan.tenant)
    chain = certificates_of(reading.chain)
    leaf = describe(chain[0])
    existing = find_certificate(ctx, owner.id, leaf.sha256)
    with about("urls"):
        domains = [ensure_domain(ctx, owner, u, portal) for u in plan.urls]
    if existing is not None:
        current = current_certificates(ctx, [d.id for d in domains])
        if all(current.get(d.id) is not None and current[d.id].id == existing.id for d in domains):
            pending = not_installed(ctx, domains) if ctx.policy.installs else []
            if pending:  # stored but not installed: submitting it again retries the install
                return _install_again(ctx, owner.id, leaf, pending, reading, plan.urls)
            raise Duplicate(
                f"this certificate ({leaf.sha256[:16]}…) is already installed on "
                + ", ".join(d.url for d in domains),
                hint="nothing to do; to replace it, submit the new certificate",
            )
    # A certificate certdesk has already holds its key: seal a second copy only if not.
    key = (
        None
        if existing is not None and existing.private_key_id is not None
        else (seal_key(ctx, owner.id, key_of(reading.key)))
    )
    cert = store_certificate(ctx, owner.id, chain, source="pfx", key=key)
    request = open_request(
        ctx,
        owner.id,
        "submit",
        f"install {leaf.common_name} on " + ", ".join(plan.urls),
    )
    advance(ctx, request, RequestStatus.PROCESSING, "certificate checked and stored, key encrypted")
    bind(ctx, cert, domains, request)
    finish_intake(ctx, request, domains, "certificate accepted")
    ctx.audit(
        "certificate.submit",
        "certificate",
        cert.sha256,
        owner.id,
        common_name=leaf.common_name,
        urls=[d.url for d in domains],
        request=request.id,
        warnings=[f.code for f in reading.findings],
    )
    return SubmitResult(
        sha256=cert.sha256,
        request_id=request.id,
        urls=tuple(d.url for d in domains),
        not_after=leaf.not_after,
        findings=reading.findings,
    )


def _install_again(
    ctx: Ctx,
    tenant_id: int,
    leaf: CertificateInfo,
    pending: Sequence[Binding],
    reading: PfxReading,
    urls: Sequence[str],
) -> SubmitResult:
    """The same certificate again, stored but not installed: no new certificate, no
    "duplicate"; its request (the first pending binding's, else a new one) is where the
    install is tried again (the installer runs after the intake, as for a new one)."""
    request = next(
        (
            r
            for b in pending
            if b.request_id is not None
            and (r := ctx.session.get(Request, b.request_id)) is not None
        ),
        None,
    ) or open_request(ctx, tenant_id, "submit", f"install {leaf.common_name} on " + ", ".join(urls))
    for binding in pending:
        binding.request_id = request.id
    advance(ctx, request, RequestStatus.PROCESSING, "submitted again: the install is tried again")
    ctx.audit(
        "certificate.submit-again",
        "certificate",
        leaf.sha256,
        tenant_id,
        urls=list(urls),
        request=request.id,
    )
    return SubmitResult(
        sha256=leaf.sha256,
        request_id=request.id,
        urls=tuple(urls),
        not_after=leaf.not_after,
        findings=reading.findings,
    )
