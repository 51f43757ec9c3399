"""The facts of one certificate, as plain values: what ``inspect`` shows and checks use."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from certdesk.pki.guard import READ_ERRORS, translated

_FIELD_NAMES = {
    NameOID.COMMON_NAME: "CN",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.COUNTRY_NAME: "C",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.STREET_ADDRESS: "street",
    NameOID.POSTAL_CODE: "postalCode",
}

_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}

_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """Everything certdesk reads off one certificate. Times are UTC-aware."""

    subject: str
    subject_fields: tuple[tuple[str, str], ...]
    common_name: str | None
    issuer: str
    issuer_common_name: str | None
    serial: str
    not_before: datetime
    not_after: datetime
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    has_san: bool
    key_type: str
    key_size: int
    key_curve: str | None
    signature_algorithm: str
    signature_hash: str | None
    sha256: str
    sha1: str
    spki_sha256: str
    is_ca: bool
    path_length: int | None
    key_usage: tuple[str, ...] | None
    extended_key_usage: tuple[str, ...] | None
    self_issued: bool

    def field(self, short: str) -> str | None:
        """The first value of a subject field by its short name (``CN``, ``O``, ``C``…)."""
        return next((v for k, v in self.subject_fields if k == short), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "subject_fields": [{"field": k, "value": v} for k, v in self.subject_fields],
            "common_name": self.common_name,
            "issuer": self.issuer,
            "issuer_common_name": self.issuer_common_name,
            "serial": self.serial,
            "not_before": iso_utc(self.not_before),
            "not_after": iso_utc(self.not_after),
            "dns_names": list(self.dns_names),
            "ip_addresses": list(self.ip_addresses),
            "key": {"type": self.key_type, "size": self.key_size, "curve": self.key_curve},
            "signature_algorithm": self.signature_algorithm,
            "signature_hash": self.signature_hash,
            "sha256": self.sha256,
            "sha1": self.sha1,
            "spki_sha256": self.spki_sha256,
            "is_ca": self.is_ca,
            "path_length": self.path_length,
            "key_usage": list(self.key_usage) if self.key_usage is not None else None,
            "extended_key_usage": (
                list(self.extended_key_usage) if self.extended_key_usage is not None else None
            ),
            "self_issued": self.self_issued,
        }


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``, as every JSON output of certdesk writes times."""
    # Not strftime: its %Y writes year 1 as "1", not "0001".
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def time_left(not_after: datetime, at: datetime) -> str:
    """How far ``not_after`` is from ``at``, in words: ``in 5 days``, ``in 47 hours``,
    ``in less than an hour``, ``15 hours ago``, ``3 days ago``.

    Under two days the hours are told (never "in 1 days" for a day and 23 hours);
    whole days are counted down, as the reports and urgencies count them.
    """
    seconds = int((not_after - at).total_seconds())
    span = abs(seconds)
    if span < 3600:
        amount = "less than an hour"
    elif span < 2 * 86400:
        hours = span // 3600
        amount = f"{hours} hour{'s' if hours != 1 else ''}"
    else:
        amount = f"{span // 86400} days"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def describe(cert: x509.Certificate) -> CertificateInfo:
    """Read the facts of ``cert``.

    Raises ``Malformed`` (or ``UnsupportedFormat``) naming the certificate and the part
    pyca cannot read: every part is read here, so a certificate that passes is whole.
    """
    try:
        return _describe(cert)
    except READ_ERRORS as exc:
        raise translated(cert, exc) from exc


