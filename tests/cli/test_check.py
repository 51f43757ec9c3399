"""`certdesk check`: every finding at once, and exit codes scripts can rely on."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.cli.conftest import run_module
from tests.openssl_pki import PFX_PASSWORD


def codes(run) -> list[str]:
    return [f["code"] for f in run.json()["findings"]]


def test_good_pfx_for_its_hosts_exits_zero(cli, pki) -> None:
    run = cli(
        "check",
        pki.modern_pfx,
        "--password",
        PFX_PASSWORD,
        "--host",
        "https://store.test.com/shop",
        "--host",
        "www.test.com:443",
        "--ca-bundle",
        pki.root_crt,
        "--json",
    )
    assert run.exit_code == 0, run.stdout + run.stderr
    data = run.json()
    assert data["ok"] is True
    assert data["trusted"] is True
    assert data["hosts"] == ["store.test.com", "www.test.com"]
    assert [f["severity"] for f in data["findings"]] == []


def test_ca_bundle_from_environment(cli, pki) -> None:
    run = cli(
        "check",
        pki.modern_pfx,
        "--password",
        PFX_PASSWORD,
        "--json",
        env={"CERTDESK_CA_BUNDLE": str(pki.root_crt)},
    )
    assert run.exit_code == 0, run.stdout
    assert run.json()["trusted"] is True


def test_without_the_private_root_it_is_untrusted(cli, pki) -> None:
    run = cli("check", pki.fullchain_pem, "--json")
    assert run.exit_code == 1
    assert "untrusted-root" in codes(run)


def test_every_problem_in_one_answer(cli, pki) -> None:
    # A leaf alone (intermediate missing), the wrong key, and a host it does not cover.
    run = cli(
        "check",
        pki.leaf_crt,
        "--key",
        pki.other_key,
        "--host",
        "shop.example.org",
        "--host",
        "a.b.test.com",
        "--ca-bundle",
        pki.root_crt,
        "--json",
    )
    assert run.exit_code == 1
    found = codes(run)
    for code in ("chain-incomplete", "key-mismatch", "name-mismatch"):
        assert code in found
    hosts = [f["host"] for f in run.json()["findings"] if f["code"] == "name-mismatch"]
    assert hosts == ["shop.example.org", "a.b.test.com"]
    assert all(f["fix"] for f in run.json()["findings"])


def test_chain_given_separately_completes_it(cli, pki) -> None:
    run = cli(
        "check",
        pki.leaf_crt,
        "--key",
        pki.leaf_key,
        "--chain",
        pki.chain_pem,
        "--ca-bundle",
        pki.root_crt,
        "--json",
    )
    assert run.exit_code == 0, run.stdout
    assert len(run.json()["chain"]) == 3


def test_at_an_instant_after_expiry(cli, pki) -> None:
    later = (datetime.now(UTC) + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run = cli(
        "check",
        pki.modern_pfx,
        "--password",
        PFX_PASSWORD,
        "--ca-bundle",
        pki.root_crt,
        "--at",
        later,
        "--json",
    )
    assert run.exit_code == 1
    assert codes(run) == ["expired"]
    assert run.json()["at"] == later


def test_expires_soon_is_a_warning_and_exits_zero(cli, pki) -> None:
    run = cli("check", pki.soon_crt, "--chain", pki.int_crt, "--ca-bundle", pki.root_crt, "--json")
    assert run.exit_code == 0, run.stdout
    assert codes(run) == ["expires-soon"]
    quiet = cli(
        "check",
        pki.soon_crt,
        "--chain",
        pki.int_crt,
        "--ca-bundle",
        pki.root_crt,
        "--expires-soon-days",
        "5",
        "--json",
    )
    assert codes(quiet) == []


def test_expired_text_output(cli, pki) -> None:
    run = cli("check", pki.expired_crt, "--chain", pki.int_crt, "--ca-bundle", pki.root_crt)
    assert run.exit_code == 1
    assert "error[expired]" in run.stdout
    assert "fix:" in run.stdout


def test_unreadable_input_exits_two_with_code(cli, pki, tmp_path: Path) -> None:
    bad = tmp_path / "cut.pem"
    bad.write_bytes(pki.leaf_crt.read_bytes()[:300])
    run = cli("check", bad, "--json")
    assert run.exit_code == 2
    assert run.json()["error"]["code"] == "malformed"


def test_bad_instant_and_bad_host(cli, pki) -> None:
    assert "invalid-argument" in cli("check", pki.leaf_crt, "--at", "next tuesday").stderr
    run = cli("check", pki.leaf_crt, "--host", "not a host")
    assert run.exit_code == 2
    assert "invalid-argument" in run.stderr


def test_key_only_file(cli, pki) -> None:
    run = cli("check", pki.leaf_key)
    assert run.exit_code == 2
    assert "no-certificate" in run.stderr


def test_exit_codes_in_a_subprocess(pki, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CERTDESK_CA_BUNDLE"}
    good = run_module(
        "check", pki.leaf_crt, "--chain", pki.int_crt, "--ca-bundle", pki.root_crt, env=env
    )
    assert good.exit_code == 0, good.stdout + good.stderr
    failing = run_module("check", pki.expired_crt, env=env)
    assert failing.exit_code == 1
    unreadable = run_module("check", pki.modern_pfx, "--password", "wrong", env=env)
    assert unreadable.exit_code == 2
    assert "wrong-password" in unreadable.stderr
    assert "wrong" not in unreadable.stdout
