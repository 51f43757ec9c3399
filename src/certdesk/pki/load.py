"""Recognise and load every certificate and key format the seed names, from the bytes alone.

The file name never decides the format: a ``.crt`` that holds DER, a ``.pem`` that
holds a PKCS#7 bundle or a ``.pfx`` that was base64-encoded by a mail client are
all read for what they are. What cannot be used is refused with a ``certdesk``
error whose message says what the bytes are and what to do.
"""

from __future__ import annotations

import _thread
import base64
import binascii
import dataclasses
import gc
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_der_private_key,
    load_der_public_key,
    load_pem_private_key,
    pkcs7,
    pkcs12,
)

from certdesk.errors import (
    KeyTooLarge,
    Malformed,
    NoCertificate,
    NoPrivateKey,
    TooCostly,
    TooLarge,
    UnsupportedFormat,
    WrongPassword,
)
from certdesk.fixes import Action, Fix
from certdesk.pki import der
from certdesk.pki.facts import CertificateInfo, describe
from certdesk.pki.guard import file_errors

PrivateKey: TypeAlias = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
    | dsa.DSAPrivateKey
)

DEFAULT_MAX_BYTES = 1024 * 1024
# Windows writes 2,000 iterations, OpenSSL 2,048: fifty times the most any tool writes
# by default still opens in well under a second; 2,147,483,647 would take minutes.
DEFAULT_MAX_ITERATIONS = 1_000_000
# Checking an RSA private key costs seconds above this size (31 s at 16,384 bits).
MAX_KEY_BITS = 8192

PASSWORD_FIX = Fix(Action.GIVE_PASSWORD)

_PEM_LINE = re.compile(rb"-----(BEGIN|END) ([A-Z0-9 #]{1,64})-----")

_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE"}
_KEY_LABELS = {
    b"PRIVATE KEY",
    b"RSA PRIVATE KEY",
    b"EC PRIVATE KEY",
    b"DSA PRIVATE KEY",
    b"ENCRYPTED PRIVATE KEY",
}
_P7_LABELS = {b"PKCS7", b"CMS", b"PKCS #7 SIGNED DATA"}
_REFUSED_LABELS = {
    b"CERTIFICATE REQUEST": "a certificate signing request (CSR), not a certificate: "
    "send it to your certificate authority and load the certificate it returns",
    b"NEW CERTIFICATE REQUEST": "a certificate signing request (CSR), not a certificate: "
    "send it to your certificate authority and load the certificate it returns",
    b"X509 CRL": "a certificate revocation list (CRL), not a certificate",
    b"PUBLIC KEY": "a public key alone: a certificate or private key is needed",
    b"RSA PUBLIC KEY": "a public key alone: a certificate or private key is needed",
    b"OPENSSH PRIVATE KEY": "an OpenSSH private key, which TLS servers do not use: "
    "give the key that belongs to the certificate (PEM, PKCS#8 or PKCS#1)",
    b"TRUSTED CERTIFICATE": "an OpenSSL 'trusted certificate' with trust settings: "
    "convert it with 'openssl x509 -in FILE -out plain.pem' first",
    b"PGP PUBLIC KEY BLOCK": "a PGP key, not an X.509 certificate",
}


@dataclass(frozen=True, slots=True)
class Bundle:
    """What one file held: its certificates in file order, and the private key if any.

    ``format`` names what the bytes were: ``pkcs12``, ``pem``, ``der``, ``pkcs7-pem``,
    ``pkcs7-der``. ``encryption`` is the PKCS#12 encryption (``modern``, ``legacy``,
    ``none``) or the PEM key's (``encrypted``/``none``), empty when nothing applies.
    """

    certificates: tuple[x509.Certificate, ...]
    private_key: PrivateKey | None
    format: str
    encryption: str = ""
    friendly_name: str | None = None
    facts: tuple[CertificateInfo, ...] = ()

    def infos(self) -> tuple[CertificateInfo, ...]:
        """The facts of each certificate, read once when the file was loaded."""
        if len(self.facts) == len(self.certificates):
            return self.facts
        return tuple(describe(c) for c in self.certificates)


