"""A deploy compares the configuration it renders, not only the certificate: a changed
nginx ``listen`` or HAProxy ``ssl_options`` is applied ("reconfigure") instead of
"unchanged"; ``force`` installs and reloads again though nothing changed. On a real nginx
and a real HAProxy, proven by handshakes."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from certdesk.application.compose import install_config, open_desk
from certdesk.application.installer import Installer
from certdesk.desk import Actor, Desk
from certdesk.settings import Settings
from tests.database import LAB_SUFFIXES
from tests.deploy.servers import (
    HAProxy,
    Nginx,
    free_port,
    run_haproxy,
    served_sha256,
    settled_sha256,
)
from tests.edge import edge_settings
from tests.flows import new_tenant, submit_leaf
from tests.openssl_pki import OpenSSLPKI, openssl_fingerprint

OPERATOR = Actor(name="test")
URL = "https://store.test.com"


def _haproxy_settings(
    tmp_path: Path, pki: OpenSSLPKI, haproxy: HAProxy, **options: object
) -> Settings:
    targets = (("edge", "haproxy", tuple(sorted(haproxy.options(**options).items()))),)
    return Settings(
        home=tmp_path / "home",
        database_url=f"sqlite:///{tmp_path}/certdesk.db",
        ca_bundle=pki.root_crt,
        lab_suffixes=LAB_SUFFIXES,
        deploy_targets=targets,
        deploy_default="edge",
    )


def _installer(
    desk: Desk, tmp_path: Path, pki: OpenSSLPKI, nginx: Nginx, **options: object
) -> Installer:
    return Installer(desk, install_config(edge_settings(tmp_path, pki, nginx, **options)), None)


@pytest.fixture
def desk(tmp_path: Path, pki: OpenSSLPKI, nginx: Nginx) -> Iterator[Desk]:
    made = open_desk(edge_settings(tmp_path, pki, nginx))
    new_tenant(made, OPERATOR)
    try:
        yield made
    finally:
        made.store.close()


def test_a_changed_listen_is_applied_and_force_reinstalls(
    desk: Desk, tmp_path: Path, pki: OpenSSLPKI, nginx: Nginx
) -> None:
    result = submit_leaf(desk, OPERATOR, pki, urls=[URL])
    [first] = _installer(desk, tmp_path, pki, nginx).after_intake(OPERATOR, result.request_id)
    assert (first.ok, first.action) == (True, "add")
    leaf = openssl_fingerprint(pki.leaf_crt)

    # The same options again: unchanged, nothing written, no reload.
    log = nginx.folder / "error.log"
    seen = len(log.read_text())
    [same] = _installer(desk, tmp_path, pki, nginx).install(OPERATOR, urls=[URL])
    assert (same.ok, same.action) == (True, "unchanged")
    assert "reconfiguring" not in log.read_text()[seen:]

    # A second listen address: the server block differs, so it is rewritten and reloaded.
    port = free_port()
    listen = [f"127.0.0.1:{nginx.port} ssl", f"127.0.0.1:{port} ssl"]
    changed = _installer(desk, tmp_path, pki, nginx, listen=listen)
    [dry] = changed.install(OPERATOR, urls=[URL], dry_run=True)
    assert dry.action == "reconfigure"
    [applied] = changed.install(OPERATOR, urls=[URL])
    assert (applied.ok, applied.action, applied.state) == (True, "reconfigure", "installed")
    assert (
        f"listen 127.0.0.1:{port} ssl;" in (nginx.include_dir / "store.test.com.conf").read_text()
    )
    assert settled_sha256(("127.0.0.1", port), "store.test.com", leaf) == leaf
    [again] = changed.install(OPERATOR, urls=[URL])
    assert again.action == "unchanged"

    # --force: installed and reloaded again though nothing changed.
    seen = len(log.read_text())
    [forced] = changed.install(OPERATOR, urls=[URL], force=True)
    assert (forced.ok, forced.action) == (True, "reinstall"), forced.message
    # nginx handles the reload signal on its own time: wait for its log line.
    deadline = time.monotonic() + 10
    while "reconfiguring" not in log.read_text()[seen:] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "reconfiguring" in log.read_text()[seen:]
    assert served_sha256(nginx.address, "store.test.com") == leaf


@pytest.fixture
def haproxy(tmp_path: Path, pki: OpenSSLPKI) -> Iterator[HAProxy]:
    default = pki.selfsigned_crt.read_bytes() + pki.selfsigned_key.read_bytes()
    with run_haproxy(tmp_path / "haproxy", default) as server:
        yield server


def _alpn(address: tuple[str, int]) -> str | None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(address, 5) as raw,
        ctx.wrap_socket(raw, server_hostname="store.test.com") as tls,
    ):
        return tls.selected_alpn_protocol()


def test_a_changed_haproxy_option_is_applied(
    tmp_path: Path, pki: OpenSSLPKI, haproxy: HAProxy
) -> None:
    def installer(desk: Desk, **options: object) -> Installer:
        return Installer(
            desk, install_config(_haproxy_settings(tmp_path, pki, haproxy, **options)), None
        )

    desk = open_desk(_haproxy_settings(tmp_path, pki, haproxy))
    try:
        new_tenant(desk, OPERATOR)
        result = submit_leaf(desk, OPERATOR, pki, urls=[URL])
        [first] = installer(desk).after_intake(OPERATOR, result.request_id)
        assert (first.ok, first.action) == (True, "add"), first.message
        assert _alpn(haproxy.address) is None
        [same] = installer(desk).install(OPERATOR, urls=[URL])
        assert (same.ok, same.action) == (True, "unchanged")

        # The target's ssl_options changed in the settings: the next deploy applies them.
        alpn = installer(desk, ssl_options="[alpn h2,http/1.1]")
        [dry] = alpn.install(OPERATOR, urls=[URL], dry_run=True)
        assert dry.action == "reconfigure"
        [applied] = alpn.install(OPERATOR, urls=[URL])
        assert (applied.ok, applied.action, applied.state) == (True, "reconfigure", "installed")
        assert _alpn(haproxy.address) == "h2"
        [again] = alpn.install(OPERATOR, urls=[URL])
        assert again.action == "unchanged"
        [forced] = alpn.install(OPERATOR, urls=[URL], force=True)
        assert (forced.ok, forced.action) == (True, "reinstall"), forced.message
        assert served_sha256(haproxy.address, "store.test.com") == openssl_fingerprint(pki.leaf_crt)
    finally:
        desk.store.close()
