"""A deploy compares the configuration it renders, not only the certificate: a changed
nginx ``listen`` is applied ("reconfigure") instead of "unchanged"; ``force`` installs and
reloads again though nothing changed. On a real nginx, proven by handshakes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from certdesk.application.compose import install_config, open_desk
from certdesk.application.installer import Installer
from certdesk.desk import Actor, Desk
from tests.deploy.servers import Nginx, free_port, served_sha256, settled_sha256
from tests.edge import edge_settings
from tests.flows import new_tenant, submit_leaf
from tests.openssl_pki import OpenSSLPKI, openssl_fingerprint

OPERATOR = Actor(name="test")
URL = "https://store.test.com"


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
