"""The refusals issue 15 found worded for the wrong reader, as an operator meets them at
``python -m certdesk``: each fix names a command that exists, with options it has."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_desk_cli import Certdesk, certdesk, password_file
from tests.openssl_pki import OpenSSLPKI
from tests.test_hints import cli_problems

__all__ = ["certdesk", "password_file"]  # the fixtures, shared with test_desk_cli


def test_csr_complete_of_a_pfx_points_to_submit(certdesk: Certdesk, pki: OpenSSLPKI) -> None:
    done = certdesk("csr", "complete", pki.modern_pfx)
    assert done.exit_code == 2, done.stderr
    assert "[unsupported-format]" in done.stderr
    assert "'certdesk submit FILE.pfx" in done.stderr
    assert not cli_problems(done.stderr, ("csr", "complete"))  # no --password-file here
    answer = certdesk("csr", "complete", pki.modern_pfx, "--json").json()["error"]
    assert answer["fix"] == {"action": "submit-pfx", "params": {}, "field": None}
    assert not cli_problems(answer["hint"], ("csr", "complete"))


def test_a_taken_url_names_its_tenant_to_the_operator(
    certdesk: Certdesk, pki: OpenSSLPKI, password_file: Path
) -> None:
    certdesk.ok("tenant", "add", "Acme Hosting")
    certdesk.ok("tenant", "add", "Beta Web")
    certdesk.ok("domain", "add", "https://www.test.com", "--tenant", "Beta Web")
    done = certdesk(
        "submit",
        pki.modern_pfx,
        "--tenant",
        "Acme Hosting",
        "--url",
        "https://www.test.com",
        "--common-name",
        "store.test.com",
        "--password-file",
        password_file,
    )
    assert done.exit_code == 1, done.stderr
    assert "[conflict]" in done.stderr
    assert "'certdesk domain list --tenant \"Beta Web\"'" in done.stderr
    assert "ask the platform's operators" not in done.stderr  # the operator is one
    assert not cli_problems(done.stderr, ("submit",))
    # A PEM given where a .pfx goes: the conversion, with options convert has.
    pem = certdesk(
        "submit",
        pki.leaf_crt,
        "--tenant",
        "Acme Hosting",
        "--url",
        "https://store.test.com",
        "--common-name",
        "store.test.com",
    )
    assert pem.exit_code == 2, pem.stderr
    assert "'certdesk convert CERT.crt --key KEY.key" in pem.stderr
    assert not cli_problems(pem.stderr, ("submit",))


def test_a_dry_run_says_what_it_would_do(
    certdesk: Certdesk, pki: OpenSSLPKI, password_file: Path, tmp_path: Path
) -> None:
    certdesk.ok("tenant", "add", "Acme Hosting")
    url = "https://store.test.com"
    certdesk.ok(
        "submit",
        pki.modern_pfx,
        "--tenant",
        "Acme Hosting",
        "--url",
        url,
        "--common-name",
        "store.test.com",
        "--password-file",
        password_file,
    )
    folder = tmp_path / "served"
    certdesk.env.update(
        CERTDESK_DEPLOY_TARGET="files", CERTDESK_DEPLOY_OPTIONS=f'{{"folder": "{folder}"}}'
    )
    planned = certdesk.ok("deploy", url, "--dry-run")
    assert f"would install {url} on default" in planned.stdout
    assert "installed" not in planned.stdout.replace("would install", "")
    assert "dry run: nothing was changed" in planned.stdout
    assert not folder.exists() or not any(folder.iterdir())
    certdesk.ok("deploy", url)
    again = certdesk.ok("deploy", url, "--dry-run")
    assert f"would leave as it is (already installed) {url}" in again.stdout
