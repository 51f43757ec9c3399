"""Inputs made to crash or stall a loader: refused with a stable code, quickly.

Every file here is written by the ``openssl`` command line; where openssl would take
minutes to write the hostile value itself (2,147,483,647 iterations), it writes a
distinctive small count and ``tests.der_rewrite`` sets the INTEGER afterwards.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest
from cryptography import x509

from certdesk.application.compose import policy_for
from certdesk.errors import CertdeskError, KeyTooLarge, Malformed, TooCostly
from certdesk.pki import MAX_KEY_BITS, describe, load_bundle, load_private_key
from certdesk.settings import load_settings
from tests.cli.conftest import run_module
from tests.der_rewrite import rewrite_integers
from tests.openssl_pki import run_openssl

MARK = 3001  # the iteration count openssl writes, rewritten afterwards
HUGE = 2**31 - 1


def _refused(data: bytes, password: bytes | None, error: type[CertdeskError]) -> CertdeskError:
    """Load ``data``; it must be refused with ``error``, in well under a second."""
    started = time.perf_counter()
    with pytest.raises(error) as caught:
        load_bundle(data, password)
    assert time.perf_counter() - started < 1.0
    return caught.value


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A key and self-signed certificate to export in hostile ways."""
    folder = tmp_path_factory.mktemp("hostile")
    run_openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", folder / "k.pem")  # fmt: skip
    run_openssl("req", "-x509", "-key", folder / "k.pem", "-subj", "/CN=hostile.test",
                "-days", "30", "-out", folder / "c.pem")  # fmt: skip
    return folder


# --- no crash: what pyca raises becomes malformed, naming certificate and extension ---


def _ca_with_name_constraints(folder: Path, stem: str, value: str) -> bytes:
    run_openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", folder / f"{stem}.key", "-subj", f"/CN={stem} CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", f"nameConstraints=critical,{value}",
                "-out", folder / f"{stem}.pem")  # fmt: skip
    return (folder / f"{stem}.pem").read_bytes()


# permittedSubtrees [0] { GeneralSubtree { iPAddress [7] 10.0.0.1 } }: an address
# without its netmask, which pyca reads and then refuses with a TypeError.
IP_WITHOUT_MASK = "DER:300aa008300687040a000001"


@pytest.mark.parametrize(
    ("stem", "value", "detail"),
    [
        ("nomask", IP_WITHOUT_MASK, "IPv4Network"),  # TypeError inside pyca
        ("holes", "permitted;IP:10.0.0.0/255.0.255.0", "netmask"),  # ValueError inside pyca
    ],
)
def test_invalid_ip_name_constraint_is_malformed_naming_it(
    made: Path, stem: str, value: str, detail: str
) -> None:
    data = _ca_with_name_constraints(made, stem, value)
    error = _refused(data, None, Malformed)
    assert f"'{stem} CA'" in error.message
    assert "nameConstraints" in error.message
    assert detail in error.message


def test_cli_inspect_and_check_exit_2_on_the_broken_name_constraint(made: Path) -> None:
    _ca_with_name_constraints(made, "cli", IP_WITHOUT_MASK)
    env = {k: v for k, v in os.environ.items() if k != "CERTDESK_CA_BUNDLE"}
    for command in ("inspect", "check"):
        run = run_module(command, made / "cli.pem", env=env)
        assert run.exit_code == 2, run.stderr
        assert "malformed" in run.stderr
        assert "nameConstraints" in run.stderr
        assert "internal error" not in run.stderr


def test_describe_names_the_certificate_when_given_one_pyca_loaded(made: Path) -> None:
    cert = x509.load_pem_x509_certificate(_ca_with_name_constraints(made, "lazy", IP_WITHOUT_MASK))
    with pytest.raises(Malformed, match=r"'lazy CA'.*nameConstraints"):
        describe(cert)


# --- PEM: one linear pass ---------------------------------------------------------------


