"""The nginx target against a real nginx: tested, reloaded, rolled back when refused."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from certdesk.deploy import DeployError, NginxTarget, load_target, prove
from certdesk.errors import InvalidArgument
from tests.deploy.conftest import SHOP, STORE, Certs
from tests.deploy.servers import NGINX, ClientLoop, Nginx, settled_sha256
from tests.openssl_pki import run_openssl


def _target(server: Nginx, **extra: object) -> NginxTarget:
    target = load_target("nginx", server.options(**extra))
    assert isinstance(target, NginxTarget)
    return target


def _s_client_sha256(address: tuple[str, int], server_name: str, expected: str) -> str:
    """The served leaf's SHA-256 as ``openssl s_client -servername`` sees it, once it is
    ``expected`` or after 10 s: until the old workers of a reload have stopped taking
    connections, a handshake may still get the previous configuration."""
    deadline = time.monotonic() + 10
    while True:
        done = subprocess.run(
            ["openssl", "s_client", "-connect", f"{address[0]}:{address[1]}",
             "-servername", server_name],
            input=b"", capture_output=True, timeout=20, check=True,
        )  # fmt: skip
        out = run_openssl("x509", "-noout", "-fingerprint", "-sha256", stdin=done.stdout)
        served = out.decode().strip().split("=", 1)[1].replace(":", "").lower()
        if served == expected or time.monotonic() > deadline:
            return served
        time.sleep(0.05)


def test_deploy_is_seen_in_a_handshake(nginx_server: Nginx, certs: Certs) -> None:
    target = _target(nginx_server)
    store = certs.store.item(f"https://{STORE}/")
    shop = certs.wildcard.item(f"https://{SHOP}/", hostname="*.test.com")
    result = target.deploy([store, shop])
    assert result.reloaded
    block = target.block_path(STORE).read_text()
    assert f"server_name {STORE};" in block
    assert f'ssl_certificate_key "{target.key_path(STORE)}";' in block
    assert target.block_path("*.test.com").name == "_wildcard.test.com.conf"
    proofs = prove([store, shop], connect_to=nginx_server.address)
    assert all(p.ok for p in proofs), [p.reason for p in proofs]
    assert _s_client_sha256(nginx_server.address, STORE, certs.store.sha256) == certs.store.sha256
    assert (
        _s_client_sha256(nginx_server.address, SHOP, certs.wildcard.sha256) == certs.wildcard.sha256
    )
    assert (
        _s_client_sha256(nginx_server.address, "other.example", certs.default.sha256)
        == certs.default.sha256
    )


def test_renewal_while_clients_connect(nginx_server: Nginx, certs: Certs) -> None:
    target = _target(nginx_server)
    target.deploy([certs.store.item(f"https://{STORE}/")])
    prove([certs.store.item(f"https://{STORE}/")], connect_to=nginx_server.address)
    with ClientLoop(nginx_server.address, STORE, threads=2) as loop:
        loop.wait_for(certs.store.sha256, 20)
        renewal = certs.store2.item(f"https://{STORE}/")
        assert target.deploy([renewal]).reloaded
        loop.wait_for(certs.store2.sha256, 20)
    assert loop.failures == [], loop.failures[:5]
    [proof] = prove([renewal], connect_to=nginx_server.address)
    assert proof.ok, proof.reason


def test_a_broken_include_rolls_back_and_the_old_certificate_stays(
    nginx_server: Nginx, certs: Certs
) -> None:
    target = _target(nginx_server)
    target.deploy([certs.store.item(f"https://{STORE}/")])
    prove([certs.store.item(f"https://{STORE}/")], connect_to=nginx_server.address)
    before = {p: p.read_bytes() for p in target.paths(STORE)}
    manifest = target.manifest_path.read_bytes()
    # Someone else's file in the include folder breaks the configuration.
    (nginx_server.include_dir / "000-hand-made.conf").write_text("this_is_not_nginx on;\n")

    with pytest.raises(DeployError) as caught:
        target.deploy([certs.store2.item(f"https://{STORE}/")])
    error = caught.value
    assert error.code == "deploy-failed"
    assert error.rolled_back
    assert 'unknown directive "this_is_not_nginx"' in (error.reason or "")
    assert {p: p.read_bytes() for p in target.paths(STORE)} == before
    assert target.manifest_path.read_bytes() == manifest
    assert not target.journal.pending
    assert settled_sha256(nginx_server.address, STORE, certs.store.sha256) == certs.store.sha256


def test_an_invalid_generated_block_rolls_back(nginx_server: Nginx, certs: Certs) -> None:
    good = _target(nginx_server)
    good.deploy([certs.store.item(f"https://{STORE}/")])
    bad = _target(nginx_server, server_extra="ssl_protocols TLSv9;")
    with pytest.raises(DeployError) as caught:
        bad.deploy([certs.wildcard.item(f"https://{SHOP}/", hostname="*.test.com")])
    assert caught.value.rolled_back
    assert "TLSv9" in (caught.value.reason or "")
    assert not any(p.exists() for p in bad.paths("*.test.com"))
    assert sorted(p.name for p in nginx_server.include_dir.iterdir()) == [f"{STORE}.conf"]
    good.config_test()
    assert settled_sha256(nginx_server.address, STORE, certs.store.sha256) == certs.store.sha256
    assert settled_sha256(nginx_server.address, SHOP, certs.default.sha256) == certs.default.sha256


def test_a_stopped_nginx_is_an_error_and_files_are_put_back(
    nginx_server: Nginx, certs: Certs
) -> None:
    target = _target(nginx_server)
    assert nginx_server.proc is not None
    nginx_server.proc.terminate()
    nginx_server.proc.wait(10)
    with pytest.raises(DeployError) as caught:
        target.deploy([certs.store.item(f"https://{STORE}/")])
    assert caught.value.rolled_back
    assert not any(p.exists() for p in target.paths(STORE))


def test_missing_nginx_and_unsafe_paths(tmp_path: Path) -> None:
    target = NginxTarget(
        tmp_path / "certs",
        include_dir=tmp_path / "sites",
        conf=tmp_path / "nginx.conf",
        nginx=str(tmp_path / "no-nginx"),
    )
    with pytest.raises(DeployError) as caught:
        target.config_test()
    assert "nginx" in (caught.value.hint or "")
    with pytest.raises(InvalidArgument):
        NginxTarget(tmp_path / "a$b", include_dir=tmp_path, conf=tmp_path / "n.conf")
    with pytest.raises(InvalidArgument):
        NginxTarget(tmp_path, include_dir=tmp_path, conf=tmp_path / "n.conf", listen=["443; x"])
    assert NGINX.exists()
