"""A test CA at work with the ``openssl`` command line: signing the CSRs certdesk makes,
re-encoding certificates (DER, ``.p7b``), making ``.pfx`` files, and taking private keys
apart into the byte strings a leak would show (for the vault's raw-database scans).
"""

from __future__ import annotations

import base64
import re
import secrets
from pathlib import Path

from tests.openssl_pki import OpenSSLPKI, run_openssl

_EXT = """\
[ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = {sans}
"""


def sign_csr(pki: OpenSSLPKI, csr: Path, out: Path, sans: list[str], *, days: int = 90) -> Path:
    """The test intermediate signs ``csr`` (``openssl x509 -req``) for the DNS names ``sans``."""
    ext = out.with_suffix(".ext")
    ext.write_text(_EXT.format(sans=", ".join(f"DNS:{n}" for n in sans)))
    run_openssl(
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        pki.int_crt,
        "-CAkey",
        pki.int_key,
        "-set_serial",
        f"0x{secrets.token_hex(12)}",
        "-days",
        str(days),
        "-sha256",
        "-extfile",
        ext,
        "-extensions",
        "ext",
        "-out",
        out,
    )
    return out


def to_der(crt: Path, out: Path) -> Path:
    run_openssl("x509", "-in", crt, "-outform", "DER", "-out", out)
    return out


def with_chain(pki: OpenSSLPKI, crt: Path, out: Path) -> Path:
    """The leaf followed by the intermediate, as a CA's ``fullchain.pem``."""
    out.write_bytes(crt.read_bytes() + pki.int_crt.read_bytes())
    return out


def to_p7b(pki: OpenSSLPKI, crt: Path, out: Path, *, der: bool = False) -> Path:
    run_openssl(
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        crt,
        "-certfile",
        pki.int_crt,
        "-outform",
        "DER" if der else "PEM",
        "-out",
        out,
    )
    return out


def make_pfx(
    crt: Path, key: Path, out: Path, password: str, *chain: Path, legacy: bool = False
) -> Path:
    args: list[str | Path] = ["pkcs12", "-export", "-in", crt, "-inkey", key, "-out", out]
    args += ["-passout", f"pass:{password}"]
    for extra in chain:
        args += ["-certfile", extra]
    if legacy:
        args.append("-legacy")
    run_openssl(*args)
    return out


def key_from_pfx(pfx: Path, password: str, out: Path) -> Path:
    """The private key of a ``.pfx``, as openssl reads it (unencrypted PEM)."""
    pem = run_openssl("pkcs12", "-in", pfx, "-nocerts", "-nodes", "-passin", f"pass:{password}")
    out.write_bytes(run_openssl("pkey", stdin=pem))
    return out


def pkcs8_der(key: Path) -> bytes:
    """The key as unencrypted PKCS#8 DER (``openssl pkey -outform DER`` writes PKCS#1 for RSA)."""
    return run_openssl("pkcs8", "-topk8", "-nocrypt", "-in", key, "-outform", "DER")


def _hex_field(text: str, name: str) -> bytes:
    """A big integer from ``openssl pkey -text`` (``name:`` then colon-separated hex lines)."""
    match = re.search(rf"^{name}:\s*\n((?:\s+[0-9a-f:]+\n)+)", text, re.MULTILINE)
    assert match, f"openssl printed no {name}"
    digits = re.sub(r"[\s:]", "", match.group(1))
    raw = bytes.fromhex(digits)
    return raw.lstrip(b"\x00") or b"\x00"


def key_needles(key: Path) -> dict[str, bytes]:
    """What a private key leaked into storage would look like, each made by openssl.

    The PKCS#8 DER, the traditional DER (PKCS#1 for RSA, SEC1 for EC), the PEM body (and
    its first line, and the DERs' base64 and hex), and the secret numbers as big-endian
    bytes (RSA's private exponent and primes; EC's private scalar) and hex.
    """
    text = run_openssl("pkey", "-in", key, "-noout", "-text").decode()
    pkcs8 = pkcs8_der(key)
    is_rsa = "modulus:" in text
    if is_rsa:
        traditional = run_openssl("rsa", "-in", key, "-traditional", "-outform", "DER")
        numbers = {n: _hex_field(text, n) for n in ("privateExponent", "prime1", "prime2")}
    else:
        traditional = run_openssl("ec", "-in", key, "-outform", "DER")
        numbers = {"priv": _hex_field(text, "priv")}
    pem = run_openssl("pkey", "-in", key).decode()
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    needles: dict[str, bytes] = {
        "pkcs8-der": pkcs8,
        "traditional-der": traditional,
        "pem-body": body.encode(),
        "pem-first-line": pem.splitlines()[1].encode(),
        "pkcs8-base64": base64.b64encode(pkcs8),
        "traditional-base64": base64.b64encode(traditional),
        "pkcs8-hex": pkcs8.hex().encode(),
    }
    for name, value in numbers.items():
        needles[name] = value
        needles[f"{name}-hex"] = value.hex().encode()
    return needles
