"""Writing what the flows share: certificates, sealed keys, bindings, requests."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cryptography import x509
from sqlalchemy import select

from certdesk.desk.context import Ctx
from certdesk.desk.statuses import RequestStatus
from certdesk.pki import PrivateKey, describe, load_certificates, spki_sha256, to_pem
from certdesk.pki.facts import key_facts
from certdesk.store.models import (
    Binding,
    CertificateRecord,
    Domain,
    PrivateKeyRecord,
    Request,
    RequestEvent,
)
from certdesk.store.vault import VaultLocked


def seal_key(ctx: Ctx, tenant_id: int, key: PrivateKey) -> PrivateKeyRecord:
    other = ctx.session.scalars(
        select(PrivateKeyRecord.master_key_id)
        .where(PrivateKeyRecord.master_key_id != ctx.vault.active_id)
        .limit(1)
    ).first()
    if other is not None:
        # Another certdesk (or an earlier start) sealed keys under another master key: a
        # key sealed here would need a master key that the others do not have.
        raise VaultLocked(
            f"stored private keys are sealed under master key {other}, not under this "
            f"certdesk's master key {ctx.vault.active_id}: no new key is sealed",
            hint="this is for the platform's operators: every certdesk on one database "
            "must run with the same master key",
        )
    sealed = ctx.vault.seal(key)
    record = PrivateKeyRecord(
        tenant_id=tenant_id,
        spki_sha256=spki_sha256(key),
        key_type=key_facts(key)[0],
        master_key_id=sealed.master_key_id,
        wrapped_dek=sealed.wrapped_dek,
        ciphertext=sealed.ciphertext,
        created_at=ctx.now,
    )
    ctx.session.add(record)
    ctx.session.flush()
    return record


def open_key(ctx: Ctx, record: PrivateKeyRecord) -> PrivateKey:
    return ctx.vault.open(
        record.master_key_id, record.wrapped_dek, record.ciphertext, record.spki_sha256
    )


def find_certificate(ctx: Ctx, tenant_id: int, sha256: str) -> CertificateRecord | None:
    return ctx.session.scalars(
        select(CertificateRecord).where(
            CertificateRecord.tenant_id == tenant_id, CertificateRecord.sha256 == sha256
        )
    ).one_or_none()


def store_certificate(
    ctx: Ctx,
    tenant_id: int,
    chain: Sequence[x509.Certificate],
    *,
    source: str,
    key: PrivateKeyRecord | None,
) -> CertificateRecord:
    """Store ``chain`` (leaf first) once per tenant; return the existing row if known."""
    info = describe(chain[0])
    existing = find_certificate(ctx, tenant_id, info.sha256)
    if existing is not None:
        if existing.private_key_id is None and key is not None:
            existing.private_key_id = key.id
        return existing
    record = CertificateRecord(
        tenant_id=tenant_id,
        sha256=info.sha256,
        spki_sha256=info.spki_sha256,
        common_name=info.common_name,
        subject=info.subject,
        issuer=info.issuer,
        issuer_common_name=info.issuer_common_name,
        issuer_sha256=name_sha256(chain[0].issuer),
        serial=info.serial,
        not_before=info.not_before,
        not_after=info.not_after,
        dns_names=list(info.dns_names),
        key_type=info.key_type,
        key_size=info.key_size,
        chain_pem=to_pem(chain).decode("ascii"),
        source=source,
        private_key_id=key.id if key is not None else None,
        created_at=ctx.now,
    )
    ctx.session.add(record)
    ctx.session.flush()
    return record


def name_sha256(name: x509.Name) -> str:
    """An indexable key for a distinguished name: SHA-256 of its DER encoding."""
    return hashlib.sha256(name.public_bytes()).hexdigest()


def chain_of(record: CertificateRecord) -> tuple[x509.Certificate, ...]:
    return load_certificates(record.chain_pem.encode("ascii"))


def bind(
    ctx: Ctx, cert: CertificateRecord, domains: Sequence[Domain], request: Request | None
) -> list[Domain]:
    """Put ``cert`` on ``domains``: the previous binding ends now, and stays as history.

    Returns the domains whose certificate actually changed.
    """
    changed: list[Domain] = []
    for domain in domains:
        current = ctx.session.scalars(
            select(Binding).where(Binding.domain_id == domain.id, Binding.unbound_at.is_(None))
        ).one_or_none()
        if current is not None and current.certificate_id == cert.id:
            continue
        if current is not None:
            current.unbound_at = ctx.now
        if domain.expiry_source != "served":  # a probe's finding outranks what was installed
            domain.expires_at = cert.not_after
            domain.expiry_source = "installed"
        ctx.session.add(
            Binding(
                domain_id=domain.id,
                certificate_id=cert.id,
                request_id=request.id if request is not None else None,
                bound_at=ctx.now,
            )
        )
        changed.append(domain)
    ctx.session.flush()
    return changed


def not_installed(ctx: Ctx, domains: Sequence[Domain]) -> list[Binding]:
    """The current bindings of ``domains`` whose certificate is not installed (stored,
    installing, install-failed)."""
    return list(
        ctx.session.scalars(
            select(Binding)
            .where(
                Binding.domain_id.in_([d.id for d in domains]),
                Binding.unbound_at.is_(None),
                Binding.install_state != "installed",
            )
            .order_by(Binding.id)
        )
    )


def open_request(ctx: Ctx, tenant_id: int, kind: str, summary: str) -> Request:
    request = Request(
        tenant_id=tenant_id,
        kind=kind,
        status=RequestStatus.RECEIVED,
        summary=summary,
        created_by=ctx.actor.name,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.session.add(request)
    ctx.session.flush()
    ctx.session.add(
        RequestEvent(
            request_id=request.id, at=ctx.now, status=RequestStatus.RECEIVED, message=summary
        )
    )
    return request


def advance(ctx: Ctx, request: Request, status: RequestStatus, message: str) -> None:
    """Move a request on (received → processing → completed | rejected), with its timeline."""
    request.status = status
    request.updated_at = ctx.now
    ctx.session.add(RequestEvent(request_id=request.id, at=ctx.now, status=status, message=message))


def finish_intake(ctx: Ctx, request: Request, domains: Sequence[Domain], what: str) -> None:
    """The end of an intake: completed now, or — with a deploy target — once installed."""
    urls = ", ".join(d.url for d in domains) or "no URL"
    if ctx.policy.installs:
        advance(ctx, request, RequestStatus.PROCESSING, f"{what}; bound to {urls}; to be installed")
    else:
        advance(
            ctx,
            request,
            RequestStatus.COMPLETED,
            f"{what}; bound to {urls}; no deploy target is configured",
        )