def _describe(cert: x509.Certificate) -> CertificateInfo:
    der = cert.public_bytes(serialization.Encoding.DER)
    raw_issuer, raw_subject, raw_spki, algorithm = _raw_parts(der)
    public_key = cert.public_key()
    spki = raw_spki if algorithm.startswith(_CANONICAL_KEY_ALGORITHMS) else b""
    if not spki:  # an encoding pyca may write differently: hash what it writes
        spki = public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    key_type, key_size, curve = key_facts(public_key)
    dns_names: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    has_san = False
    is_ca = False
    path_length: int | None = None
    key_usage: tuple[str, ...] | None = None
    eku: tuple[str, ...] | None = None
    # pyca's extension and general-name classes are ABCs, so each isinstance() goes
    # through ABCMeta: 4-6 us a certificate. pyca's parser builds these exact classes,
    # so the dispatch is on the type itself (~1.5 us); what pyca does not build (an
    # unknown extension) falls through as before.
    for ext in cert.extensions:
        value = ext.value
        if type(value) is x509.SubjectAlternativeName:
            has_san = True
            general_names = list(value)
            dns_names = tuple([n.value for n in general_names if type(n) is x509.DNSName])
            ips = tuple([str(n.value) for n in general_names if type(n) is x509.IPAddress])
        elif type(value) is x509.BasicConstraints:
            is_ca = value.ca
            path_length = value.path_length
        elif type(value) is x509.KeyUsage:
            bits = (
                value.digital_signature,
                value.content_commitment,
                value.key_encipherment,
                value.data_encipherment,
                value.key_agreement,
                value.key_cert_sign,
                value.crl_sign,
            )
            key_usage = tuple(name for name, bit in zip(_KEY_USAGES, bits, strict=True) if bit)
            if value.key_agreement:
                key_usage += tuple(
                    n for n in ("encipher_only", "decipher_only") if getattr(value, n)
                )
        elif type(value) is x509.ExtendedKeyUsage:
            eku = tuple([_EKU_NAMES.get(oid) or oid.dotted_string for oid in value])
    # pyca builds a new Name on every access to .subject/.issuer: read each once, and
    # an issuer (shared by most certificates of a bundle) once per distinct encoding.
    fields: list[tuple[str, str]] = []
    rdn_texts: list[str] = []
    for rdn in cert.subject.rdns:  # one pass for the fields and the RFC 4514 text
        texts = []
        for attr in rdn:
            oid, value = attr.oid, attr.value
            short = _FIELD_NAMES.get(oid) or oid.dotted_string
            fields.append((short, value if isinstance(value, str) else value.hex()))
            texts.append(attr.rfc4514_string())
        rdn_texts.append("+".join(texts))
    subject_fields = tuple(fields)
    subject_text = ",".join(reversed(rdn_texts))
    issuer_text, issuer_cn = _issuer_facts(cert, raw_issuer)
    signature_name, signature_hash = _signature_facts(cert)
    return CertificateInfo(
        subject=subject_text,
        subject_fields=subject_fields,
        common_name=next((v for k, v in subject_fields if k == "CN"), None),
        issuer=issuer_text,
        issuer_common_name=issuer_cn,
        serial=_serial_hex(cert.serial_number),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        dns_names=dns_names,
        ip_addresses=ips,
        has_san=has_san,
        key_type=key_type,
        key_size=key_size,
        key_curve=curve,
        signature_algorithm=signature_name,
        signature_hash=signature_hash,
        sha256=hashlib.sha256(der).hexdigest(),
        sha1=hashlib.sha1(der, usedforsecurity=False).hexdigest(),
        spki_sha256=hashlib.sha256(spki).hexdigest(),
        is_ca=is_ca,
        path_length=path_length,
        key_usage=key_usage,
        extended_key_usage=eku,
        self_issued=raw_subject == raw_issuer
        or (subject_text == issuer_text and cert.subject == cert.issuer),
    )


_ISSUERS: dict[bytes, tuple[str, str | None]] = {}
_MAX_ISSUERS = 4096


# SubjectPublicKeyInfo algorithms that pyca writes back byte for byte as certificates
# hold them (the AlgorithmIdentifier that opens the SPKI's contents): for these the SPKI
# is hashed as it stands, without asking pyca to encode the key again.
_CANONICAL_KEY_ALGORITHMS = tuple(
    bytes.fromhex(h)
    for h in (
        "300d06092a864886f70d0101010500",  # rsaEncryption, NULL
        "301306072a8648ce3d020106082a8648ce3d030107",  # id-ecPublicKey, P-256
        "301006072a8648ce3d020106052b81040022",  # id-ecPublicKey, P-384
        "301006072a8648ce3d020106052b81040023",  # id-ecPublicKey, P-521
        "300506032b6570",  # Ed25519
    )
)