@pytest.mark.parametrize("size", [300_000, 1024 * 1024])
def test_repeated_begin_lines_are_refused_at_once(size: int) -> None:
    line = b"-----BEGIN CERTIFICATE-----\n"
    data = (line * (size // len(line) + 1))[:size]
    error = _refused(data, None, Malformed)
    assert "PEM block 1 ('CERTIFICATE') has no matching END line" in error.message


def test_a_block_cut_before_its_end_is_named(made: Path) -> None:
    cert = (made / "c.pem").read_bytes()
    cut = cert + cert[: len(cert) // 2] + cert
    error = _refused(cut, None, Malformed)
    assert "PEM block 2 ('CERTIFICATE')" in error.message


def test_text_around_blocks_and_a_stray_end_line_are_ignored(made: Path) -> None:
    cert = (made / "c.pem").read_bytes()
    data = b"subject=CN=hostile.test\n-----END CERTIFICATE-----\n" + cert + b"\ntrailer\n" + cert
    assert len(load_bundle(data).certificates) == 2


# --- iteration counts: read from the ASN.1 before anything is derived ----------------


def _pfx(made: Path, name: str, *extra: str, iterations: int = MARK) -> bytes:
    run_openssl("pkcs12", "-export", "-inkey", made / "k.pem", "-in", made / "c.pem",
                "-iter", str(iterations), "-passout", "pass:pw", *extra,
                "-out", made / name)  # fmt: skip
    return (made / name).read_bytes()


@pytest.mark.parametrize("legacy", [False, True], ids=["pbes2", "legacy-pbe"])
@pytest.mark.parametrize("password", [b"pw", None], ids=["password", "no-password"])
def test_pfx_with_huge_iteration_counts_is_too_costly(
    made: Path, legacy: bool, password: bytes | None
) -> None:
    data = _pfx(made, f"huge-{legacy}.pfx", *(["-legacy"] if legacy else []))
    assert load_bundle(data, b"pw").format == "pkcs12"  # as openssl wrote it: fine
    hostile = rewrite_integers(data, MARK, HUGE)
    error = _refused(hostile, password, TooCostly)
    assert "2,147,483,647 iterations" in error.message
    assert error.hint
    assert "default" in error.hint


def test_huge_mac_iterations_alone_are_too_costly(made: Path) -> None:
    # -nomac leaves only encryption counts; here only the MAC's count is huge.
    data = _pfx(made, "mac.pfx", "-keypbe", "NONE", "-certpbe", "NONE")
    hostile = rewrite_integers(data, MARK, HUGE)
    error = _refused(hostile, b"pw", TooCostly)
    assert "of the MAC" in error.message


@pytest.mark.parametrize("form", ["PEM", "DER"])
def test_encrypted_pkcs8_key_with_huge_iterations_is_too_costly(made: Path, form: str) -> None:
    out = made / f"enc.{form}"
    run_openssl("pkcs8", "-topk8", "-in", made / "k.pem", "-v2", "aes-256-cbc",
                "-iter", str(MARK), "-passout", "pass:pw", "-outform", form,
                "-out", out)  # fmt: skip
    raw = out.read_bytes()
    if form == "PEM":
        body = b"".join(raw.splitlines()[1:-1])
        der = rewrite_integers(base64.b64decode(body), MARK, HUGE)
        hostile = (
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
            + base64.encodebytes(der)
            + b"-----END ENCRYPTED PRIVATE KEY-----\n"
        )
    else:
        hostile = rewrite_integers(raw, MARK, HUGE)
    _refused(hostile, b"pw", TooCostly)


def test_the_ceiling_is_a_setting(made: Path, tmp_path: Path) -> None:
    data = _pfx(made, "5000.pfx", iterations=5000)
    assert load_bundle(data, b"pw").private_key is not None  # default ceiling: 1,000,000
    with pytest.raises(TooCostly, match="5,000 iterations"):
        load_bundle(data, b"pw", max_iterations=4000)
    settings = load_settings(tmp_path, env={"CERTDESK_MAX_PKCS12_ITERATIONS": "4000"})
    assert settings.max_pkcs12_iterations == 4000
    assert policy_for(settings).max_pkcs12_iterations == 4000
    assert load_settings(tmp_path, env={}).max_pkcs12_iterations == 1_000_000


# --- key size: read before pyca checks the key --------------------------------------


@pytest.fixture(scope="module")
def big_key(made: Path) -> Path:
    """A 9,216-bit RSA key made by openssl (five primes, so it takes seconds, not minutes).

    pyca cannot use multi-prime keys at all; what is tested is that certdesk reads the
    modulus size from the ASN.1 and refuses it as too large before handing it over.
    """
    key = made / "big.pem"
    run_openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:9216",
                "-pkeyopt", "rsa_keygen_primes:5", "-out", key)  # fmt: skip
    return key


def test_big_key_in_every_unencrypted_form_is_key_too_large(made: Path, big_key: Path) -> None:
    forms = {
        "pkcs8-pem": big_key.read_bytes(),
        "pkcs1-pem": run_openssl("rsa", "-in", big_key, "-traditional"),
        "pkcs8-der": run_openssl("pkcs8", "-topk8", "-nocrypt", "-in", big_key, "-outform", "DER"),
        "pkcs1-der": run_openssl("rsa", "-in", big_key, "-traditional", "-outform", "DER"),
    }
    for name, data in forms.items():
        started = time.perf_counter()
        with pytest.raises(KeyTooLarge, match="9,216 bits") as caught:
            load_private_key(data)
        assert time.perf_counter() - started < 1.0, name
        assert caught.value.code == "key-too-large"
        assert str(MAX_KEY_BITS) not in caught.value.message  # written with a separator
        assert "8,192" in caught.value.message


def test_big_key_in_a_pfx_is_key_too_large(made: Path, big_key: Path) -> None:
    run_openssl("req", "-x509", "-key", big_key, "-subj", "/CN=big.test", "-days", "30",
                "-out", made / "big.crt")  # fmt: skip
    run_openssl("pkcs12", "-export", "-inkey", big_key, "-in", made / "big.crt",
                "-keypbe", "NONE", "-certpbe", "NONE", "-passout", "pass:pw",
                "-out", made / "big.pfx")  # fmt: skip
    error = _refused((made / "big.pfx").read_bytes(), b"pw", KeyTooLarge)
    assert "9,216 bits" in error.message
