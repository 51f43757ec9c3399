"""Writing certificates and keys: ``.pfx`` as ``openssl pkcs12 -export`` does, PEM, DER, ``.p7b``.

Modern ``.pfx`` files use what OpenSSL 3 writes by default: PBES2 with AES-256-CBC,
PBKDF2-HMAC-SHA256 and a SHA-256 MAC. ``legacy=True`` writes 3DES with SHA-1, the
one choice every Windows version (Server 2016 and older included) imports.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from certdesk.errors import InvalidArgument, KeyMismatch
from certdesk.fixes import Action, Fix
from certdesk.pki.facts import spki_sha256
from certdesk.pki.load import PrivateKey

PFX_KDF_ROUNDS = 2048  # OpenSSL 3's default iteration count for pkcs12 -export


def ensure_key_matches(key: PrivateKey, cert: x509.Certificate) -> None:
    """Raise ``key-mismatch`` unless ``key`` is the private half of ``cert``'s public key."""
    if spki_sha256(key) != spki_sha256(cert.public_key()):
        raise KeyMismatch(
            "the private key does not belong to the certificate",
            hint="give the key that was generated together with this certificate's CSR",
        )


def to_pfx(
    key: PrivateKey | None,
    leaf: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    *,
    password: bytes,
    legacy: bool = False,
    friendly_name: str | None = None,
) -> bytes:
    """A PKCS#12 file holding ``key``, ``leaf`` and ``chain``, encrypted with ``password``."""
    if not password:
        raise InvalidArgument(
            "a .pfx needs a password: without one the private key is left unprotected",
            fix=Fix(Action.GIVE_NEW_PASSWORD, field="password"),
        )
    if key is not None:
        ensure_key_matches(key, leaf)
    builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(PFX_KDF_ROUNDS)
    if legacy:
        # SHA-1 is the MAC that Windows Server 2016 and older read.
        legacy_mac = hashes.SHA1()  # noqa: S303
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(
            legacy_mac
        )
    else:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(
            hashes.SHA256()
        )
    name = friendly_name.encode("utf-8") if friendly_name else None
    return pkcs12.serialize_key_and_certificates(
        name, key, leaf, list(chain) or None, builder.build(password)
    )


def to_pem(certs: Sequence[x509.Certificate]) -> bytes:
    """Certificates as concatenated PEM blocks, in the order given."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def to_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def to_p7b(certs: Sequence[x509.Certificate], *, pem: bool = False) -> bytes:
    encoding = serialization.Encoding.PEM if pem else serialization.Encoding.DER
    return pkcs7.serialize_certificates(list(certs), encoding)


def key_to_pem(key: PrivateKey, password: bytes | None = None) -> bytes:
    """A PKCS#8 PEM private key, encrypted (AES-256) when ``password`` is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