def _raw_parts(der: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """Issuer, subject, SubjectPublicKeyInfo and its contents, as the certificate holds them.

    A few DER headers read in place (this runs once per certificate of a bundle).
    """
    try:
        pos = _header(der, 0)[0]  # Certificate ::= SEQUENCE {
        pos = _header(der, pos)[0]  # tbsCertificate SEQUENCE {
        if der[pos] == 0xA0:  # [0] version
            pos = _header(der, pos)[1]
        pos = _header(der, pos)[1]  # serialNumber
        pos = _header(der, pos)[1]  # signature AlgorithmIdentifier
        issuer_end = _header(der, pos)[1]
        validity_end = _header(der, issuer_end)[1]
        subject_end = _header(der, validity_end)[1]
        spki_start, spki_end = _header(der, subject_end)
    except IndexError:
        return b"?", b"!", b"", b""  # pyca read it, so this does not happen; never equal
    return (
        der[pos:issuer_end],
        der[validity_end:subject_end],
        der[subject_end:spki_end],
        der[spki_start:spki_end],
    )


def _header(der: bytes, pos: int) -> tuple[int, int]:
    """(content start, end) of the DER element at ``pos``."""
    first = der[pos + 1]
    if first < 0x80:
        return pos + 2, pos + 2 + first
    count = first & 0x7F
    start = pos + 2 + count
    return start, start + int.from_bytes(der[pos + 2 : start], "big")


def _issuer_facts(cert: x509.Certificate, raw: bytes) -> tuple[str, str | None]:
    """(RFC 4514 text, common name) of ``cert``'s issuer, read once per distinct name."""
    found = _ISSUERS.get(raw)
    if found is None:
        issuer = cert.issuer
        cn = next((a.value for a in issuer if a.oid == NameOID.COMMON_NAME), None)
        found = (issuer.rfc4514_string(), _text(cn) if cn is not None else None)
        if len(_ISSUERS) >= _MAX_ISSUERS:
            _ISSUERS.clear()
        _ISSUERS[raw] = found
    return found


def key_facts(public_key: object) -> tuple[str, int, str | None]:
    """``(type, size in bits, curve)`` of a public or private key."""
    if isinstance(public_key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return "RSA", public_key.key_size, None
    if isinstance(public_key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return "EC", public_key.curve.key_size, public_key.curve.name
    if isinstance(public_key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "Ed25519", 256, None
    if isinstance(public_key, ed448.Ed448PublicKey | ed448.Ed448PrivateKey):
        return "Ed448", 456, None
    if isinstance(public_key, dsa.DSAPublicKey | dsa.DSAPrivateKey):
        return "DSA", public_key.key_size, None
    return type(public_key).__name__, 0, None


def spki_sha256(public_key: Any) -> str:
    """SHA-256 of a key's SubjectPublicKeyInfo: how certdesk pairs keys and certificates."""
    if hasattr(public_key, "public_key"):
        public_key = public_key.public_key()
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def fingerprint(cert: x509.Certificate) -> str:
    """Lower-case hex SHA-256 of the certificate's DER encoding."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


_SIGNATURES: dict[x509.ObjectIdentifier, tuple[str, str | None]] = {}


def _signature_facts(cert: x509.Certificate) -> tuple[str, str | None]:
    """(algorithm name, hash name) of the signature, read once per algorithm."""
    oid = cert.signature_algorithm_oid
    found = _SIGNATURES.get(oid)
    if found is None:
        sig_hash = cert.signature_hash_algorithm  # raises for an algorithm pyca cannot use
        found = (_signature_name(cert), sig_hash.name if sig_hash is not None else None)
        if oid != SignatureAlgorithmOID.RSASSA_PSS:  # PSS names its hash in parameters
            _SIGNATURES[oid] = found  # as many entries as pyca knows algorithms
    return found


def _signature_name(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    name = getattr(oid, "_name", None)
    return name if isinstance(name, str) and name != "Unknown OID" else oid.dotted_string


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.hex()


def _serial_hex(serial: int) -> str:
    """Lower-case hex with an even number of digits, as ``openssl x509 -serial`` prints it."""
    text = format(serial, "x") if serial >= 0 else "-" + format(-serial, "x")
    digits = text.lstrip("-")
    return ("-" if serial < 0 else "") + ("0" + digits if len(digits) % 2 else digits)
