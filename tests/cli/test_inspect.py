"""`certdesk inspect`: what a user holding a certificate file sees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli.conftest import openssl_sha256, run_module
from tests.openssl_pki import PFX_PASSWORD, UTF8_PASSWORD


def test_pfx_shows_every_certificate_and_the_key(cli, pki, tmp_path: Path) -> None:
    pw = tmp_path / "pw.txt"
    pw.write_text(PFX_PASSWORD + "\n")
    run = cli("inspect", pki.modern_pfx, "--password-file", pw, "--json")
    assert run.exit_code == 0, run.stderr
    data = run.json()
    assert data["format"] == "pkcs12"
    assert data["encryption"] == "modern"
    fps = [c["sha256"] for c in data["certificates"]]
    assert fps == [openssl_sha256(pki.leaf_crt), openssl_sha256(pki.int_crt)]
    assert data["private_key"]["present"] is True
    assert data["private_key"]["matches"] == openssl_sha256(pki.leaf_crt)
    assert data["certificates"][0]["not_after"].endswith("Z")


def test_legacy_pfx_from_openssl_legacy(cli, pki) -> None:
    run = cli("inspect", pki.legacy_pfx, "--password", PFX_PASSWORD, "--json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["encryption"] == "legacy"


def test_password_from_environment_and_utf8(cli, pki) -> None:
    run = cli(
        "inspect", pki.utf8_pfx, "--password-env", "PFXPW", "--json", env={"PFXPW": UTF8_PASSWORD}
    )
    assert run.exit_code == 0, run.stderr
    assert run.json()["private_key"]["present"] is True


def test_only_one_trailing_newline_is_dropped(cli, pki, tmp_path: Path) -> None:
    pw = tmp_path / "pw.txt"
    pw.write_text(PFX_PASSWORD + "\n\n")
    run = cli("inspect", pki.modern_pfx, "--password-file", pw)
    assert run.exit_code == 2
    assert "wrong-password" in run.stderr


def test_wrong_password_is_a_clear_error_without_the_password(cli, pki) -> None:
    secret = "not-the-password-7c1e"
    run = cli("inspect", pki.modern_pfx, "--password", secret)
    assert run.exit_code == 2
    assert "error[wrong-password]" in run.stderr
    assert "fix:" in run.stderr
    assert secret not in run.stdout + run.stderr


def test_missing_password(cli, pki) -> None:
    run = cli("inspect", pki.modern_pfx, "--json")
    assert run.exit_code == 2
    assert run.json()["error"]["code"] == "wrong-password"
    assert "none was given" in run.json()["error"]["message"]


def test_two_passwords_refused(cli, pki, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PFX_PASSWORD)
    run = cli("inspect", pki.modern_pfx, "--password", "x", "--password-file", pw)
    assert run.exit_code == 2
    assert "invalid-argument" in run.stderr


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("leaf_der", "der"),
        ("p7b_pem", "pkcs7-pem"),
        ("p7b_der", "pkcs7-der"),
        ("fullchain_pem", "pem"),
    ],
)
def test_format_comes_from_bytes_not_name(cli, pki, tmp_path: Path, name: str, fmt: str) -> None:
    misnamed = tmp_path / "certificate.pfx"
    misnamed.write_bytes(getattr(pki, name).read_bytes())
    run = cli("inspect", misnamed, "--json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["format"] == fmt
    assert openssl_sha256(pki.leaf_crt) in [c["sha256"] for c in run.json()["certificates"]]


def test_csr_is_named_for_what_it_is(cli, pki) -> None:
    run = cli("inspect", pki.csr)
    assert run.exit_code == 2
    assert "unsupported-format" in run.stderr
    assert "certificate signing request" in run.stderr


def test_truncated_pfx_is_malformed(cli, pki, tmp_path: Path) -> None:
    cut = tmp_path / "cut.pfx"
    data = pki.modern_pfx.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    run = cli("inspect", cut, "--password", PFX_PASSWORD)
    assert run.exit_code == 2
    assert "error[malformed]" in run.stderr


def test_huge_file_is_refused_before_reading_it_all(cli, tmp_path: Path) -> None:
    big = tmp_path / "big.pem"
    with big.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    run = cli("inspect", big)
    assert run.exit_code == 2
    assert "too-large" in run.stderr


def test_missing_file(cli, tmp_path: Path) -> None:
    run = cli("inspect", tmp_path / "nope.pfx")
    assert run.exit_code == 2
    assert "error[unreadable]" in run.stderr


def test_text_output_names_fingerprint_in_full(cli, pki) -> None:
    run = cli("inspect", pki.leaf_crt)
    assert run.exit_code == 0
    assert openssl_sha256(pki.leaf_crt) in run.stdout
    assert "store.test.com" in run.stdout


def test_help_says_why_a_file_beats_a_literal_password(cli) -> None:
    run = cli("inspect", "--help")
    assert run.exit_code == 0
    assert "shell" in run.stdout
    assert "history" in run.stdout


def test_as_a_module_in_a_subprocess(pki) -> None:
    env = {**os.environ, "PFXPW": PFX_PASSWORD}
    run = run_module("inspect", pki.modern_pfx, "--password-env", "PFXPW", "--json", env=env)
    assert run.exit_code == 0, run.stderr
    assert run.json()["certificates"][0]["sha256"] == openssl_sha256(pki.leaf_crt)
    bad = run_module("inspect", pki.csr, env=env)
    assert bad.exit_code == 2
    assert "Traceback" not in bad.stderr
    assert run_module("--version").stdout.startswith("certdesk ")
