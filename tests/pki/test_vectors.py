"""pyca's cryptography-vectors: real-world and deliberately odd files, none of them ours.

Every ``.p12`` opens with the password pyca's own tests give it
(tests/hazmat/primitives/test_pkcs12.py), and certdesk reads the same certificates and
key as pyca does. Every certificate-like file under ``x509/`` and ``x509/custom/``
either loads *and* can be described and checked, or is refused with a certdesk error
code: never an uncaught third-party exception.

Some vectors make pyca emit a warning (a negative serial number, a BER-encoded
PKCS#12, a malformed country name). Those are recorded and must come from pyca;
they are not errors of certdesk.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

import cryptography_vectors
import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from certdesk.errors import CertdeskError, WrongPassword
from certdesk.pki import CheckOptions, check_bundle, describe, load_bundle
from certdesk.pki.facts import fingerprint

VECTORS = Path(cryptography_vectors.__file__).parent
P12_DIR = VECTORS / "pkcs12"
X509_DIR = VECTORS / "x509"

INPUT_CODES = {
    "too-large",
    "malformed",
    "unsupported-format",
    "no-certificate",
    "no-private-key",
    "wrong-password",
}


def p12_password(name: str) -> bytes | None:
    """The password pyca's test_pkcs12.py uses for each vector file."""
    if name in {
        "cert-key-aes256cbc.p12",
        "cert-none-key-none.p12",
        "cert-rc2-key-3des.p12",
        "cert-aes256cbc-no-key.p12",
        "no-cert-key-aes256cbc.p12",
    }:
        return b"cryptography"
    if name.endswith("-no-pwd.p12") or name in {"no-password.p12", "java-truststore.p12"}:
        return None
    if name.endswith("-pwd.p12"):
        return b"password"
    raise AssertionError(f"no known password for {name}: add it from pyca's tests")


P12_FILES = sorted(P12_DIR.glob("*.p12"))
X509_FILES = sorted(p for p in X509_DIR.iterdir() if p.is_file()) + sorted(
    p for p in (X509_DIR / "custom").iterdir() if p.is_file()
)


def _pyca_warnings_only(caught: list[warnings.WarningMessage]) -> None:
    """pyca's warnings are UserWarning or its CryptographyDeprecationWarning subclass.

    (certdesk itself never calls ``warnings.warn``: test_purity checks that statically.)
    """
    for w in caught:
        assert issubclass(w.category, UserWarning), (w.category, w.message)


def test_there_are_vectors() -> None:
    assert len(P12_FILES) >= 25
    assert len(X509_FILES) >= 100


@pytest.mark.parametrize("path", P12_FILES, ids=[p.name for p in P12_FILES])
def test_every_p12_vector_loads_like_pyca(path: Path) -> None:
    data = path.read_bytes()
    password = p12_password(path.name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bundle = load_bundle(data, password)
        reference = pkcs12.load_pkcs12(data, password)
    _pyca_warnings_only(caught)

    expected = ([reference.cert.certificate] if reference.cert else []) + [
        c.certificate for c in reference.additional_certs
    ]
    assert [fingerprint(c) for c in bundle.certificates] == [fingerprint(c) for c in expected]
    assert bundle.format == "pkcs12"
    if reference.key is None:
        assert bundle.private_key is None
    else:
        assert bundle.private_key is not None
        assert bundle.private_key.public_key() == reference.key.public_key()
    name = reference.cert.friendly_name if reference.cert else None
    assert bundle.friendly_name == (name.decode() if name else None)
    for cert in bundle.certificates:
        describe(cert)


PROTECTED = [p for p in P12_FILES if p12_password(p.name)]


@pytest.mark.parametrize("path", PROTECTED, ids=[p.name for p in PROTECTED])
def test_p12_vector_with_wrong_or_no_password(path: Path) -> None:
    data = path.read_bytes()
    with pytest.raises(WrongPassword):
        load_bundle(data, b"not the password")
    with pytest.raises(WrongPassword):
        load_bundle(data)


@pytest.mark.parametrize("path", X509_FILES, ids=[str(p.relative_to(X509_DIR)) for p in X509_FILES])
def test_x509_vector_loads_or_is_refused_cleanly(path: Path) -> None:
    """Load, describe every certificate and run every check; only certdesk errors may escape."""
    data = path.read_bytes()
    refused: CertdeskError | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            bundle = load_bundle(data)
        except CertdeskError as exc:
            refused = exc
        else:
            assert bundle.certificates or bundle.private_key is not None
            for cert in bundle.certificates:
                info = describe(cert)
                assert info.sha256 == fingerprint(cert)
                info.to_json()
            if bundle.certificates:
                options = CheckOptions(at=datetime(2020, 1, 1, tzinfo=UTC))
                report = check_bundle(bundle, options)
                assert report.leaf.sha256 in {fingerprint(c) for c in bundle.certificates}
    if refused is not None:
        assert refused.code in INPUT_CODES
        assert refused.message
        assert refused.hint or refused.fix  # what to do: plain, or a fix per reader
    _pyca_warnings_only(caught)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("custom/invalid_version.pem", "malformed"),  # X.509 version 7
        ("custom/malformed-san.pem", "malformed"),  # subjectAltName does not parse
        ("custom/two_basic_constraints.pem", "malformed"),  # a duplicated extension
        ("custom/unsupported_subject_public_key_info.pem", "unsupported-format"),
        ("e-trust.ru.der", "unsupported-format"),  # a GOST key
        ("verisign_md2_root.pem", "unsupported-format"),  # MD2 signature
        ("custom/crl_empty.pem", "unsupported-format"),
        ("cryptography-scts-tbs-precert.der", "unsupported-format"),  # a TBS, not a cert
        ("cryptography.io.with_headers.pem", "wrong-password"),  # cert + encrypted key
        ("cryptography.io.with_garbage.pem", "malformed"),  # a PRIVATE KEY block of junk
    ],
)
def test_x509_vectors_refused_with_the_right_code(name: str, code: str) -> None:
    with pytest.raises(CertdeskError) as info:
        load_bundle((X509_DIR / name).read_bytes())
    assert info.value.code == code


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("cryptography.io.chain.pem", 2),
        ("cryptography.io.old_header.pem", 1),
        ("custom/alternate-rsa-sha1-oid.der", 1),
        ("custom/dsa_selfsigned_ca.pem", 1),
        ("custom/rsa_pss_cert.pem", 1),
        ("ed25519/root-ed25519.pem", 1),
        ("custom/san_idna_names.pem", 1),
    ],
)
def test_x509_vectors_that_load(name: str, count: int) -> None:
    bundle = load_bundle((X509_DIR / name).read_bytes())
    assert len(bundle.certificates) == count
