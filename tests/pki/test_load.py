"""certdesk.pki.load: every format OpenSSL writes is recognised from its bytes alone."""

from __future__ import annotations

import base64
import gc
import random
import re
import shutil
from pathlib import Path

import cryptography_vectors
import pytest
from cryptography import x509

from certdesk.errors import (
    CertdeskError,
    InputError,
    Malformed,
    NoCertificate,
    NoPrivateKey,
    TooLarge,
    UnsupportedFormat,
    WrongPassword,
)
from certdesk.pki import DEFAULT_MAX_BYTES, load_bundle, load_certificates, load_private_key
from certdesk.pki.facts import describe, fingerprint
from tests.openssl_pki import PFX_PASSWORD, UTF8_PASSWORD, OpenSSLPKI, run_openssl

PW = PFX_PASSWORD.encode()
VECTORS = Path(cryptography_vectors.__file__).parent


def _pem_certs(path: Path) -> list[x509.Certificate]:
    """What pyca (not certdesk) reads from an openssl-written PEM file."""
    return x509.load_pem_x509_certificates(path.read_bytes())


# attribute, password, format, certificate file names (in order), key owner, encryption
CASES = [
    ("leaf_crt", None, "pem", ["leaf"], None, ""),
    ("chain_pem", None, "pem", ["int", "root"], None, ""),
    ("fullchain_pem", None, "pem", ["leaf", "int", "root"], None, ""),
    ("leaf_der", None, "der", ["leaf"], None, ""),
    ("p7b_pem", None, "pkcs7-pem", ["leaf", "int"], None, ""),
    ("p7b_der", None, "pkcs7-der", ["leaf", "int"], None, ""),
    ("wildcard_crt", None, "pem", ["wildcard"], None, ""),
    ("leaf_key", None, "pem", [], "leaf", "none"),
    ("leaf_key_der", None, "der", [], "leaf", "none"),
    ("leaf_key_pkcs1", None, "pem", [], "leaf", "none"),
    ("leaf_key_encrypted", PW, "pem", [], "leaf", "encrypted"),
    ("p384_key_sec1", None, "pem", [], "p384", "none"),
    ("p384_key", None, "pem", [], "p384", "none"),
    ("modern_pfx", PW, "pkcs12", ["leaf", "int"], "leaf", "modern"),
    ("legacy_pfx", PW, "pkcs12", ["leaf", "int"], "leaf", "legacy"),
    ("nopass_pfx", None, "pkcs12", ["leaf", "int"], "leaf", "modern"),
    ("utf8_pfx", UTF8_PASSWORD.encode(), "pkcs12", ["leaf", "int"], "leaf", "modern"),
    ("nokey_pfx", PW, "pkcs12", ["leaf", "int"], None, "modern"),
    ("nochain_pfx", PW, "pkcs12", ["leaf"], "leaf", "modern"),
]


