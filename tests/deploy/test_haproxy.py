"""The haproxy target against a real HAProxy: reloads for new names, hot swaps for renewals."""

from __future__ import annotations

import socket
import ssl
import stat
from pathlib import Path

import pytest

from certdesk.deploy import Action, DeployError, HAProxyTarget, load_target, prove
from tests.deploy.conftest import STORE, Certs
from tests.deploy.servers import ClientLoop, HAProxy, free_port, served_sha256


def _target(server: HAProxy, **extra: object) -> HAProxyTarget:
    target = load_target("haproxy", server.options(**extra))
    assert isinstance(target, HAProxyTarget)
    return target


def test_a_new_name_is_loaded_by_a_reload(haproxy_server: HAProxy, certs: Certs) -> None:
    target = _target(haproxy_server)
    before = haproxy_server.worker_pid()
    item = certs.store.item(f"https://{STORE}/")
    result = target.deploy([item])
    assert result.reloaded
    assert result.hot_updated == ()
    assert haproxy_server.worker_pid() != before
    assert haproxy_server.crt_list.read_text() == f"{target.cert_path(STORE)} {STORE}\n"
    pem = target.cert_path(STORE)
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600  # leaf, chain and key in one file
    assert str(pem) in haproxy_server.ask("show ssl cert")
    [proof] = prove([item], connect_to=haproxy_server.address)
    assert proof.ok, proof.reason
    assert served_sha256(haproxy_server.address, STORE) == certs.store.sha256
    # Another name still gets the default certificate.
    assert served_sha256(haproxy_server.address, "other.example") == certs.default.sha256


def test_renewal_is_hot_swapped_with_no_failed_handshake(
    haproxy_server: HAProxy, certs: Certs
) -> None:
    target = _target(haproxy_server)
    target.deploy([certs.store.item(f"https://{STORE}/")])
    worker = haproxy_server.worker_pid()
    old, new = certs.store.sha256, certs.store2.sha256

    with ClientLoop(haproxy_server.address, STORE, threads=3) as loop:
        loop.wait_for(old, 30)
        result = target.deploy([certs.store2.item(f"https://{STORE}/")])
        assert result.hot_updated == (STORE,)
        assert not result.reloaded
        loop.wait_for(new, 30)
        # Rolling the renewal back is a hot swap as well.
        target.rollback(result)
        loop.wait_for(old, loop.count(old) + 30)

    assert loop.failures == [], loop.failures[:5]
    assert loop.count() >= 90
    assert haproxy_server.worker_pid() == worker, "a hot swap must not reload HAProxy"
    assert served_sha256(haproxy_server.address, STORE) == old


def test_an_unreachable_runtime_api_leaves_the_previous_files(
    haproxy_server: HAProxy, certs: Certs, tmp_path: Path
) -> None:
    target = _target(haproxy_server)
    target.deploy([certs.store.item(f"https://{STORE}/")])
    before = target.cert_path(STORE).read_bytes()
    lost = _target(haproxy_server, socket=str(tmp_path / "nowhere.sock"))
    with pytest.raises(DeployError) as caught:
        lost.deploy([certs.store2.item(f"https://{STORE}/")])
    assert caught.value.code == "deploy-failed"
    assert caught.value.rolled_back
    assert "runtime API" in caught.value.message
    assert target.cert_path(STORE).read_bytes() == before
    assert served_sha256(haproxy_server.address, STORE) == certs.store.sha256


def test_a_crt_list_haproxy_refuses_is_rolled_back(haproxy_server: HAProxy, certs: Certs) -> None:
    good = _target(haproxy_server)
    good.deploy([certs.store.item(f"https://{STORE}/")])
    crt_list = haproxy_server.crt_list.read_text()
    worker = haproxy_server.worker_pid()
    bad = _target(haproxy_server, ssl_options="[no-such-option]")
    with pytest.raises(DeployError) as caught:
        bad.deploy([certs.wildcard.item("https://shop.test.com/", hostname="*.test.com")])
    assert caught.value.rolled_back
    assert "no-such-option" in (caught.value.reason or "")
    assert haproxy_server.crt_list.read_text() == crt_list
    assert not bad.cert_path("*.test.com").exists()
    assert haproxy_server.worker_pid() == worker
    assert served_sha256(haproxy_server.address, STORE) == certs.store.sha256


