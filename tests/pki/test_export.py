"""certdesk.pki.export: what certdesk writes, read back by the real ``openssl`` command."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certdesk.errors import InvalidArgument, KeyMismatch
from certdesk.pki import (
    PrivateKey,
    ensure_key_matches,
    key_to_pem,
    load_bundle,
    load_private_key,
    to_der,
    to_p7b,
    to_pem,
    to_pfx,
)
from certdesk.pki.facts import fingerprint, spki_sha256
from tests.openssl_pki import PFX_PASSWORD, UTF8_PASSWORD, OpenSSLPKI, run_openssl

PW = PFX_PASSWORD.encode()


def _key(pki: OpenSSLPKI, name: str) -> PrivateKey:
    return load_private_key(getattr(pki, f"{name}_key").read_bytes())


def _openssl_read_pfx(path: Path, password: str, *, legacy: bool) -> tuple[list[str], str]:
    """Fingerprints of the certificates and SPKI hash of the key ``openssl pkcs12`` reads."""
    extra = ["-legacy"] if legacy else []
    out = run_openssl("pkcs12", "-in", path, "-passin", f"pass:{password}", "-nodes", *extra)
    certs = x509.load_pem_x509_certificates(out)
    start = out.index(b"-----BEGIN PRIVATE KEY-----")
    end = out.index(b"-----END PRIVATE KEY-----") + len(b"-----END PRIVATE KEY-----")
    key = load_pem_private_key(out[start:end], None)
    return [fingerprint(c) for c in certs], spki_sha256(key)


@pytest.mark.parametrize("legacy", [False, True], ids=["modern", "legacy"])
def test_to_pfx_is_read_by_openssl(pki: OpenSSLPKI, tmp_path: Path, legacy: bool) -> None:
    leaf, inter = pki.cert("leaf"), pki.cert("int")
    data = to_pfx(
        _key(pki, "leaf"), leaf, [inter], password=PW, legacy=legacy, friendly_name="store.test.com"
    )
    path = tmp_path / "out.pfx"
    path.write_bytes(data)
    certs, key_spki = _openssl_read_pfx(path, PFX_PASSWORD, legacy=legacy)
    assert sorted(certs) == sorted([fingerprint(leaf), fingerprint(inter)])
    assert key_spki == spki_sha256(leaf.public_key())
    done = subprocess.run(
        [
            "openssl",
            "pkcs12",
            "-in",
            str(path),
            "-passin",
            f"pass:{PFX_PASSWORD}",
            "-info",
            "-nodes",
            *(["-legacy"] if legacy else []),
        ],
        capture_output=True,
        check=True,
    )
    info = (done.stdout + done.stderr).decode()  # -info writes to standard error
    if legacy:
        assert "pbeWithSHA1And3-KeyTripleDES-CBC" in info
        assert "MAC: sha1" in info
    else:
        assert "AES-256-CBC" in info
        assert "MAC: sha256" in info
    assert "friendlyName: store.test.com" in info
    assert load_bundle(data, PW).encryption == ("legacy" if legacy else "modern")


def test_to_pfx_with_a_utf8_password_is_read_by_openssl(pki: OpenSSLPKI, tmp_path: Path) -> None:
    leaf = pki.cert("leaf")
    path = tmp_path / "utf8.pfx"
    path.write_bytes(to_pfx(_key(pki, "leaf"), leaf, password=UTF8_PASSWORD.encode()))
    certs, key_spki = _openssl_read_pfx(path, UTF8_PASSWORD, legacy=False)
    assert certs == [fingerprint(leaf)]
    assert key_spki == spki_sha256(leaf.public_key())


def test_to_pfx_refuses_an_empty_password(pki: OpenSSLPKI) -> None:
    with pytest.raises(InvalidArgument):
        to_pfx(_key(pki, "leaf"), pki.cert("leaf"), password=b"")


def test_to_pfx_refuses_the_wrong_key(pki: OpenSSLPKI) -> None:
    with pytest.raises(KeyMismatch) as info:
        to_pfx(_key(pki, "other"), pki.cert("leaf"), password=PW)
    assert info.value.code == "key-mismatch"


def test_ensure_key_matches(pki: OpenSSLPKI) -> None:
    ensure_key_matches(_key(pki, "leaf"), pki.cert("leaf"))
    ensure_key_matches(load_private_key(pki.p384_key_sec1.read_bytes()), pki.cert("p384"))
    for key, cert in [("other", "leaf"), ("leaf", "wildcard"), ("p384", "leaf")]:
        with pytest.raises(KeyMismatch):
            ensure_key_matches(_key(pki, key), pki.cert(cert))


@pytest.mark.parametrize("pem", [False, True], ids=["der", "pem"])
def test_to_p7b_is_read_by_openssl(pki: OpenSSLPKI, tmp_path: Path, pem: bool) -> None:
    certs = [pki.cert(n) for n in ("leaf", "int", "root")]
    path = tmp_path / "out.p7b"
    path.write_bytes(to_p7b(certs, pem=pem))
    out = run_openssl("pkcs7", "-in", path, "-inform", "PEM" if pem else "DER", "-print_certs")
    assert sorted(fingerprint(c) for c in x509.load_pem_x509_certificates(out)) == sorted(
        fingerprint(c) for c in certs
    )


def test_to_pem_and_to_der_match_openssl(pki: OpenSSLPKI) -> None:
    leaf, inter = pki.cert("leaf"), pki.cert("int")
    assert to_der(leaf) == pki.leaf_der.read_bytes()
    assert to_pem([leaf, inter]) == pki.leaf_crt.read_bytes() + pki.int_crt.read_bytes()


@pytest.mark.parametrize("password", [None, PW], ids=["plain", "encrypted"])
def test_key_to_pem_is_read_by_openssl(
    pki: OpenSSLPKI, tmp_path: Path, password: bytes | None
) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(key_to_pem(_key(pki, "leaf"), password))
    passin = ["-passin", f"pass:{PFX_PASSWORD}"] if password else ["-passin", "pass:"]
    pub = run_openssl("pkey", "-in", path, *passin, "-pubout", "-outform", "DER")
    expected = run_openssl("pkey", "-in", pki.leaf_key, "-pubout", "-outform", "DER")
    assert pub == expected
    assert (b"ENCRYPTED" in path.read_bytes()) is bool(password)


# --- round trip ------------------------------------------------------------------------

passwords = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
    min_size=1,
    max_size=20,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.sampled_from(["leaf", "p384", "wildcard"]),
    with_chain=st.booleans(),
    password=passwords,
    legacy=st.booleans(),
    name=st.none() | st.text(alphabet="abcdefghij .-", min_size=1, max_size=12),
)
def test_pem_to_pfx_to_load_round_trip(
    pki: OpenSSLPKI,
    which: str,
    with_chain: bool,
    password: str,
    legacy: bool,
    name: str | None,
) -> None:
    source = load_bundle(
        getattr(pki, f"{which}_crt").read_bytes()
        + getattr(pki, f"{which}_key").read_bytes()
        + (pki.chain_pem.read_bytes() if with_chain else b"")
    )
    assert source.private_key is not None
    leaf, *chain = source.certificates
    data = to_pfx(
        source.private_key,
        leaf,
        chain,
        password=password.encode(),
        legacy=legacy,
        friendly_name=name,
    )
    back = load_bundle(data, password.encode())
    assert [fingerprint(c) for c in back.certificates] == [
        fingerprint(c) for c in source.certificates
    ]
    assert back.private_key is not None
    assert spki_sha256(back.private_key) == spki_sha256(leaf.public_key())
    assert back.friendly_name == (name or None)
    assert back.encryption == ("legacy" if legacy else "modern")
