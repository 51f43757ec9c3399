"""Where pyca's exceptions become certdesk errors: one translation, at the boundary.

pyca parses most of a certificate lazily, on first access, and its parsers raise
``ValueError``, ``TypeError`` (an IP name constraint without a netmask),
``DuplicateExtension``, ``UnsupportedGeneralNameType``, ``InvalidVersion``… from
wherever the part is first read. :func:`translated` turns every one of them
into ``malformed`` (or ``unsupported-format`` for an algorithm pyca does not know),
naming what is broken: the certificate, and the extension.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from certdesk.errors import CertdeskError, Malformed, UnsupportedFormat
from certdesk.pki import der

LIBRARY_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    OverflowError,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
    x509.InvalidVersion,
)

READ_ERRORS: tuple[type[Exception], ...] = (*LIBRARY_ERRORS, UnsupportedAlgorithm)

_REISSUE = "ask the issuer for the certificate file again"


def translated(cert: x509.Certificate, exc: Exception) -> CertdeskError:
    """The certdesk error for what pyca raised while reading ``cert``."""
    if isinstance(exc, CertdeskError):
        return exc
    if isinstance(exc, UnsupportedAlgorithm):
        return UnsupportedFormat(
            f"{certificate_name(cert)} uses an algorithm certdesk cannot read ({exc})",
            hint="TLS certificates use RSA, EC or Ed25519 keys and SHA-2 signatures: "
            "ask the issuer for a current certificate",
        )
    return Malformed(
        f"{certificate_name(cert)} is damaged or badly encoded: "
        f"{damaged_part(cert)} cannot be read ({_detail(exc)})",
        hint=_REISSUE,
    )


@contextmanager
def file_errors() -> Iterator[None]:
    """Run the loading of a whole file: what pyca raises becomes a certdesk error.

    The loaders translate what they expect with a message of their own; this is the
    net under them, so that no input ends as a raw exception.
    """
    try:
        yield
    except CertdeskError:
        raise
    except UnsupportedAlgorithm as exc:
        raise UnsupportedFormat(
            f"the file uses an algorithm or a structure certdesk cannot read ({_detail(exc)})",
            hint="give a .pfx/.p12, a .crt/.pem/.cer (PEM or DER), a .p7b or a private key file",
        ) from exc
    except LIBRARY_ERRORS as exc:
        raise Malformed(
            f"the file is damaged or badly encoded ({_detail(exc)})",
            hint="get the file again from where it was made",
        ) from exc


def certificate_name(cert: x509.Certificate) -> str:
    """The certificate as a reader recognises it: its common name, else its fingerprint."""
    fp = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    try:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        cn = cns[0].value if cns else None
    except READ_ERRORS:
        cn = None
    if isinstance(cn, str) and cn.isprintable():
        return f"the certificate {cn[:80]!r} (SHA-256 {fp[:16]}…)"
    return f"the certificate with SHA-256 {fp[:16]}…"


def damaged_part(cert: x509.Certificate) -> str:
    """Which part of ``cert`` pyca cannot read, probed in the order a reader meets them."""
    probes = (
        ("its subject name", lambda: cert.subject),
        ("its issuer name", lambda: cert.issuer),
        ("its serial number", lambda: cert.serial_number),
        ("its validity dates", lambda: (cert.not_valid_before_utc, cert.not_valid_after_utc)),
        ("its public key", cert.public_key),
        ("its signature algorithm", lambda: cert.signature_hash_algorithm),
    )
    for part, probe in probes:
        try:
            probe()
        except READ_ERRORS:
            return part
    try:
        _ = cert.extensions
    except READ_ERRORS:
        return _damaged_extension(cert)
    return "a part of it"


def _damaged_extension(cert: x509.Certificate) -> str:
    """Name the extension pyca cannot read, by parsing each one alone in a copy."""
    data = cert.public_bytes(serialization.Encoding.DER)
    try:
        top = der.outer(data)
        tbs, *rest = der.children(data, top)
        fields = der.children(data, tbs)
        holder = next((f for f in fields if f.tag == 0xA3), None)
        if holder is None:
            return "its extensions"
        (sequence,) = der.children(data, holder)
        extensions = der.children(data, sequence)
        oids = [der.children(data, ext)[0].content(data) for ext in extensions]
    except (der.DerError, ValueError):
        return "its extensions"
    for index, ext in enumerate(extensions):
        if oids.index(oids[index]) != index:
            return f"its {_extension_name(oids[index])} extension (given twice)"
        one = der.encode(0xA3, der.encode(der.SEQUENCE, data[ext.start : ext.end]))
        tbs_one = der.encode(
            der.SEQUENCE,
            b"".join(data[f.start : f.end] if f.tag != 0xA3 else one for f in fields),
        )
        copy = der.encode(der.SEQUENCE, tbs_one + b"".join(data[r.start : r.end] for r in rest))
        try:
            _ = x509.load_der_x509_certificate(copy).extensions
        except READ_ERRORS:
            return f"its {_extension_name(oids[index])} extension"
    return "its extensions"


def _extension_name(oid: bytes) -> str:
    dotted = der.oid_text(oid)
    try:
        name = x509.ObjectIdentifier(dotted)._name
    except ValueError:
        name = "Unknown OID"
    return f"{name} ({dotted})" if name != "Unknown OID" else dotted or "unnamed"


def _detail(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"