def test_reload_needs_a_way_to_signal(haproxy_server: HAProxy, certs: Certs) -> None:
    target = _target(haproxy_server, pid_file=None)
    with pytest.raises(DeployError) as caught:
        target.deploy([certs.store.item(f"https://{STORE}/")])
    assert caught.value.rolled_back
    assert "pid_file" in (caught.value.hint or "")
    assert not target.cert_path(STORE).exists()
    assert haproxy_server.crt_list.read_text() == ""


def test_a_missing_haproxy_says_what_to_install(tmp_path: Path) -> None:
    target = HAProxyTarget(
        tmp_path / "certs",
        socket_path=tmp_path / "s.sock",
        config=tmp_path / "haproxy.cfg",
        haproxy=str(tmp_path / "no-haproxy"),
    )
    with pytest.raises(DeployError) as caught:
        target.config_test()
    assert "haproxy" in (caught.value.hint or "")


def _alpn(address: tuple[str, int], server_name: str) -> str | None:
    """The protocol HAProxy picks from h2 and http/1.1 offered in one handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(address, 5) as raw,
        ctx.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        return tls.selected_alpn_protocol()


def test_a_changed_ssl_option_is_applied_and_force_reinstalls(
    haproxy_server: HAProxy, certs: Certs
) -> None:
    item = certs.store.item(f"https://{STORE}/")
    _target(haproxy_server).deploy([item])
    assert _alpn(haproxy_server.address, STORE) is None
    assert _target(haproxy_server).deploy([item]).plan.hosts[0].action is Action.UNCHANGED

    alpn = _target(haproxy_server, ssl_options="[alpn h2,http/1.1]")
    [planned] = alpn.plan([item]).hosts
    assert planned.action is Action.RECONFIGURE
    worker = haproxy_server.worker_pid()
    result = alpn.deploy([item])
    assert [h.action for h in result.plan.hosts] == [Action.RECONFIGURE]
    assert result.reloaded
    assert str(haproxy_server.crt_list) in result.written
    assert haproxy_server.worker_pid() != worker
    assert _alpn(haproxy_server.address, STORE) == "h2"
    assert served_sha256(haproxy_server.address, STORE) == certs.store.sha256

    # The same options again: nothing written, nothing reloaded.
    worker = haproxy_server.worker_pid()
    again = alpn.deploy([item])
    assert ([h.action for h in again.plan.hosts], again.written) == ([Action.UNCHANGED], ())
    assert haproxy_server.worker_pid() == worker

    # A line edited by hand is put back as rendered.
    haproxy_server.crt_list.write_text(f"{alpn.cert_path(STORE)} {STORE}\n")
    assert [h.action for h in alpn.plan([item]).hosts] == [Action.RECONFIGURE]
    assert alpn.deploy([item]).reloaded
    assert haproxy_server.crt_list.read_text() == alpn.crt_list_line(STORE) + "\n"

    # --force: swapped in again through the runtime API though nothing changed.
    forced = alpn.deploy([item], force=True)
    assert [h.action for h in forced.plan.hosts] == [Action.REINSTALL]
    assert forced.hot_updated == (STORE,)
    assert _alpn(haproxy_server.address, STORE) == "h2"


def test_port_80_routing_haproxy_was_not_started_with_is_refused(
    haproxy_server: HAProxy, certs: Certs
) -> None:
    target = _target(haproxy_server)
    target.deploy([certs.store.item(f"https://{STORE}/")])
    routing = _target(
        haproxy_server, http_listen=[f"127.0.0.1:{free_port()}"], acme_http="127.0.0.1:8080"
    )
    with pytest.raises(DeployError) as caught:
        routing.deploy([])
    error = caught.value
    assert error.rolled_back
    assert "did not load the port-80 routing" in error.message
    assert f"-f {routing.http_config}" in (error.hint or "")
    assert not routing.http_config.exists()  # put back as it was: absent
    assert served_sha256(haproxy_server.address, STORE) == certs.store.sha256
