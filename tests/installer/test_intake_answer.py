"""An intake whose certificate is stored but cannot be installed (nginx is down) answers
"stored; not installed: <reason>; next try at <time>" — exit 3 on the command line, HTTP
202 from the API — and neither "refused" nor "duplicate"; submitting it again once nginx
is up installs it; the API's retry does the same, for the caller's own URLs only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal
from typer.testing import CliRunner

from certdesk.application.compose import open_desk
from certdesk.asgi import create_app
from certdesk.cli import app
from certdesk.cli.state import state
from certdesk.desk import Actor
from tests.api.conftest import Api, SyncASGI
from tests.deploy.servers import Nginx, settled_sha256, start_nginx, stop
from tests.edge import edge_settings
from tests.flows import new_tenant
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI, openssl_fingerprint

URL = "https://store.test.com"


def test_the_cli_answers_stored_not_installed_with_exit_3_and_a_resubmission_retries(
    tmp_path: Path, pki: OpenSSLPKI, nginx: Nginx, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "cli-home"
    home.mkdir()
    env = {
        "CERTDESK_HOME": str(home),
        "CERTDESK_CA_BUNDLE": str(pki.root_crt),
        "CERTDESK_DEPLOY_TARGET": "nginx",
        "CERTDESK_DEPLOY_OPTIONS": json.dumps(nginx.options()),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(state, "_settings", None)
    monkeypatch.setattr(state, "_desk", None)
    monkeypatch.setattr(state, "home", None)
    runner = CliRunner()
    submit = [
        "submit", str(pki.modern_pfx), "--password", PFX_PASSWORD,
        "--common-name", "store.test.com", "--url", URL, "--tenant", "Acme Hosting",
    ]  # fmt: skip
    try:
        assert runner.invoke(app, ["tenant", "add", "Acme Hosting"]).exit_code == 0
        assert nginx.proc is not None
        stop(nginx.proc)

        down = runner.invoke(app, submit)
        assert down.exit_code == 3, down.stdout + down.stderr
        assert "stored; not installed: install on default failed" in down.stdout
        assert "next try at" in down.stdout
        assert "[duplicate]" not in down.stderr
        listed = runner.invoke(app, ["domain", "list", "--json"])
        [domain] = json.loads(listed.stdout)["domains"]
        assert domain["install_state"] == "install-failed"
        assert domain["installed_not_after"] is None
        assert domain["not_after"] is not None

        # Submitted again while nginx is still down: the same answer, not "duplicate".
        again = runner.invoke(app, [*submit, "--json"])
        assert again.exit_code == 3, again.stdout + again.stderr
        [outcome] = json.loads(again.stdout)["installed"]
        assert outcome["install_state"] == "install-failed"
        assert outcome["next_try_at"] is not None

        start_nginx(nginx)
        up = runner.invoke(app, [*submit, "--json"])
        assert up.exit_code == 0, up.stdout + up.stderr
        [outcome] = json.loads(up.stdout)["installed"]
        assert (outcome["ok"], outcome["install_state"]) == (True, "installed")
        leaf = openssl_fingerprint(pki.leaf_crt)
        assert settled_sha256(nginx.address, "store.test.com", leaf) == leaf
        [domain] = json.loads(runner.invoke(app, ["domain", "list", "--json"]).stdout)["domains"]
        assert domain["install_state"] == "installed"
        assert domain["installed_not_after"] == domain["not_after"] == domain["served_not_after"]
        # Installed now: the same certificate again is the duplicate it really is.
        twice = runner.invoke(app, submit)
        assert twice.exit_code == 1
        assert "[duplicate]" in twice.stderr
    finally:
        state.close()


def test_the_api_answers_202_and_retries_for_its_own_tenant_only(
    tmp_path: Path, pki: OpenSSLPKI, nginx: Nginx
) -> None:
    settings = edge_settings(tmp_path, pki, nginx)
    desk = open_desk(settings)
    new_tenant(desk, Actor(name="test"))
    new_tenant(desk, Actor(name="test"), "Beta Hosting")
    web = create_app(desk, settings, with_portal=False)
    try:
        with start_blocking_portal() as portal:
            api = Api(web, desk, settings, pki, tmp_path, SyncASGI(web, portal))
            acme = api.session("acme", api.user("acme", tenant="Acme Hosting"))
            beta = api.session("beta", api.user("beta", tenant="Beta Hosting"))
            assert nginx.proc is not None
            stop(nginx.proc)
            answer = acme.post(
                "/api/submissions",
                data={"common_name": "store.test.com", "tenant": "Acme Hosting", "urls": [URL],
                      "password": PFX_PASSWORD},
                files={"file": ("c.pfx", pki.modern_pfx.read_bytes(), "application/x-pkcs12")},
            )  # fmt: skip
            assert answer.status_code == 202, answer.text
            body = answer.json()
            assert body["outcome"] == "stored-not-installed"
            # A reseller reads a plain sentence with the request to quote (no server paths).
            assert body["message"].startswith(
                "stored; not installed: installing it on the platform did not succeed"
            )
            assert f"reference: request #{body['request_id']}" in body["message"]
            assert "; next try at " in body["message"]
            assert body["installed"][0]["state"] == "install-failed"
            [domain] = acme.get("/api/domains").json()
            assert domain["install_state"] == "install-failed"

            theirs = beta.post("/api/domains/install", json={"url": URL})
            assert theirs.status_code == 404
            still = acme.post("/api/domains/install", json={"url": URL})
            assert still.status_code == 202
            assert still.json()["state"] == "install-failed"

            start_nginx(nginx)
            retried = acme.post("/api/domains/install", json={"url": URL})
            assert retried.status_code == 200, retried.text
            assert (retried.json()["ok"], retried.json()["state"]) == (True, "installed")
            [domain] = acme.get("/api/domains").json()
            assert domain["install_state"] == "installed"
            assert domain["served_not_after"] == domain["installed_not_after"]
            assert isinstance(beta.get("/api/domains").json(), list)
            assert beta.get("/api/domains").json() == []
    finally:
        web.state.readers.close()
        desk.store.close()
