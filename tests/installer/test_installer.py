"""Installing through the desk on a real nginx: intake, deploy, handshake proof, request,
e-mail; and a failed install that leaves the request open and the old certificate served."""

from __future__ import annotations

import dataclasses
import email
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certdesk import desk as d
from certdesk.application.compose import install_config, open_desk
from certdesk.application.installer import Installer
from certdesk.cli import app
from certdesk.cli.state import state
from certdesk.desk import Actor, Desk
from certdesk.desk.installs import install_state
from certdesk.notify import OutboxMailer
from certdesk.settings import Settings, load_settings
from certdesk.store.monitoring import DomainState
from tests.database import LAB_SUFFIXES
from tests.deploy.servers import Nginx, settled_sha256
from tests.edge import edge_settings
from tests.flows import new_tenant, submit_leaf
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI, openssl_fingerprint, run_openssl

OPERATOR = Actor(name="test")
URLS = ("https://store.test.com", "https://www.test.com")


def _reason(desk: Desk, url: str) -> str:
    """Why the install of ``url``'s certificate failed, as its binding keeps it."""
    with desk.context(OPERATOR, readonly=True) as ctx:
        state = install_state(ctx, url=url)
    assert state is not None
    assert state.reason is not None
    return state.reason


@pytest.fixture
def setup(tmp_path: Path, pki: OpenSSLPKI, nginx: Nginx) -> Iterator[tuple[Desk, Installer]]:
    settings = edge_settings(tmp_path, pki, nginx)
    desk = open_desk(settings)
    new_tenant(desk, OPERATOR)
    try:
        yield desk, Installer(desk, install_config(settings), OutboxMailer(settings.outbox))
    finally:
        desk.store.close()


def _request(desk: Desk, request_id: int) -> d.RequestView:
    return desk.run(OPERATOR, d.get_request, request_id=request_id)


def test_an_intake_is_installed_proven_and_the_requester_told(
    setup: tuple[Desk, Installer], pki: OpenSSLPKI, nginx: Nginx, tmp_path: Path
) -> None:
    desk, installer = setup
    result = submit_leaf(desk, OPERATOR, pki, urls=URLS)
    # Stored and bound, but not complete until installed and proven.
    assert _request(desk, result.request_id).status == "processing"

    outcomes = installer.after_intake(OPERATOR, result.request_id)

    leaf = openssl_fingerprint(pki.leaf_crt)
    assert [(o.url, o.ok, o.sha256) for o in outcomes] == [(u, True, leaf) for u in URLS]
    for name in ("store.test.com", "www.test.com"):
        assert settled_sha256(nginx.address, name, leaf) == leaf
    request = _request(desk, result.request_id)
    assert request.status == "completed"
    assert "proven by a handshake" in request.timeline[-1][2]
    # The proof's handshakes are the domains' latest probes: served, no drift.
    with desk.context(OPERATOR) as ctx:
        states = ctx.session.query(DomainState).all()
        assert {s.served_sha256 for s in states} == {leaf}
        assert {s.served_drift for s in states} == {False}
    mails = list((tmp_path / "home" / "outbox").glob("*.eml"))
    assert len(mails) == 1
    message = email.message_from_bytes(mails[0].read_bytes())
    assert message["To"] == "ops@acme.gr"
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert leaf in body
    assert "https://www.test.com" in body


def test_dry_run_changes_nothing(
    setup: tuple[Desk, Installer], pki: OpenSSLPKI, nginx: Nginx
) -> None:
    desk, installer = setup
    result = submit_leaf(desk, OPERATOR, pki, urls=URLS)
    outcomes = installer.install(OPERATOR, urls=[URLS[0]], dry_run=True)
    assert [(o.url, o.action) for o in outcomes] == [(URLS[0], "add")]
    assert not any(nginx.include_dir.iterdir())
    assert _request(desk, result.request_id).status == "processing"


def test_a_failed_proof_is_rolled_back_and_the_request_stays_open(
    tmp_path: Path, pki: OpenSSLPKI, nginx: Nginx
) -> None:
    # The target's address is not where nginx listens: the proof cannot see the new leaf.
    settings = edge_settings(tmp_path, pki, nginx, address="127.0.0.1:9")
    desk = open_desk(settings)
    try:
        new_tenant(desk, OPERATOR)
        result = submit_leaf(desk, OPERATOR, pki, urls=URLS)
        installer = Installer(desk, install_config(settings), OutboxMailer(settings.outbox))
        outcomes = installer.after_intake(OPERATOR, result.request_id)
        assert outcomes
        assert not any(o.ok for o in outcomes)
        assert "the deploy was rolled back" in outcomes[0].message
        request = _request(desk, result.request_id)
        assert request.status == "processing"
        # The tenant's timeline says it plainly; the binding keeps the reason for operators.
        assert "did not succeed" in request.timeline[-1][2]
        assert "not served" in _reason(desk, URLS[0])
        # Rolled back: nginx has no block of certdesk's, and still serves its default.
        assert not any(nginx.include_dir.iterdir())
        default = openssl_fingerprint(pki.selfsigned_crt)
        assert settled_sha256(nginx.address, "store.test.com", default) == default
        assert not (tmp_path / "home" / "outbox").exists()
    finally:
        desk.store.close()


