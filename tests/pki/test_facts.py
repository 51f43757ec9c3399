"""certdesk.pki.facts against what the ``openssl x509`` command prints for the same file."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import cryptography_vectors
import pytest
from cryptography import x509

from certdesk.pki import describe, fingerprint, iso_utc, load_private_key, spki_sha256, time_left
from tests.openssl_pki import (
    OpenSSLPKI,
    openssl_date,
    openssl_fingerprint,
    openssl_spki_sha256,
    openssl_x509,
    run_openssl,
)

NAMES = [
    "root",
    "int",
    "leaf",
    "wildcard",
    "expired",
    "sha1",
    "p384",
    "selfsigned",
    "nosan",
    "clientonly",
]

EKU_TEXT = {
    "TLS Web Server Authentication": "serverAuth",
    "TLS Web Client Authentication": "clientAuth",
}


@dataclass
class Printed:
    """What ``openssl x509`` prints about one certificate file."""

    lines: dict[str, str]  # serial=, notBefore=, subject=, sha256 Fingerprint= ...
    sha1: str
    ext: dict[str, str]  # "Subject Alternative Name" -> its printed value
    text: str
    spki_sha256: str


def _extensions(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    header = None
    for line in text.splitlines():
        if line and not line[0].isspace():
            header = line.removeprefix("X509v3 ").split(":", 1)[0]
            out[header] = ""
        elif header is not None:
            out[header] += line.strip()
    return out


@pytest.fixture(scope="module")
def printed(pki: OpenSSLPKI) -> dict[str, Printed]:
    out = {}
    for name in NAMES:
        path = getattr(pki, f"{name}_crt")
        basic = openssl_x509(
            path,
            "-serial",
            "-startdate",
            "-enddate",
            "-subject",
            "-issuer",
            "-nameopt",
            "RFC2253",
            "-fingerprint",
            "-sha256",
        )
        out[name] = Printed(
            lines=dict(line.split("=", 1) for line in basic.splitlines()),
            sha1=openssl_fingerprint(path, "sha1"),
            ext=_extensions(
                openssl_x509(
                    path, "-ext", "subjectAltName,basicConstraints,keyUsage,extendedKeyUsage"
                )
            ),
            text=openssl_x509(path, "-text"),
            spki_sha256=openssl_spki_sha256(path, is_cert=True),
        )
    return out


@pytest.mark.parametrize("name", NAMES)
def test_fingerprints_match_openssl(
    pki: OpenSSLPKI, printed: dict[str, Printed], name: str
) -> None:
    info = describe(pki.cert(name))
    said = printed[name]
    assert info.sha256 == said.lines["sha256 Fingerprint"].replace(":", "").lower()
    assert info.sha1 == said.sha1
    assert fingerprint(pki.cert(name)) == info.sha256


@pytest.mark.parametrize("name", NAMES)
def test_serial_matches_openssl(pki: OpenSSLPKI, printed: dict[str, Printed], name: str) -> None:
    assert describe(pki.cert(name)).serial == printed[name].lines["serial"].lower()


@pytest.mark.parametrize("name", NAMES)
def test_validity_matches_openssl(pki: OpenSSLPKI, printed: dict[str, Printed], name: str) -> None:
    info = describe(pki.cert(name))
    lines = printed[name].lines
    assert info.not_after == openssl_date("notAfter=" + lines["notAfter"])
    assert info.not_before == openssl_date("notBefore=" + lines["notBefore"])
    assert info.not_after.utcoffset() == timedelta(0)


@pytest.mark.parametrize("name", NAMES)
def test_subject_alt_names_match_openssl(
    pki: OpenSSLPKI, printed: dict[str, Printed], name: str
) -> None:
    info = describe(pki.cert(name))
    san = printed[name].ext.get("Subject Alternative Name")
    assert info.has_san == (san is not None)
    assert list(info.dns_names) == re.findall(r"DNS:([^,\s]+)", san or "")


@pytest.mark.parametrize("name", NAMES)
def test_subject_and_issuer_match_openssl(
    pki: OpenSSLPKI, printed: dict[str, Printed], name: str
) -> None:
    info = describe(pki.cert(name))
    assert info.subject == printed[name].lines["subject"]
    assert info.issuer == printed[name].lines["issuer"]
    assert info.self_issued == (info.subject == info.issuer)


@pytest.mark.parametrize("name", NAMES)
def test_key_and_signature_match_openssl(
    pki: OpenSSLPKI, printed: dict[str, Printed], name: str
) -> None:
    info = describe(pki.cert(name))
    text = printed[name].text
    bits = re.search(r"Public-Key: \((\d+) bit\)", text)
    assert bits is not None
    assert info.key_size == int(bits.group(1))
    algorithm = re.search(r"Public Key Algorithm: (\S+)", text)
    assert algorithm is not None
    assert info.key_type == {"rsaEncryption": "RSA", "id-ecPublicKey": "EC"}[algorithm.group(1)]
    curve = re.search(r"NIST CURVE: (\S+)", text)
    assert info.key_curve == ({"P-384": "secp384r1"}[curve.group(1)] if curve else None)
    signature = re.search(r"Signature Algorithm: (\S+)", text)
    assert signature is not None
    assert info.signature_algorithm == signature.group(1)
    assert info.signature_hash is not None
    assert info.signature_hash in signature.group(1).lower()
    assert info.spki_sha256 == printed[name].spki_sha256


@pytest.mark.parametrize("name", NAMES)
def test_constraints_and_usages_match_openssl(
    pki: OpenSSLPKI, printed: dict[str, Printed], name: str
) -> None:
    info = describe(pki.cert(name))
    ext = printed[name].ext
    bc = ext.get("Basic Constraints", "")
    assert info.is_ca == ("CA:TRUE" in bc)
    pathlen = re.search(r"pathlen:(\d+)", bc)
    assert info.path_length == (int(pathlen.group(1)) if pathlen else None)
    eku = [EKU_TEXT[i.strip()] for i in ext.get("Extended Key Usage", "").split(",") if i.strip()]
    assert info.extended_key_usage == (tuple(eku) if eku else None)
    ku = ext.get("Key Usage")
    if ku is None:
        assert info.key_usage is None
    else:
        assert info.key_usage is not None
        assert ("Certificate Sign" in ku) == ("key_cert_sign" in info.key_usage)
        assert ("Digital Signature" in ku) == ("digital_signature" in info.key_usage)
        assert ("Key Encipherment" in ku) == ("key_encipherment" in info.key_usage)


@pytest.mark.parametrize("name", ["leaf", "p384", "other"])
def test_spki_of_private_key_matches_openssl(pki: OpenSSLPKI, name: str) -> None:
    path = getattr(pki, f"{name}_key")
    key = load_private_key(path.read_bytes())
    assert spki_sha256(key) == openssl_spki_sha256(path, is_cert=False)
    assert spki_sha256(key.public_key()) == spki_sha256(key)


def test_leaf_fields(pki: OpenSSLPKI) -> None:
    info = describe(pki.cert("leaf"))
    # The values openssl was told to write (tests/openssl_pki.py), read back field by field.
    assert info.common_name == "store.test.com"
    assert info.field("O") == "Test Inc."
    assert info.field("C") == "GR"
    assert info.field("OU") is None
    assert info.issuer_common_name == "certdesk Test Intermediate CA"
    made = pki.made_at
    assert info.not_before == made - timedelta(days=1)
    assert info.not_after == made + timedelta(days=365)


def test_to_json_is_plain_and_in_utc(pki: OpenSSLPKI) -> None:
    info = describe(pki.cert("wildcard"))
    data = info.to_json()
    assert data["not_after"] == iso_utc(info.not_after)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["not_after"])
    assert data["dns_names"] == ["*.test.com", "test.com"]
    assert data["key"] == {"type": "RSA", "size": 2048, "curve": None}
    assert data["sha256"] == info.sha256


def test_iso_utc_converts_other_zones() -> None:
    athens = timezone(timedelta(hours=3))
    assert iso_utc(datetime(2030, 6, 1, 15, 0, 5, tzinfo=athens)) == "2030-06-01T12:00:05Z"
    assert iso_utc(datetime(2030, 6, 1, 12, 0, 5, tzinfo=UTC)) == "2030-06-01T12:00:05Z"


def test_ip_address_sans() -> None:
    path = Path(cryptography_vectors.__file__).parent / "x509" / "custom" / "san_ipaddr.pem"
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    text = run_openssl("x509", "-in", path, "-noout", "-ext", "subjectAltName").decode()
    printed = re.findall(r"IP Address:([0-9A-Fa-f:.]+)", text)
    assert printed
    assert [ipaddress.ip_address(i) for i in describe(cert).ip_addresses] == [
        ipaddress.ip_address(i) for i in printed
    ]


AT = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("offset", "words"),
    [
        (timedelta(days=45, hours=23), "in 45 days"),
        (timedelta(days=2), "in 2 days"),
        (timedelta(days=1, hours=23, minutes=59), "in 47 hours"),  # not "in 1 days"
        (timedelta(days=1), "in 24 hours"),
        (timedelta(hours=1), "in 1 hour"),
        (timedelta(minutes=59), "in less than an hour"),
        (timedelta(0), "less than an hour ago"),  # expired at the instant itself
        (-timedelta(minutes=5), "less than an hour ago"),
        (-timedelta(hours=15), "15 hours ago"),  # not "1 day(s) ago"
        (-timedelta(hours=1), "1 hour ago"),
        (-timedelta(days=2), "2 days ago"),
        (-timedelta(days=10, hours=12), "10 days ago"),
    ],
)
def test_time_left_in_words(offset: timedelta, words: str) -> None:
    assert time_left(AT + offset, AT) == words