def load_bundle(
    data: bytes,
    password: bytes | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
) -> Bundle:
    """Load whatever certificates and key ``data`` holds.

    ``password`` opens a PKCS#12 file or an encrypted private key; ``None`` means
    none was given (an unprotected file, or one with an empty password, still opens).
    The work is bounded before it starts: a key-derivation iteration count above
    ``max_iterations`` is refused (``too-costly``), and so is an RSA key above
    :data:`MAX_KEY_BITS` (``key-too-large``), before pyca derives or checks anything.
    """
    with file_errors():
        bundle = _load(data, password, max_bytes, max_iterations)
    certificates = bundle.certificates
    if len(certificates) < _BULK:
        facts = tuple([describe(c) for c in certificates])  # each part read (and checked) once
    else:
        with _collector_paused():
            facts = tuple([describe(c) for c in certificates])
    return dataclasses.replace(bundle, facts=facts)


# Reading a bundle's facts makes pyca build ~40 Python objects a certificate (names,
# extensions, general names), and the certificates keep their extensions: the heap
# grows by some 400,000 tracked objects for 10,000 certificates, and Python's cyclic
# garbage collector walks all of them again and again while it grows. What it buys,
# measured on bench/bench_inspect.py's 10,000-certificate bundle (CPU time, loaded
# 2-core machine): load_bundle and the facts ~1.10 s with the collector running,
# ~0.70 s with it paused, the one collection after the pause included. Nothing built
# here forms a reference cycle (reference counting frees what is dropped; a collection
# right after finds no garbage), so for a bulk read the collector is held off and
# switched back on after. Only for bundles of _BULK certificates or more: a single
# upload never touches the collector. The switch is global to the process, so
# concurrent bulk reads share one pause: the first one in turns the collector off (if
# it was on), the last one out turns it back on.
_BULK = 64
_pause_lock = _thread.allocate_lock()
_pauses = 0
_resume = False


@contextmanager
def _collector_paused() -> Iterator[None]:
    global _pauses, _resume
    with _pause_lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()


def _load(data: bytes, password: bytes | None, max_bytes: int, max_iterations: int) -> Bundle:
    if len(data) > max_bytes:
        raise TooLarge(
            f"the file is {len(data):,} bytes, more than the limit of {max_bytes:,}",
            hint="a certificate file is a few kilobytes: check that this is the right file",
        )
    if not data.strip():
        raise Malformed("the file is empty", hint="give the certificate file itself")
    if b"-----BEGIN " in data:
        return _load_pem(data, password, max_iterations)
    if data[0] == der.SEQUENCE:
        return _load_der(data, password, max_iterations)
    decoded = _maybe_base64(data)
    if decoded is not None:
        return _load(decoded, password, max_bytes, max_iterations)
    raise UnsupportedFormat(
        f"this is {_describe_unknown(data)}, not a certificate, key, PKCS#12 or PKCS#7 file",
        hint="give a .pfx/.p12, a .crt/.pem/.cer (PEM or DER), a .p7b or a private key file",
    )


def load_certificates(
    data: bytes,
    password: bytes | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
) -> tuple[x509.Certificate, ...]:
    """Load a file that must hold at least one certificate (a chain, a CA bundle)."""
    bundle = load_bundle(data, password, max_bytes=max_bytes, max_iterations=max_iterations)
    if not bundle.certificates:
        raise NoCertificate(
            "the file holds a private key but no certificate",
            hint="give the certificate file (.crt, .pem, .cer) here",
        )
    return bundle.certificates


def load_private_key(
    data: bytes,
    password: bytes | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
) -> PrivateKey:
    """Load a file that must hold a private key (PEM or DER, PKCS#1, PKCS#8 or SEC1)."""
    bundle = load_bundle(data, password, max_bytes=max_bytes, max_iterations=max_iterations)
    if bundle.private_key is None:
        raise NoPrivateKey(
            "the file holds no private key",
            hint="give the key file made with the certificate signing request (often .key)",
        )
    return bundle.private_key


# --- PEM -------------------------------------------------------------------


