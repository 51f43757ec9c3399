"""`certdesk check` on chains: the operator's private root as a trust anchor, messages
that name the certificate at fault, and leaf-only files completed from the data folder."""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli.conftest import run_module
from tests.openssl_chains import ISSUING_CN, Chains
from tests.openssl_pki import PFX_PASSWORD


def codes(run) -> list[str]:
    return [f["code"] for f in run.json()["findings"]]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}
    env.update(COLUMNS="200", **extra)
    return env


def test_private_root_without_key_usage_in_process(cli, chains: Chains) -> None:
    run = cli(
        "check",
        chains.path("private_leaf"),
        "--ca-bundle",
        chains.path("private_root"),
        "--host",
        "app.internal.test",
        "--json",
    )
    assert run.exit_code == 0, run.stdout
    data = run.json()
    assert (data["ok"], data["trusted"], data["findings"]) == (True, True, [])
    assert [c["subject"] for c in data["chain"]] == [
        "CN=app.internal.test",
        "CN=certdesk Private Root,O=Internal",
    ]


def test_private_root_without_key_usage_in_a_subprocess(chains: Chains, tmp_path: Path) -> None:
    env = clean_env(CERTDESK_HOME=str(tmp_path / "h"))
    leaf, root = chains.path("private_leaf"), chains.path("private_root")
    run = run_module("check", leaf, "--ca-bundle", root, env=env)
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "no findings" in run.stdout
    assert not (tmp_path / "h").exists()  # a check makes no data folder
    # The same root from the environment, as `certdesk serve` and `submit` read it.
    from_env = run_module("check", leaf, env={**env, "CERTDESK_CA_BUNDLE": str(root)})
    assert from_env.exit_code == 0, from_env.stdout + from_env.stderr
    # Without it, the path stops at a root no one trusts, and the message names it.
    untrusted = run_module("check", leaf, "--chain", root, env=env)
    assert untrusted.exit_code == 1
    assert "error[untrusted-root]" in untrusted.stdout
    assert "certdesk Private Root" in untrusted.stdout


def test_invalid_chain_names_the_certificate_at_fault(cli, chains: Chains) -> None:
    args = [
        "check",
        chains.path("example_leaf"),
        "--chain",
        chains.path("issuing_nokeycertsign"),
        "--ca-bundle",
        chains.path("example_root"),
    ]
    run = cli(*args, "--json")
    assert run.exit_code == 1
    (finding,) = run.json()["findings"]
    assert finding["code"] == "chain-invalid"
    assert ISSUING_CN in finding["message"]
    assert "keyCertSign" in finding["message"]
    assert finding["certificate"]
    text = cli(*args)
    assert "error[chain-invalid]" in text.stdout
    assert "ask the certificate authority for the current intermediate" not in text.stdout


def test_leaf_alone_is_completed_from_the_data_folder(chains: Chains, tmp_path: Path) -> None:
    home = tmp_path / "data"
    env = clean_env(
        CERTDESK_CA_BUNDLE=str(chains.path("example_root")), CERTDESK_LAB_SUFFIXES="test"
    )

    def certdesk(*args: str | Path):
        return run_module("--home", home, *args, env=env)

    leaf = chains.path("example_leaf")
    # No data folder: nothing is known, the intermediate is missing.
    alone = certdesk("check", leaf, "--json")
    assert alone.exit_code == 1, alone.stderr
    assert codes(alone) == ["chain-incomplete"]
    assert not home.exists()

    assert certdesk("tenant", "add", "Acme Hosting").exit_code == 0
    pw = tmp_path / "pw"
    pw.write_text(PFX_PASSWORD)
    submitted = certdesk(
        "submit", chains.pfx("example_leaf2", "issuing_good"), "--password-file", pw,
        "--common-name", "pay.example-shop.test", "--url", "https://pay.example-shop.test",
        "--tenant", "Acme Hosting",
    )  # fmt: skip
    assert submitted.exit_code == 0, submitted.stdout + submitted.stderr

    completed = certdesk("check", leaf, "--json")
    assert completed.exit_code == 0, completed.stdout + completed.stderr
    assert codes(completed) == ["chain-completed"]
    assert [c["subject"] for c in completed.json()["chain"]] == [
        "CN=www.example-shop.test",
        f"CN={ISSUING_CN}",
        "CN=Example Root CA",
    ]
