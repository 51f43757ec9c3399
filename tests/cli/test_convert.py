"""`certdesk convert`: what openssl pkcs12 does, checked by openssl itself."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import openssl, openssl_sha256
from tests.openssl_pki import PFX_PASSWORD


def _pw(tmp_path: Path, value: str = "new-pw") -> Path:
    path = tmp_path / "out-pw.txt"
    path.write_text(value + "\n")
    return path


@pytest.mark.parametrize("legacy", [False, True])
def test_crt_key_chain_to_pfx_opens_with_openssl(cli, pki, tmp_path: Path, legacy: bool) -> None:
    out = tmp_path / "server.pfx"
    args = [
        "convert",
        pki.leaf_crt,
        "--key",
        pki.leaf_key,
        "--chain",
        pki.chain_pem,
        "--to",
        "pfx",
        "--out",
        out,
        "--out-password-file",
        _pw(tmp_path),
    ]
    run = cli(*args, *(["--legacy"] if legacy else []))
    assert run.exit_code == 0, run.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    flags = ["-legacy"] if legacy else []
    info = subprocess.run(
        ["openssl", "pkcs12", "-in", out, "-passin", "pass:new-pw", "-noout", "-info", *flags],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    assert ("3-KeyTripleDES" in info) if legacy else ("AES-256-CBC" in info)
    pem = tmp_path / "back.pem"
    openssl("pkcs12", "-in", out, "-passin", "pass:new-pw", "-nodes", "-out", pem, *flags)
    certs = pem.read_text().split("-----END CERTIFICATE-----")
    first = tmp_path / "first.pem"
    first.write_text(
        certs[0][certs[0].index("-----BEGIN CERTIFICATE") :] + "-----END CERTIFICATE-----\n"
    )
    assert openssl_sha256(first) == openssl_sha256(pki.leaf_crt)
    # The key in the .pfx is the certificate's: openssl compares the public halves.
    key_pub = openssl("pkey", "-in", pem, "-pubout")
    cert_pub = openssl("x509", "-in", pki.leaf_crt, "-noout", "-pubkey")
    assert key_pub == cert_pub
    assert pem.read_text().count("BEGIN CERTIFICATE") == 3


def test_wrong_key_exits_two_and_writes_nothing(cli, pki, tmp_path: Path) -> None:
    out = tmp_path / "x.pfx"
    run = cli(
        "convert",
        pki.leaf_crt,
        "--key",
        pki.other_key,
        "--to",
        "pfx",
        "--out",
        out,
        "--out-password-file",
        _pw(tmp_path),
    )
    assert run.exit_code == 2
    assert "error[key-mismatch]" in run.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "out-pw.txt"]


def test_pfx_without_password_refused(cli, pki, tmp_path: Path) -> None:
    run = cli(
        "convert", pki.leaf_crt, "--key", pki.leaf_key, "--to", "pfx", "--out", tmp_path / "x.pfx"
    )
    assert run.exit_code == 2
    assert "password" in run.stderr


def test_pfx_to_pem_in_chain_order(cli, pki, tmp_path: Path) -> None:
    out = tmp_path / "full.pem"
    run = cli("convert", pki.modern_pfx, "--password", PFX_PASSWORD, "--to", "pem", "--out", out)
    assert run.exit_code == 0, run.stderr
    text = out.read_text()
    assert "PRIVATE KEY" not in text
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert openssl("crl2pkcs7", "-nocrl", "-certfile", out, "-out", tmp_path / "x.p7b") == ""
    subjects = openssl("pkcs7", "-in", tmp_path / "x.p7b", "-print_certs", "-noout")
    assert subjects.index("store.test.com") < subjects.index("Intermediate")


def test_pfx_to_pem_with_key_and_to_key(cli, pki, tmp_path: Path) -> None:
    both = tmp_path / "both.pem"
    assert (
        cli(
            "convert",
            pki.legacy_pfx,
            "--password",
            PFX_PASSWORD,
            "--to",
            "pem",
            "--include-key",
            "--out",
            both,
        ).exit_code
        == 0
    )
    assert stat.S_IMODE(both.stat().st_mode) == 0o600
    assert openssl("pkey", "-in", both, "-pubout") == openssl(
        "x509", "-in", pki.leaf_crt, "-noout", "-pubkey"
    )
    key = tmp_path / "server.key"
    assert (
        cli(
            "convert",
            pki.modern_pfx,
            "--password",
            PFX_PASSWORD,
            "--to",
            "key",
            "--out",
            key,
            "--out-password-file",
            _pw(tmp_path),
        ).exit_code
        == 0
    )
    assert "ENCRYPTED PRIVATE KEY" in key.read_text()
    openssl("pkey", "-in", key, "-passin", "pass:new-pw", "-noout")


def test_p7b_to_pem_and_der(cli, pki, tmp_path: Path) -> None:
    pem = tmp_path / "chain.pem"
    assert cli("convert", pki.p7b_der, "--to", "pem", "--out", pem).exit_code == 0
    assert pem.read_text().count("BEGIN CERTIFICATE") == 2
    der = tmp_path / "leaf.cer"
    assert cli("convert", pki.p7b_pem, "--to", "der", "--out", der).exit_code == 0
    assert openssl_sha256(der, "-inform", "DER") == openssl_sha256(pki.leaf_crt)
    p7b = tmp_path / "out.p7b"
    assert cli("convert", pki.fullchain_pem, "--to", "p7b", "--out", p7b).exit_code == 0
    printed = openssl("pkcs7", "-inform", "DER", "-in", p7b, "-print_certs", "-noout")
    assert printed.count("subject=") == 3


def test_existing_output_is_kept_without_force(cli, pki, tmp_path: Path) -> None:
    out = tmp_path / "keep.pem"
    out.write_text("precious")
    run = cli("convert", pki.leaf_crt, "--to", "pem", "--out", out)
    assert run.exit_code == 2
    assert out.read_text() == "precious"
    assert cli("convert", pki.leaf_crt, "--to", "pem", "--out", out, "--force").exit_code == 0
    assert "BEGIN CERTIFICATE" in out.read_text()


def test_pfx_without_key_refused_for_pfx_output(cli, pki, tmp_path: Path) -> None:
    run = cli(
        "convert",
        pki.leaf_crt,
        "--to",
        "pfx",
        "--out",
        tmp_path / "x.pfx",
        "--out-password-file",
        _pw(tmp_path),
    )
    assert run.exit_code == 2
    assert "no-private-key" in run.stderr