def _pem_blocks(data: bytes) -> list[tuple[bytes, bytes]]:
    """``(label, body)`` of every PEM block, in one linear pass over the file.

    Text around the blocks (``openssl x509 -text`` output, "Bag Attributes") is ignored;
    a BEGIN line whose block never ends is refused, naming the block.
    """
    blocks: list[tuple[bytes, bytes]] = []
    open_label: bytes | None = None
    body_start = 0
    for match in _PEM_LINE.finditer(data):
        kind, label = match.group(1), match.group(2)
        if kind == b"BEGIN":
            if open_label is not None:
                _unterminated(open_label, len(blocks) + 1)
            open_label, body_start = label, match.end()
        elif open_label is not None:
            if label != open_label:
                _unterminated(open_label, len(blocks) + 1)
            blocks.append((label, data[body_start : match.start()]))
            open_label = None
    if open_label is not None:
        _unterminated(open_label, len(blocks) + 1)
    return blocks


def _unterminated(label: bytes, index: int) -> None:
    raise Malformed(
        f"PEM block {index} ('{label.decode()}') has no matching END line: "
        "the file is truncated or was cut when copied",
        hint="copy the whole block, from -----BEGIN to -----END, again",
    )


def _load_pem(data: bytes, password: bytes | None, max_iterations: int) -> Bundle:
    blocks = _pem_blocks(data)
    if blocks and all(label in _CERT_LABELS for label, _ in blocks):
        fast = _pem_certificates_fast(data, len(blocks))
        if fast is not None:
            return Bundle(certificates=fast, private_key=None, format="pem")
    certs: list[x509.Certificate] = []
    key: PrivateKey | None = None
    key_encrypted = False
    p7 = False
    refused: list[str] = []
    for index, (label, body) in enumerate(blocks, start=1):
        if label in _CERT_LABELS:
            certs.append(_pem_certificate(label, body, index))
        elif label in _KEY_LABELS:
            if key is not None:
                raise UnsupportedFormat(
                    "the file holds more than one private key",
                    hint="keep only the key that belongs to the certificate",
                )
            block = b"-----BEGIN " + label + b"-----" + body + b"-----END " + label + b"-----\n"
            key_encrypted = label == b"ENCRYPTED PRIVATE KEY" or b"ENCRYPTED" in body[:64]
            if label == b"ENCRYPTED PRIVATE KEY":
                _bound_iterations(_b64(body, label, index), max_iterations, "private key")
            elif b"Proc-Type" not in body[:200]:
                bits = der.rsa_private_modulus_bits(_b64(body, label, index))
                if bits is not None:
                    _bound_key_bits(bits)
            key = _pem_key(block, password)
        elif label in _P7_LABELS:
            p7 = True
            certs.extend(_pkcs7(_b64(body, label, index), "PEM"))
        elif label in _REFUSED_LABELS:
            refused.append(_REFUSED_LABELS[label])
    if not certs and key is None:
        if refused:
            raise UnsupportedFormat(
                f"this is {refused[0]}",
                hint="give a certificate (.crt, .pem, .cer), a .pfx or a private key",
            )
        labels = ", ".join(sorted({b[0].decode() for b in blocks})) or "none"
        raise UnsupportedFormat(
            f"this PEM file holds no certificate or private key (blocks found: {labels})",
            hint="give a certificate (.crt, .pem, .cer), a .pfx or a private key",
        )
    return Bundle(
        certificates=tuple(certs),
        private_key=key,
        format="pkcs7-pem" if p7 else "pem",
        encryption=("encrypted" if key_encrypted else "none") if key is not None else "",
    )


def _pem_certificates_fast(data: bytes, expected: int) -> tuple[x509.Certificate, ...] | None:
    """Certificates only (the common case, and 10,000-certificate bundles): one pyca call.

    None sends the caller to the block-by-block path, which names the damaged block.
    """
    try:
        certs = x509.load_pem_x509_certificates(data)
    except (ValueError, x509.InvalidVersion):
        return None
    if len(certs) != expected:
        return None
    return tuple(certs)