@pytest.mark.parametrize(
    ("attr", "password", "fmt", "cert_names", "key_owner", "encryption"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_every_openssl_format_loads(
    pki: OpenSSLPKI,
    tmp_path: Path,
    attr: str,
    password: bytes | None,
    fmt: str,
    cert_names: list[str],
    key_owner: str | None,
    encryption: str,
) -> None:
    # Copied under a misleading name: only the bytes may decide the format.
    misleading = tmp_path / ("x.pem" if fmt != "pem" else "x.pfx")
    shutil.copyfile(getattr(pki, attr), misleading)
    bundle = load_bundle(misleading.read_bytes(), password)

    assert bundle.format == fmt
    assert bundle.encryption == encryption
    expected = [fingerprint(pki.cert(name)) for name in cert_names]
    assert [fingerprint(c) for c in bundle.certificates] == expected
    if key_owner is None:
        assert bundle.private_key is None
    else:
        assert bundle.private_key is not None
        assert bundle.private_key.public_key() == pki.cert(key_owner).public_key()


def test_der_certificate_matches_openssl_pem(pki: OpenSSLPKI) -> None:
    (cert,) = load_certificates(pki.leaf_der.read_bytes())
    assert cert == _pem_certs(pki.leaf_crt)[0]


def test_pfx_pasted_as_bare_base64(pki: OpenSSLPKI) -> None:
    raw = pki.modern_pfx.read_bytes()
    pasted = base64.encodebytes(raw)  # 76-character lines, as mail clients wrap them
    bundle = load_bundle(pasted, PW)
    assert bundle.format == "pkcs12"
    assert [fingerprint(c) for c in bundle.certificates] == [
        fingerprint(pki.cert("leaf")),
        fingerprint(pki.cert("int")),
    ]


def test_text_before_between_and_after_pem_blocks(pki: OpenSSLPKI) -> None:
    leaf, inter = pki.leaf_crt.read_bytes(), pki.int_crt.read_bytes()
    key = pki.leaf_key.read_bytes()
    data = (
        b"Subject: store.test.com\nissuer=certdesk\n\n"
        + leaf
        + b"\n-- the intermediate follows --\n"
        + inter
        + b"\r\n\r\nand the key:\n"
        + key
        + b"\nThanks, the CA team\n"
    )
    bundle = load_bundle(data)
    assert [fingerprint(c) for c in bundle.certificates] == [
        fingerprint(pki.cert("leaf")),
        fingerprint(pki.cert("int")),
    ]
    assert bundle.private_key is not None
    assert bundle.private_key.public_key() == pki.cert("leaf").public_key()


def test_crlf_line_endings(pki: OpenSSLPKI) -> None:
    data = pki.fullchain_pem.read_bytes().replace(b"\n", b"\r\n")
    assert len(load_certificates(data)) == 3


def test_order_of_blocks_does_not_matter(pki: OpenSSLPKI) -> None:
    blocks = [
        pki.leaf_crt.read_bytes(),
        pki.int_crt.read_bytes(),
        pki.root_crt.read_bytes(),
        pki.leaf_key_pkcs1.read_bytes(),
    ]
    reference = load_bundle(b"".join(blocks))
    rng = random.Random(1234)
    for _ in range(5):
        rng.shuffle(blocks)
        shuffled = load_bundle(b"\n".join(blocks))
        assert {fingerprint(c) for c in shuffled.certificates} == {
            fingerprint(c) for c in reference.certificates
        }
        assert len(shuffled.certificates) == 3
        assert shuffled.private_key is not None
        assert reference.private_key is not None
        assert shuffled.private_key.public_key() == reference.private_key.public_key()


def test_old_x509_certificate_label() -> None:
    data = (VECTORS / "x509" / "cryptography.io.old_header.pem").read_bytes()
    assert b"BEGIN X509 CERTIFICATE" in data
    (cert,) = load_certificates(data)
    expected = x509.load_pem_x509_certificate(
        (VECTORS / "x509" / "cryptography.io.pem").read_bytes()
    )
    assert cert == expected


# --- passwords -----------------------------------------------------------------------


@pytest.mark.parametrize("attr", ["modern_pfx", "legacy_pfx", "utf8_pfx", "nokey_pfx"])
def test_wrong_password_for_pfx(pki: OpenSSLPKI, attr: str) -> None:
    with pytest.raises(WrongPassword) as info:
        load_bundle(getattr(pki, attr).read_bytes(), b"not-the-password")
    assert info.value.code == "wrong-password"
    assert "not-the-password" not in str(info.value)
    assert info.value.hint


@pytest.mark.parametrize("attr", ["modern_pfx", "legacy_pfx", "utf8_pfx"])
def test_no_password_for_protected_pfx(pki: OpenSSLPKI, attr: str) -> None:
    with pytest.raises(WrongPassword) as info:
        load_bundle(getattr(pki, attr).read_bytes())
    assert info.value.code == "wrong-password"
    assert "none was given" in info.value.message


def test_utf8_password_is_not_read_as_latin1(pki: OpenSSLPKI) -> None:
    with pytest.raises(WrongPassword):
        load_bundle(pki.utf8_pfx.read_bytes(), UTF8_PASSWORD.encode("latin-1", "replace"))


def test_password_given_for_unprotected_pfx_still_opens(pki: OpenSSLPKI) -> None:
    # ``-passout pass:`` writes an empty password; a user may still type one by habit.
    bundle = load_bundle(pki.nopass_pfx.read_bytes(), b"")
    assert bundle.private_key is not None


@pytest.mark.parametrize("password", [None, b"wrong"])
def test_encrypted_pem_key_needs_its_password(pki: OpenSSLPKI, password: bytes | None) -> None:
    with pytest.raises(WrongPassword) as info:
        load_private_key(pki.leaf_key_encrypted.read_bytes(), password)
    assert info.value.code == "wrong-password"


@pytest.mark.parametrize("password", [None, b"wrong"])
def test_encrypted_der_key_needs_its_password(
    pki: OpenSSLPKI, tmp_path: Path, password: bytes | None
) -> None:
    der = tmp_path / "enc.der"
    run_openssl(
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        pki.leaf_key,
        "-outform",
        "DER",
        "-passout",
        f"pass:{PFX_PASSWORD}",
        "-out",
        der,
    )
    with pytest.raises(WrongPassword):
        load_private_key(der.read_bytes(), password)
    key = load_private_key(der.read_bytes(), PW)
    assert key.public_key() == pki.cert("leaf").public_key()


def test_password_given_for_plain_key_is_ignored(pki: OpenSSLPKI) -> None:
    key = load_private_key(pki.leaf_key.read_bytes(), b"unneeded")
    assert key.public_key() == pki.cert("leaf").public_key()


# --- damaged input ---------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_truncated_pfx_is_malformed(pki: OpenSSLPKI, keep: float) -> None:
    raw = pki.modern_pfx.read_bytes()
    with pytest.raises(Malformed) as info:
        load_bundle(raw[: int(len(raw) * keep)], PW)
    assert info.value.code == "malformed"


def test_truncated_pem_is_malformed(pki: OpenSSLPKI) -> None:
    text = pki.fullchain_pem.read_bytes()
    cut = text[: text.index(b"-----END CERTIFICATE-----", 100) + 300]
    with pytest.raises(Malformed) as info:
        load_bundle(cut)
    assert info.value.code == "malformed"
    assert "END" in info.value.message


def test_truncated_der_certificate_is_malformed(pki: OpenSSLPKI) -> None:
    raw = pki.leaf_der.read_bytes()
    with pytest.raises(Malformed):
        load_bundle(raw[:-20])


def test_corrupt_base64_is_malformed(pki: OpenSSLPKI) -> None:
    lines = pki.leaf_crt.read_bytes().splitlines(keepends=True)
    lines[3] = b"!!!!" + lines[3][4:]
    with pytest.raises(Malformed) as info:
        load_bundle(b"".join(lines))
    assert info.value.code == "malformed"


def test_valid_base64_that_is_no_certificate_is_malformed() -> None:
    body = base64.encodebytes(b"\x30\x03\x02\x01\x00" + b"garbage" * 20)
    data = b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"
    with pytest.raises(Malformed):
        load_bundle(data)


def test_der_with_trailing_junk_is_malformed(pki: OpenSSLPKI) -> None:
    with pytest.raises(Malformed):
        load_bundle(pki.leaf_der.read_bytes() + b"junk after the certificate")


# --- what is not a certificate ---------------------------------------------------------


@pytest.mark.parametrize("outform", ["PEM", "DER"])
def test_csr_is_unsupported_format(pki: OpenSSLPKI, tmp_path: Path, outform: str) -> None:
    path = tmp_path / "request"
    run_openssl("req", "-in", pki.csr, "-outform", outform, "-out", path)
    with pytest.raises(UnsupportedFormat) as info:
        load_bundle(path.read_bytes())
    assert info.value.code == "unsupported-format"
    assert "signing request" in info.value.message


@pytest.mark.parametrize("outform", ["PEM", "DER"])
def test_crl_is_unsupported_format(tmp_path: Path, outform: str) -> None:
    path = tmp_path / "list"
    source = VECTORS / "x509" / "custom" / "crl_all_reasons.pem"
    run_openssl("crl", "-in", source, "-outform", outform, "-out", path)
    with pytest.raises(UnsupportedFormat) as info:
        load_bundle(path.read_bytes())
    assert "revocation list" in info.value.message


def test_public_key_alone_is_unsupported_format(pki: OpenSSLPKI) -> None:
    pub = run_openssl("pkey", "-in", pki.leaf_key, "-pubout")
    with pytest.raises(UnsupportedFormat):
        load_bundle(pub)
    der = run_openssl("pkey", "-in", pki.leaf_key, "-pubout", "-outform", "DER")
    with pytest.raises(UnsupportedFormat):
        load_bundle(der)


@pytest.mark.parametrize(
    "data",
    [
        b"<!DOCTYPE html><html><body>Sign in</body></html>",
        b"%PDF-1.7\n%binary",
        b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample user@host\n",
        b"just a note, no certificate here\n",
        bytes(range(1, 200)),
    ],
    ids=["html", "pdf", "ssh", "text", "binary"],
)
def test_other_files_are_unsupported_format(data: bytes) -> None:
    with pytest.raises(UnsupportedFormat) as info:
        load_bundle(data)
    assert isinstance(info.value, InputError)


@pytest.mark.parametrize("attr", ["leaf_key", "leaf_key_der", "p384_key_sec1", "leaf_key_pkcs1"])
def test_key_only_file_has_no_certificate(pki: OpenSSLPKI, attr: str) -> None:
    with pytest.raises(NoCertificate) as info:
        load_certificates(getattr(pki, attr).read_bytes())
    assert info.value.code == "no-certificate"


@pytest.mark.parametrize("attr", ["leaf_crt", "leaf_der", "p7b_der", "fullchain_pem"])
def test_certificate_only_file_has_no_private_key(pki: OpenSSLPKI, attr: str) -> None:
    with pytest.raises(NoPrivateKey) as info:
        load_private_key(getattr(pki, attr).read_bytes())
    assert info.value.code == "no-private-key"


def test_pfx_without_key_has_no_private_key(pki: OpenSSLPKI) -> None:
    with pytest.raises(NoPrivateKey):
        load_private_key(pki.nokey_pfx.read_bytes(), PW)


def test_two_keys_in_one_file_are_refused(pki: OpenSSLPKI) -> None:
    data = pki.leaf_key.read_bytes() + pki.other_key.read_bytes()
    with pytest.raises(UnsupportedFormat):
        load_bundle(data)


# --- size limits ---------------------------------------------------------------------


def test_more_than_one_mebibyte_is_too_large(pki: OpenSSLPKI) -> None:
    padding = b"# padding line\n" * (DEFAULT_MAX_BYTES // 15 + 1)
    data = pki.leaf_crt.read_bytes() + padding
    assert len(data) > 1024 * 1024
    with pytest.raises(TooLarge) as info:
        load_bundle(data)
    assert info.value.code == "too-large"


def test_exactly_the_limit_is_accepted(pki: OpenSSLPKI) -> None:
    cert = pki.leaf_crt.read_bytes()
    data = cert + b"\n" * (DEFAULT_MAX_BYTES - len(cert))
    assert len(data) == DEFAULT_MAX_BYTES
    assert len(load_certificates(data)) == 1


def test_max_bytes_is_respected(pki: OpenSSLPKI) -> None:
    data = pki.fullchain_pem.read_bytes()
    with pytest.raises(TooLarge):
        load_certificates(data, max_bytes=len(data) - 1)
    assert len(load_certificates(data, max_bytes=len(data))) == 3


@pytest.mark.parametrize("data", [b"", b"   \n\r\n\t"], ids=["empty", "whitespace"])
def test_empty_file_is_malformed(data: bytes) -> None:
    with pytest.raises(Malformed) as info:
        load_bundle(data)
    assert info.value.code == "malformed"


# --- the errors themselves -------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (TooLarge, "too-large"),
        (Malformed, "malformed"),
        (UnsupportedFormat, "unsupported-format"),
        (NoCertificate, "no-certificate"),
        (NoPrivateKey, "no-private-key"),
        (WrongPassword, "wrong-password"),
    ],
)
def test_input_errors_share_the_root(error: type[CertdeskError], code: str) -> None:
    instance = error("what is wrong", hint="what to do")
    assert isinstance(instance, InputError)
    assert isinstance(instance, CertdeskError)
    assert instance.to_dict() == {"code": code, "message": "what is wrong", "hint": "what to do"}
    assert str(instance) == "what is wrong"


def test_wrong_password_message_carries_no_secret(pki: OpenSSLPKI) -> None:
    secret = "hunter2-" + "x" * 8
    with pytest.raises(WrongPassword) as info:
        load_bundle(pki.modern_pfx.read_bytes(), secret.encode())
    text = repr(info.value.to_dict())
    assert secret not in text
    assert not re.search(r"BEGIN .*PRIVATE KEY", text)


# --- bulk bundles: the garbage collector is paused while their facts are read ----------

_BULK_NAMES = ("leaf_crt", "int_crt", "root_crt", "wildcard_crt", "p384_crt", "expired_crt")


def _bulk_pem(pki: OpenSSLPKI, count: int = 100) -> bytes:
    """``count`` openssl-written certificates of different shapes, as one PEM bundle."""
    pems = [getattr(pki, name).read_bytes() for name in _BULK_NAMES]
    return b"".join(pems[i % len(pems)] for i in range(count))


def test_bulk_bundle_has_the_facts_of_each_certificate_read_alone(pki: OpenSSLPKI) -> None:
    data = _bulk_pem(pki)
    bundle = load_bundle(data)
    alone = [load_bundle(getattr(pki, n).read_bytes()).infos()[0] for n in _BULK_NAMES]
    assert len(bundle.infos()) == 100
    assert list(bundle.infos()) == [alone[i % len(alone)] for i in range(100)]
    assert list(bundle.infos()) == [describe(c) for c in _pem_certs_of(data)]


def _pem_certs_of(data: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(data)


@pytest.mark.parametrize("enabled", [True, False])
def test_bulk_load_leaves_the_collector_as_it_found_it(pki: OpenSSLPKI, enabled: bool) -> None:
    data = _bulk_pem(pki)
    was = gc.isenabled()
    try:
        if enabled:
            gc.enable()
        else:
            gc.disable()
        load_bundle(data)
        assert gc.isenabled() is enabled
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()


def test_bulk_load_that_fails_turns_the_collector_back_on(pki: OpenSSLPKI) -> None:
    # A certificate pyca loads but whose SCT extension it cannot read, last of 100.
    broken = (VECTORS / "x509" / "badssl-sct-none-hash.der").read_bytes()
    pem = b"".join(
        [
            b"-----BEGIN CERTIFICATE-----\n",
            base64.encodebytes(broken),
            b"-----END CERTIFICATE-----\n",
        ]
    )
    assert gc.isenabled()
    with pytest.raises(Malformed, match="signedCertificateTimestampList"):
        load_bundle(_bulk_pem(pki, 99) + pem)
    assert gc.isenabled()
