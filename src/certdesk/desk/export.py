"""Flow 5: the certificate and its key for the owner, as ``.pfx`` or PEM (audited)."""

from __future__ import annotations

from dataclasses import dataclass

from certdesk.desk.context import Ctx, NotFound
from certdesk.desk.domains import current_certificates, find_domain
from certdesk.desk.records import chain_of, open_key
from certdesk.errors import InvalidArgument, about
from certdesk.pki import key_to_pem, served, to_pem, to_pfx
from certdesk.store.models import PrivateKeyRecord


@dataclass(frozen=True, slots=True)
class Export:
    data: bytes
    sha256: str
    media_type: str
    filename: str


def export_certificate(
    ctx: Ctx,
    *,
    url: str,
    to: str,
    password: bytes | None = None,
    legacy: bool = False,
    include_key: bool = True,
) -> Export:
    """The certificate on ``url`` with its chain and key: ``pfx`` (with ``password``) or
    ``pem`` (key first, encrypted when a password is given)."""
    with about("url", InvalidArgument):
        domain = find_domain(ctx, url)
    cert = current_certificates(ctx, [domain.id]).get(domain.id)
    if cert is None:
        raise NotFound(f"no certificate is installed on {domain.url}")
    chain = served(chain_of(cert))  # as a server sends it: no root (older records kept one)
    record = ctx.session.get(PrivateKeyRecord, cert.private_key_id) if cert.private_key_id else None
    key = open_key(ctx, record) if record is not None and include_key else None
    base = domain.hostname
    if to == "pfx":
        if key is None:
            raise NotFound(f"certdesk holds no private key for the certificate on {domain.url}")
        data = to_pfx(
            key,
            chain[0],
            chain[1:],
            password=password or b"",
            legacy=legacy,
            friendly_name=cert.common_name,
        )
        media, name = "application/x-pkcs12", f"{base}.pfx"
    elif to == "pem":
        data = to_pem(chain)
        if key is not None:
            data = key_to_pem(key, password) + data
        media, name = "application/x-pem-file", f"{base}.pem"
    else:
        raise InvalidArgument(f"cannot export as {to!r}", hint="choose pfx or pem", field="to")
    ctx.audit(
        "certificate.export",
        "certificate",
        cert.sha256,
        cert.tenant_id,
        url=domain.url,
        to=to,
        legacy=legacy,
        with_key=key is not None,
        key_encrypted=bool(password) or key is None,
    )
    return Export(data=data, sha256=cert.sha256, media_type=media, filename=name)
