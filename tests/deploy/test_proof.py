"""The proof: one result per URL, never an exception for one that fails."""

from __future__ import annotations

import dataclasses

from certdesk.deploy import load_target, prove
from tests.deploy.conftest import SHOP, STORE, Certs
from tests.deploy.servers import Nginx, free_port


def test_proof_of_a_mixed_batch(nginx_server: Nginx, certs: Certs) -> None:
    target = load_target("nginx", nginx_server.options())
    installed = certs.store.item(f"https://{STORE}/")
    target.deploy([installed])
    not_installed = certs.wildcard.item(f"https://{SHOP}/", hostname="*.test.com")
    other = certs.store2.item("https://www.test.com/")  # nginx serves www with its default
    unprobable = dataclasses.replace(installed, url="https://*.test.com/")

    proofs = prove(
        [installed, not_installed, other, unprobable],
        connect_to=nginx_server.address,
        settle=0.5,
        interval=0.1,
    )
    assert [p.ok for p in proofs] == [True, False, False, False]
    ok, wrong, default, bad = proofs
    assert ok.served_sha256 == certs.store.sha256
    assert ok.probe is not None
    assert ok.probe.target.connect_to == nginx_server.address
    assert ok.probe.target.host == STORE
    assert wrong.served_sha256 == certs.default.sha256
    assert "the served certificate does not match" in wrong.reason
    assert certs.default.sha256 in wrong.reason
    assert default.served_sha256 == certs.default.sha256
    assert bad.probe is None
    assert "cannot probe" in bad.reason
    assert ok.to_json()["ok"] is True


def test_proof_when_nothing_listens(certs: Certs) -> None:
    item = certs.store.item(f"https://{STORE}/")
    [proof] = prove([item], connect_to=("127.0.0.1", free_port()), settle=0.3, interval=0.1)
    assert not proof.ok
    assert proof.served_sha256 is None
    assert proof.reason.startswith("unreachable, no handshake")
    assert proof.to_json()["probe"]["error"] == "refused"