def _b64(body: bytes, label: bytes, index: int) -> bytes:
    lines = [line for line in body.splitlines() if b":" not in line]
    try:
        return base64.b64decode(b"".join(lines), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Malformed(
            f"PEM block {index} ('{label.decode()}') is not valid base64: "
            "it was damaged when copied or edited",
            hint="copy the block again from the original file",
        ) from exc


def _pem_certificate(label: bytes, body: bytes, index: int) -> x509.Certificate:
    raw = _b64(body, label, index)
    try:
        cert = x509.load_der_x509_certificate(raw)
    except (ValueError, x509.InvalidVersion) as exc:
        raise Malformed(
            f"PEM block {index} is labelled CERTIFICATE but is not a valid certificate ({exc})",
            hint="ask the issuer for the certificate file again",
        ) from exc
    return cert


def _pem_key(block: bytes, password: bytes | None) -> PrivateKey:
    try:
        key = load_pem_private_key(
            block, password=password or None, unsafe_skip_rsa_key_validation=True
        )
    except TypeError as exc:
        if password:  # a password was given for an unencrypted key: ignore it
            return _pem_key(block, None)
        raise WrongPassword(
            "the private key is encrypted and no password was given", fix=PASSWORD_FIX
        ) from exc
    except ValueError as exc:
        if b"ENCRYPTED" in block[:200] or b"Proc-Type: 4,ENCRYPTED" in block:
            raise WrongPassword(
                "the password does not open the encrypted private key", fix=PASSWORD_FIX
            ) from exc
        raise Malformed(
            f"the private key block is corrupt or truncated ({exc})",
            hint="copy the key file again from where it was made",
        ) from exc
    except UnsupportedAlgorithm as exc:
        raise UnsupportedFormat(
            f"the private key uses an algorithm certdesk cannot read ({exc})",
            hint="re-export the key as PKCS#8 (openssl pkcs8 -topk8)",
        ) from exc
    return check_key_type(key)


def checked_key(key: object) -> PrivateKey:
    """A key loaded without pyca's RSA check, checked now that its size is known to be sane.

    pyca checks an RSA private key when it loads it, which takes seconds for a huge key;
    keys are loaded with that check skipped, their size refused above
    :data:`MAX_KEY_BITS`, and only then checked.
    """
    key = check_key_type(key)
    if isinstance(key, rsa.RSAPrivateKey | dsa.DSAPrivateKey):
        _bound_key_bits(key.key_size)
    if isinstance(key, rsa.RSAPrivateKey):
        plain = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        try:
            return check_key_type(load_der_private_key(plain, None))
        except ValueError as exc:
            raise Malformed(
                "the RSA private key is not consistent (its numbers do not form a valid "
                "key): the file is damaged",
                hint="copy the key file again from where it was made",
            ) from exc
    return key


def _bound_key_bits(bits: int) -> None:
    if bits > MAX_KEY_BITS:
        raise KeyTooLarge(
            f"the private key has {bits:,} bits, more than the {MAX_KEY_BITS:,} certdesk "
            "takes (checking it would hold the service for tens of seconds; "
            "browsers expect 2,048 to 4,096)",
            hint="make a new key of RSA 2048 to 4096 bits, or EC P-256, and have the "
            "certificate issued again",
        )


_T = TypeVar("_T")


def _structure(read: Callable[[bytes], _T], data: bytes, what: str) -> _T:
    """``read(data)``, a damaged structure refused as ``malformed``."""
    try:
        return read(data)
    except der.DerError as exc:
        raise Malformed(
            f"the {what} file is corrupt: its structure {exc}",
            hint="the file was probably damaged when copied: get it again",
        ) from exc


def _bound_iterations(data: bytes, max_iterations: int, what: str) -> None:
    """Refuse before pyca derives anything if a key derivation would cost too much."""
    counts = _structure(der.iteration_counts, data, what)
    for part, count in counts:
        if count > max_iterations or count < 0:
            raise TooCostly(
                f"the {what} file asks for {count:,} iterations of {part}, more than the "
                f"{max_iterations:,} certdesk allows (Windows writes 2,000, OpenSSL 2,048): "
                "opening it would hold the service for minutes",
                hint="export the certificate again with the exporting tool's default "
                "settings (Windows' certificate export, or OpenSSL without a custom "
                "iteration count)",
            )


def check_key_type(key: object) -> PrivateKey:
    if isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey
        | dsa.DSAPrivateKey,
    ):
        return key
    raise UnsupportedFormat(
        f"the private key is of a kind TLS certificates do not use ({type(key).__name__})",
        hint="give the RSA or EC key that belongs to the certificate",
    )


# --- DER -------------------------------------------------------------------