def test_a_refused_config_leaves_the_request_open_with_nginx_s_reason(
    tmp_path: Path, pki: OpenSSLPKI, nginx: Nginx
) -> None:
    settings = edge_settings(tmp_path, pki, nginx, server_extra="ssl_protocols TLSv9;")
    desk = open_desk(settings)
    try:
        new_tenant(desk, OPERATOR)
        result = submit_leaf(desk, OPERATOR, pki, urls=URLS)
        outcomes = Installer(desk, install_config(settings), None).after_intake(
            OPERATOR, result.request_id
        )
        assert not any(o.ok for o in outcomes)
        request = _request(desk, result.request_id)
        assert request.status == "processing"
        assert "TLSv9" not in request.timeline[-1][2]
        assert "TLSv9" in _reason(desk, URLS[0])
        audit = desk.run(OPERATOR, d.list_audit)
        assert audit[0].action == "certificate.install-failed"
    finally:
        desk.store.close()


def test_without_a_target_intake_completes_at_once(tmp_path: Path, pki: OpenSSLPKI) -> None:
    settings = Settings(
        home=tmp_path / "home",
        database_url=f"sqlite:///{tmp_path}/c.db",
        ca_bundle=pki.root_crt,
        lab_suffixes=LAB_SUFFIXES,
    )
    desk = open_desk(settings)
    try:
        new_tenant(desk, OPERATOR)
        result = submit_leaf(desk, OPERATOR, pki, urls=URLS)
        installer = Installer(desk, install_config(settings), None)
        assert installer.after_intake(OPERATOR, result.request_id) == []
        assert _request(desk, result.request_id).status == "completed"
    finally:
        desk.store.close()


def test_the_cli_deploys_a_url(
    tmp_path: Path, pki: OpenSSLPKI, nginx: Nginx, monkeypatch: pytest.MonkeyPatch
) -> None:

    home = tmp_path / "cli-home"
    home.mkdir()
    options = json.dumps(nginx.options())
    env = {
        "CERTDESK_HOME": str(home),
        "CERTDESK_CA_BUNDLE": str(pki.root_crt),
        "CERTDESK_DEPLOY_TARGET": "nginx",
        "CERTDESK_DEPLOY_OPTIONS": options,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(state, "_settings", None)
    monkeypatch.setattr(state, "_desk", None)
    monkeypatch.setattr(state, "home", None)
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["tenant", "add", "Acme Hosting"]).exit_code == 0
        submitted = runner.invoke(
            app,
            [
                "submit",
                str(pki.modern_pfx),
                "--password",
                "s3cret",
                "--common-name",
                "store.test.com",
                "--url",
                URLS[0],
                "--tenant",
                "Acme Hosting",
                "--json",
            ],
        )
        assert submitted.exit_code == 0, submitted.stdout + submitted.stderr
        installed = json.loads(submitted.stdout)["installed"]
        assert [(i["url"], i["ok"]) for i in installed] == [(URLS[0], True)]
        again = runner.invoke(app, ["deploy", URLS[0], "--json"])
        assert again.exit_code == 0, again.stdout + again.stderr
        assert [i["action"] for i in json.loads(again.stdout)["installed"]] == ["unchanged"]
        both = runner.invoke(app, ["deploy", URLS[0], "--all"])
        assert both.exit_code == 2
    finally:
        state.close()


def test_settings_read_deploy_targets_from_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "certdesk.toml").write_text(
        '[deploy]\ndefault = "edge"\n[deploy.targets.edge]\nkind = "files"\n'
        'folder = "/srv/certs"\n[deploy.targets.win]\nkind = "pfx"\nfolder = "/srv/pfx"\n'
        'password = "x"\n'
    )
    settings = load_settings(tmp_path, env={})
    assert settings.deploy_default == "edge"
    assert settings.deploy_target("edge") == ("files", {"folder": "/srv/certs"})
    assert settings.deploy_target("win") == ("pfx", {"folder": "/srv/pfx", "password": "x"})
    assert dataclasses.replace(settings, deploy_default=None).deploy_target("nope") is None


