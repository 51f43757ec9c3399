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
    include_key: bool = False,
    clear_key: bool = False,
) -> Export:
    """The certificate on ``url`` with its chain, and its key only when asked (audited).

    - ``pfx``: always with the key, and always under a ``password``.
    - ``pem``: the certificate and chain; with ``include_key``, the key first, encrypted
      under ``password`` — or in clear only with ``clear_key`` (the audit log says so).
    """
    if to not in ("pfx", "pem"):
        raise InvalidArgument(f"cannot export as {to!r}", hint="choose pfx or pem", field="to")
    with_key = include_key or to == "pfx"
    if to == "pfx" and not password:
        raise InvalidArgument(
            "a .pfx export needs a password",
            hint="give a password of your own: the .pfx carries the private key",
            field="password",
        )
    if to == "pem" and with_key and not password and not clear_key:
        raise InvalidArgument(
            "a PEM export with the private key needs a password to encrypt the key",
            hint="give a password, or ask explicitly for the key in clear",
            field="password",
        )
    if to == "pem" and not with_key and (password or clear_key):
        raise InvalidArgument(
            "a password or a clear key applies only to an export with the private key",
            hint="ask for the key as well, or leave the password out",
            field="password",
        )
    with about("url", InvalidArgument):
        domain = find_domain(ctx, url)
    cert = current_certificates(ctx, [domain.id]).get(domain.id)
    if cert is None:
        raise NotFound(f"no certificate is installed on {domain.url}")
    chain = served(chain_of(cert))  # as a server sends it: no root (older records kept one)
    record = ctx.session.get(PrivateKeyRecord, cert.private_key_id) if cert.private_key_id else None
    if with_key and record is None:
        raise NotFound(f"certdesk holds no private key for the certificate on {domain.url}")
    key = open_key(ctx, record) if record is not None and with_key else None
    base = domain.hostname
    if to == "pfx":
        assert key is not None  # with_key, and a record: opened above
        data = to_pfx(
            key,
            chain[0],
            chain[1:],
            password=password or b"",
            legacy=legacy,
            friendly_name=cert.common_name,
        )
        media, name = "application/x-pkcs12", f"{base}.pfx"
    else:
        data = to_pem(chain)
        if key is not None:
            data = key_to_pem(key, password or None) + data
        media, name = "application/x-pem-file", f"{base}.pem"
    ctx.audit(
        "certificate.export",
        "certificate",
        cert.sha256,
        cert.tenant_id,
        url=domain.url,
        to=to,
        legacy=legacy,
        with_key=key is not None,
        key_encrypted=key is None or bool(password),
        clear_key=key is not None and not password,
    )
    return Export(data=data, sha256=cert.sha256, media_type=media, filename=name)