def _load_der(data: bytes, password: bytes | None, max_iterations: int) -> Bundle:
    try:
        kind = der.sniff(data)
    except der.DerError as exc:
        raise Malformed(
            f"the file looks like binary (DER) data but {exc}",
            hint="the file was probably cut short when downloaded or attached: get it again",
        ) from exc
    if kind == "pkcs12":
        _bound_iterations(data, max_iterations, ".pfx")
        return _load_pkcs12(data, password)
    if kind == "pkcs7":
        return Bundle(certificates=tuple(_pkcs7(data, "DER")), private_key=None, format="pkcs7-der")
    end = der.outer(data).end
    if end != len(data) and data[end:].strip(b"\x00\r\n "):
        raise Malformed(
            f"the file has {len(data) - end} unexpected bytes after its DER content",
            hint="the file was damaged or two files were joined: get it again",
        )
    body = data[:end]
    try:
        cert = x509.load_der_x509_certificate(body)
    except x509.InvalidVersion as exc:
        raise Malformed(
            f"the file is a certificate with an invalid version ({exc})",
            hint="ask the issuer for the certificate file again",
        ) from exc
    except ValueError:
        pass
    else:
        return Bundle(certificates=(cert,), private_key=None, format="der")
    bits = der.rsa_private_modulus_bits(body)
    if bits is not None:
        _bound_key_bits(bits)
    _bound_iterations(body, max_iterations, "private key")
    key = _der_key(body, password)
    if key is not None:
        return Bundle(
            certificates=(),
            private_key=key,
            format="der",
            encryption="encrypted" if password else "none",
        )
    raise UnsupportedFormat(
        f"this is {_describe_der(body)}",
        hint="give a certificate (.crt, .pem, .cer), a .pfx or a private key",
    )


def _der_key(body: bytes, password: bytes | None) -> PrivateKey | None:
    try:
        return checked_key(load_der_private_key(body, None, unsafe_skip_rsa_key_validation=True))
    except TypeError:
        # An encrypted PKCS#8 key: it needs the password.
        if not password:
            raise WrongPassword(
                "the private key is encrypted and no password was given", fix=PASSWORD_FIX
            ) from None
        try:
            return checked_key(
                load_der_private_key(body, password, unsafe_skip_rsa_key_validation=True)
            )
        except ValueError as exc:
            raise WrongPassword(
                "the password does not open the encrypted private key", fix=PASSWORD_FIX
            ) from exc
    except (ValueError, UnsupportedAlgorithm):
        return None


def _describe_der(body: bytes) -> str:
    try:
        x509.load_der_x509_csr(body)
    except ValueError:
        pass
    else:
        return _REFUSED_LABELS[b"CERTIFICATE REQUEST"]
    try:
        x509.load_der_x509_crl(body)
    except ValueError:
        pass
    else:
        return _REFUSED_LABELS[b"X509 CRL"]
    try:
        load_der_public_key(body)
    except (ValueError, UnsupportedAlgorithm):
        pass
    else:
        return _REFUSED_LABELS[b"PUBLIC KEY"]
    return (
        "binary (DER) data that is neither a certificate, a private key, a PKCS#12 "
        "nor a PKCS#7 file (it may be corrupt)"
    )


def _pkcs7(raw: bytes, encoding: str) -> list[x509.Certificate]:
    try:
        with warnings.catch_warnings():
            # OpenSSL's crl2pkcs7 (and many CAs) write the certificate SET unsorted, which
            # is BER rather than DER; pyca reads it and warns. Browsers and OpenSSL accept it.
            warnings.filterwarnings("ignore", message="PKCS#7 certificates could not be parsed")
            certs = pkcs7.load_der_pkcs7_certificates(raw)
    except UnsupportedAlgorithm as exc:
        raise UnsupportedFormat(
            f"this PKCS#7 ({encoding}) file is not a certificate bundle ({exc}): it may be "
            "an encrypted or signed message",
            hint="give the .p7b certificate bundle from the certificate authority",
        ) from exc
    except ValueError as exc:
        raise Malformed(
            f"the PKCS#7 ({encoding}) bundle is corrupt ({exc})",
            hint="download the .p7b from the certificate authority again",
        ) from exc
    if not certs:
        raise NoCertificate(
            "the PKCS#7 bundle holds no certificates",
            hint="ask the certificate authority for the certificate itself (.crt or .p7b)",
        )
    return list(certs)