def _wildcard_pfx(pki: OpenSSLPKI, folder: Path) -> Path:
    """The PKI's *.test.com certificate, its key and the intermediate in a .pfx, by openssl."""
    out = folder / "wildcard.pfx"
    run_openssl(
        "pkcs12", "-export", "-in", pki.wildcard_crt, "-inkey", pki.wildcard_key,
        "-certfile", pki.int_crt, "-out", out, "-passout", f"pass:{PFX_PASSWORD}",
    )  # fmt: skip
    return out


def test_a_failed_proof_of_an_unchanged_deploy_leaves_every_host_as_it_was(
    tmp_path: Path, pki: OpenSSLPKI, nginx: Nginx
) -> None:
    """Issue 16: with both hosts installed and proven, the proof of store fails (the
    target's address is unreachable); certdesk must not take shop off its certificate,
    nor reopen either request, nor claim it restored anything."""
    settings = edge_settings(tmp_path, pki, nginx)
    desk = open_desk(settings)
    try:
        new_tenant(desk, OPERATOR)
        installer = Installer(desk, install_config(settings), None)
        store = submit_leaf(desk, OPERATOR, pki, urls=["https://store.test.com"])
        assert [o.ok for o in installer.after_intake(OPERATOR, store.request_id)] == [True]
        shop = desk.run(
            OPERATOR,
            d.submit_pfx,
            tenant="Acme Hosting",
            data=_wildcard_pfx(pki, tmp_path).read_bytes(),
            password=PFX_PASSWORD.encode(),
            common_name="*.test.com",
            urls=["https://shop.test.com"],
        )
        assert [o.ok for o in installer.after_intake(OPERATOR, shop.request_id)] == [True]
        leaf, wildcard = (openssl_fingerprint(p) for p in (pki.leaf_crt, pki.wildcard_crt))
        assert settled_sha256(nginx.address, "shop.test.com", wildcard) == wildcard
        files = {p: p.read_bytes() for p in sorted(nginx.folder.rglob("*")) if p.is_file()}
        shop_timeline = _request(desk, shop.request_id).timeline
        pid = int((nginx.folder / "nginx.pid").read_text())
        error_log = (nginx.folder / "error.log").read_text()
        assert "reconfiguring" in error_log  # each install above reloaded nginx

        unreachable = edge_settings(tmp_path, pki, nginx, address="127.0.0.1:1")
        outcomes = Installer(desk, install_config(unreachable), None).install(
            OPERATOR, urls=["https://store.test.com"]
        )

        # Nothing was touched: not a file, not a block, and nginx was not reloaded.
        after = {p: p.read_bytes() for p in sorted(nginx.folder.rglob("*")) if p.is_file()}
        assert {p: b for p, b in after.items() if p.name != "error.log"} == {
            p: b for p, b in files.items() if p.name != "error.log"
        }
        assert "reconfiguring" not in (nginx.folder / "error.log").read_text()[len(error_log) :]
        assert int((nginx.folder / "nginx.pid").read_text()) == pid
        # Both hosts still serve their certificates, through a real handshake.
        assert settled_sha256(nginx.address, "shop.test.com", wildcard) == wildcard
        assert settled_sha256(nginx.address, "store.test.com", leaf) == leaf
        # What it says is what happened.
        [outcome] = outcomes
        assert not outcome.ok
        assert outcome.action == "unchanged"
        assert "unreachable, no handshake" in outcome.message
        assert "nothing was changed on edge" in outcome.message
        assert "restored" not in outcome.message
        assert "rolled back" not in outcome.message
        # The records stay true: store is still served, so still completed; shop untouched.
        assert _request(desk, store.request_id).status == "completed"
        assert _request(desk, shop.request_id).status == "completed"
        assert _request(desk, shop.request_id).timeline == shop_timeline
        audit = desk.run(OPERATOR, d.list_audit)
        assert audit[0].action == "certificate.install-failed"
        assert audit[0].detail["urls"] == ["https://store.test.com"]
    finally:
        desk.store.close()


def test_a_refused_config_says_nginx_s_message_once(
    tmp_path: Path, pki: OpenSSLPKI, nginx: Nginx
) -> None:
    settings = edge_settings(tmp_path, pki, nginx, server_extra="ssl_protocols TLSv9;")
    desk = open_desk(settings)
    try:
        new_tenant(desk, OPERATOR)
        result = submit_leaf(desk, OPERATOR, pki, urls=URLS)
        outcomes = Installer(desk, install_config(settings), None).after_intake(
            OPERATOR, result.request_id
        )
        message = outcomes[0].message
        assert message.count("TLSv9") == 1, message
        assert "what edge had before stays in place" in message
    finally:
        desk.store.close()
