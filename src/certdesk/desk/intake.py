"""Flow 1: a customer's own certificate, as a ``.pfx`` with its password.

As the seed says, only ``.pfx``/``.p12`` is accepted here; anything else is
refused with the hint to convert it. Every check runs against the URLs given;
any error-level finding refuses the submission with every finding at once, and
nothing is stored. The password opens the file and is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from certdesk.desk.context import Ctx, Duplicate, Refused, tenant_by_name
from certdesk.desk.domains import current_certificates, ensure_domain, parse_url
from certdesk.desk.records import (
    advance,
    bind,
    find_certificate,
    finish_intake,
    open_request,
    seal_key,
    store_certificate,
)
from certdesk.errors import InvalidArgument, NoCertificate, NoPrivateKey, UnsupportedFormat
from certdesk.pki import CheckOptions, Finding, check_bundle, load_bundle, parse_host
from certdesk.pki.names import normalise_pattern


@dataclass(frozen=True, slots=True)
class SubmitResult:
    sha256: str
    request_id: int
    urls: tuple[str, ...]
    not_after: str
    findings: tuple[Finding, ...]  # warnings and notes; errors refuse the submission


def submit_pfx(
    ctx: Ctx,
    *,
    tenant: str,
    data: bytes,
    password: bytes | None,
    common_name: str,
    urls: Sequence[str],
    portal: str = "other",
) -> SubmitResult:
    owner = tenant_by_name(ctx, tenant)
    if not urls:
        raise InvalidArgument("give at least one URL the certificate is for (--url)")
    parsed = [parse_url(u) for u in urls]
    if not common_name.strip():
        raise InvalidArgument("give the certificate's common name (--common-name)")
    bundle = load_bundle(
        data,
        password,
        max_bytes=ctx.policy.max_upload_bytes,
        max_iterations=ctx.policy.max_pkcs12_iterations,
    )
    if bundle.format != "pkcs12":
        raise UnsupportedFormat(
            f"this path takes a .pfx/.p12 file, and this file is {bundle.format.upper()}",
            hint="convert it first: certdesk convert CERT.crt --key KEY.key --chain CHAIN.crt "
            "--to pfx --out CERT.pfx --out-password-file PW (or send the signed certificate "
            "back with 'certdesk csr complete' if certdesk made its CSR)",
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
    report = check_bundle(
        bundle,
        CheckOptions(
            at=ctx.now,
            hosts=[parse_host(u.url) for u in parsed],
            roots=ctx.policy.roots,
            expires_soon_days=ctx.policy.expires_soon_days,
            is_public_suffix=ctx.policy.is_public_suffix,
            expected_common_name=normalise_pattern(common_name) or common_name,
        ),
    )
    if not report.ok:
        raise Refused(
            f"the certificate cannot be accepted: {len(report.errors)} problem(s)",
            report.findings,
            hint="fix every error listed and submit again",
        )
    leaf = report.leaf
    existing = find_certificate(ctx, owner.id, leaf.sha256)
    domains = [ensure_domain(ctx, owner, u.url, portal) for u in parsed]
    if existing is not None:
        current = current_certificates(ctx, [d.id for d in domains])
        if all(current.get(d.id) is not None and current[d.id].id == existing.id for d in domains):
            raise Duplicate(
                f"this certificate ({leaf.sha256[:16]}…) is already installed on "
                + ", ".join(d.url for d in domains),
                hint="nothing to do; to replace it, submit the new certificate",
            )
    # A certificate certdesk has already holds its key: seal a second copy only if not.
    key = (
        None
        if existing is not None and existing.private_key_id is not None
        else (seal_key(ctx, owner.id, bundle.private_key))
    )
    cert = store_certificate(ctx, owner.id, report.ordered_chain(), source="pfx", key=key)
    request = open_request(
        ctx,
        owner.id,
        "submit",
        f"install {leaf.common_name} on " + ", ".join(u.url for u in parsed),
    )
    advance(ctx, request, "processing", "certificate checked and stored, key encrypted")
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
        warnings=[f.code for f in report.findings],
    )
    return SubmitResult(
        sha256=cert.sha256,
        request_id=request.id,
        urls=tuple(d.url for d in domains),
        not_after=leaf.not_after.isoformat(),
        findings=report.findings,
    )