# --- PKCS#12 ---------------------------------------------------------------


def _load_pkcs12(data: bytes, password: bytes | None) -> Bundle:
    if password:
        try:
            password.decode("utf-8")
        except UnicodeDecodeError as exc:
            # pyca fails on such a password with a bare TypeError; PKCS#12 passwords are text.
            raise WrongPassword(
                "the password is not UTF-8 text, so it cannot open this .pfx file",
                hint="save the password file as UTF-8 (it is the one chosen when the file "
                "was exported)",
            ) from exc
    # With no password given, try "no password" and then the empty password: tools differ.
    candidates: list[bytes | None] = [password] if password else [None, b""]
    _bound_pkcs12_keys(data, password or b"")
    last: Exception | None = None
    for candidate in candidates:
        try:
            with warnings.catch_warnings():
                # Windows (and others) write .pfx files in BER; pyca reads them and warns.
                warnings.filterwarnings(
                    "ignore", message="PKCS#12 bundle could not be parsed as DER"
                )
                loaded = pkcs12.load_pkcs12(data, candidate)
        except ValueError as exc:
            last = exc
            continue
        except UnsupportedAlgorithm as exc:
            raise UnsupportedFormat(
                f"the .pfx uses an encryption certdesk cannot open ({exc})",
                hint="export it again with AES-256 (modern) or 3DES (legacy) encryption",
            ) from exc
        return _pkcs12_bundle(data, loaded)
    if password:
        raise WrongPassword(
            "the password does not open this .pfx file",
            hint="check the password for typing errors and that it belongs to this file; "
            "in a password file, only a trailing newline is ignored",
        ) from last
    raise WrongPassword(
        "this .pfx file is protected by a password and none was given", fix=PASSWORD_FIX
    ) from last


def _bound_pkcs12_keys(data: bytes, password: bytes) -> None:
    """Refuse a huge RSA key before pyca checks it (which it does while loading the file).

    The key bag is read (and, if shrouded, decrypted with checks skipped) on its own,
    under the iteration ceiling already applied; a bag that does not open here is left
    to pyca, which reports the password or the damage.
    """
    bags = _structure(der.pkcs12_key_bags, data, ".pfx")
    for shrouded, blob in bags:
        if not shrouded:
            bits = der.rsa_private_modulus_bits(blob)
            if bits is not None:
                _bound_key_bits(bits)
            continue
        try:
            key = load_der_private_key(blob, password, unsafe_skip_rsa_key_validation=True)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
        if isinstance(key, rsa.RSAPrivateKey | dsa.DSAPrivateKey):
            _bound_key_bits(key.key_size)


def _pkcs12_bundle(data: bytes, loaded: pkcs12.PKCS12KeyAndCertificates) -> Bundle:
    certs: list[x509.Certificate] = []
    name: bytes | None = None
    if loaded.cert is not None:
        certs.append(loaded.cert.certificate)
        name = loaded.cert.friendly_name
    certs.extend(c.certificate for c in loaded.additional_certs)
    key = checked_key(loaded.key) if loaded.key is not None else None
    return Bundle(
        certificates=tuple(certs),
        private_key=key,
        format="pkcs12",
        encryption=der.pkcs12_encryption(data),
        friendly_name=name.decode("utf-8", "replace") if name else None,
    )


# --- neither PEM nor DER -------------------------------------------------------


def _maybe_base64(data: bytes) -> bytes | None:
    """A .pfx or .cer pasted as bare base64 (as some mail and ticket tools do)."""
    compact = b"".join(data.split())
    if len(compact) < 64 or len(compact) % 4:
        return None
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if raw[:1] == bytes([der.SEQUENCE]) else None


def _describe_unknown(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "an HTML page (perhaps a download or login page saved by mistake)"
    if head.startswith(b"%pdf"):
        return "a PDF document"
    if head.startswith(b"pk\x03\x04"):
        return "a ZIP archive: unpack it and give the certificate file inside"
    if head.startswith(b"ssh-") or head.startswith(b"ecdsa-sha2"):
        return "an SSH public key"
    try:
        data[:512].decode("utf-8")
    except UnicodeDecodeError:
        return "binary data of an unknown kind"
    return "text without any PEM block (no -----BEGIN line)"
