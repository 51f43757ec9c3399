"""Port 80 routed to certdesk by the configuration the nginx and HAProxy targets generate
(``http_listen`` and ``acme_http``): a real nginx and a real HAProxy pass
``/.well-known/acme-challenge/<token>`` to certdesk's app and redirect the rest to https;
and pebble validates a platform-managed domain through nginx's port-80 listener (pebble's
``httpPort`` is nginx's, certdesk's app listens elsewhere), the certificate is issued,
installed on that nginx and served."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from certdesk import desk as d
from certdesk.application.compose import install_config, managed_config, open_desk
from certdesk.application.installer import Installer
from certdesk.application.managed import ACME_ACTOR, run_acme_unit
from certdesk.deploy import HAProxyTarget, NginxTarget, load_target
from certdesk.deploy.base import Target
from certdesk.desk import Desk
from certdesk.desk.managed import publish_challenge, take_unit
from certdesk.errors import InvalidArgument
from certdesk.notify import OutboxMailer
from certdesk.settings import CONFIG_FILE, Settings
from tests.acme.conftest import OPERATOR, TENANT, bed_settings, serving
from tests.acme.pebble import run_pebble
from tests.database import LAB_SUFFIXES
from tests.deploy.servers import (
    free_port,
    run_haproxy,
    run_nginx,
    settled_sha256,
)
from tests.flows import new_tenant
from tests.openssl_pki import OpenSSLPKI

URL = "https://shop.acme.test"
HOST = "shop.acme.test"
TOKEN = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
ANSWER = TOKEN + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"


def body(port: int, path: str, host: str = HOST) -> tuple[int, bytes, str | None]:
    """One plain-HTTP GET on 127.0.0.1:``port`` with ``host`` as Host: status, body and
    Location."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        answer = conn.getresponse()
        return answer.status, answer.read(), answer.getheader("Location")
    finally:
        conn.close()


def _refused(port: int, timeout: float = 10) -> bool:
    """Whether connections to 127.0.0.1:``port`` are refused (within ``timeout`` s: the old
    workers of a reload stop listening on their own time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body(port, "/")
        except ConnectionRefusedError:
            return True
        time.sleep(0.05)
    return False


@dataclass
class Edge:
    """A terminator, its target options (routing to certdesk's app on ``app_port``) and
    the plain-HTTP port the routing listens on."""

    kind: str
    http_port: int
    app_port: int
    options: dict[str, object]

    def target(self, **changes: object) -> Target:
        options = {k: v for k, v in {**self.options, **changes}.items() if v is not None}
        return load_target(self.kind, options)


@contextlib.contextmanager
def edge(kind: str, folder: Path, pki: OpenSSLPKI) -> Iterator[Edge]:
    http_port, app_port = free_port(), free_port()
    if kind == "nginx":
        with run_nginx(folder / "nginx", pki.selfsigned_crt, pki.selfsigned_key) as nginx:
            options = nginx.options(
                http_listen=[f"127.0.0.1:{http_port}"], acme_http=f"127.0.0.1:{app_port}"
            )
            yield Edge(kind, http_port, app_port, options)
        return
    http_config = folder / "haproxy-http.cfg"
    default = pki.selfsigned_crt.read_bytes() + pki.selfsigned_key.read_bytes()
    with run_haproxy(folder / "haproxy", default, [http_config]) as proxy:
        options = proxy.options(
            http_listen=[f"127.0.0.1:{http_port}"],
            acme_http=f"127.0.0.1:{app_port}",
            http_config=str(http_config),
        )
        yield Edge(kind, http_port, app_port, options)


def _plain_settings(tmp_path: Path, pki: OpenSSLPKI) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=f"sqlite:///{tmp_path}/certdesk.db",
        ca_bundle=pki.root_crt,
        lab_suffixes=LAB_SUFFIXES,
    )


@contextlib.contextmanager
def _desk(settings: Settings) -> Iterator[Desk]:
    desk = open_desk(settings)
    try:
        yield desk
    finally:
        desk.store.close()


@pytest.mark.parametrize("kind", ["nginx", "haproxy"])
def test_port_80_passes_challenges_to_certdesk_and_redirects_the_rest(
    kind: str, tmp_path: Path, pki: OpenSSLPKI
) -> None:
    settings = _plain_settings(tmp_path, pki)
    with edge(kind, tmp_path, pki) as site, _desk(settings) as desk:
        new_tenant(desk, OPERATOR, TENANT)
        desk.run(OPERATOR, d.add_domain, url=URL, tenant=TENANT, managed="acme")
        with desk.context(ACME_ACTOR) as ctx:
            unit = take_unit(ctx, url=URL, force=True)
            assert unit is not None
            publish_challenge(ctx, domain_id=unit.domain_id, token=TOKEN, key_authorization=ANSWER)

        # A deploy of no host writes and applies the target's own configuration: the
        # routing is there before any certificate of the name is installed.
        target = site.target()
        result = target.deploy([])
        assert result.reloaded
        assert result.plan.hosts == ()
        assert _answers(site.http_port, within=10)
        with serving(desk, settings, site.app_port):
            assert body(site.http_port, f"/.well-known/acme-challenge/{TOKEN}") == (
                200,
                ANSWER.encode(),
                None,
            )
            status, text, _ = body(site.http_port, "/.well-known/acme-challenge/unknown-token")
            assert status == 404
            assert "no ACME challenge is pending" in json.loads(text)["error"]["message"]
            status, _, location = body(site.http_port, "/shop?x=1")
            assert (status, location) == (301, f"https://{HOST}/shop?x=1")
        # Unchanged options: nothing written, nothing reloaded.
        again = site.target().deploy([])
        assert (again.written, again.reloaded) == ((), False)

        # The options dropped: the routing goes with them.
        plain = site.target(http_listen=None, acme_http=None)
        assert plain.deploy([]).reloaded
        assert _refused(site.http_port)


def test_options_go_together(tmp_path: Path) -> None:
    common = {"folder": str(tmp_path / "c"), "include_dir": str(tmp_path), "conf": "/x"}
    for kind, options in (
        ("nginx", {**common, "http_listen": ["80"]}),
        ("nginx", {**common, "acme_http": "127.0.0.1:8080"}),
        (
            "haproxy",
            {"folder": str(tmp_path), "socket": "/s", "config": "/c", "http_listen": ":80"},
        ),
    ):
        with pytest.raises(InvalidArgument) as caught:
            load_target(kind, options)
        assert "http_listen and acme_http go together" in caught.value.message
    with pytest.raises(InvalidArgument) as caught:
        load_target("nginx", {**common, "http_listen": ["80; evil"], "acme_http": "h:1"})
    assert caught.value.field == "http_listen"
    nginx = load_target("nginx", {**common, "http_listen": ["80"], "acme_http": "[::1]:8080"})
    assert isinstance(nginx, NginxTarget)
    assert "proxy_pass http://[::1]:8080;" in (nginx.http_block() or "")
    haproxy = load_target(
        "haproxy",
        {"folder": str(tmp_path), "socket": "/s", "config": "/c", "http_listen": [":80"],
         "acme_http": "127.0.0.1:8080"},
    )  # fmt: skip
    assert isinstance(haproxy, HAProxyTarget)
    assert haproxy.http_config == tmp_path / "certdesk-http.cfg"


@pytest.mark.parametrize("kind", ["nginx", "haproxy"])
def test_pebble_validates_through_the_targets_port_80_and_the_certificate_is_served(
    kind: str, tmp_path: Path, pki: OpenSSLPKI
) -> None:
    with (
        edge(kind, tmp_path, pki) as site,
        run_pebble(tmp_path / "pebble", site.http_port) as pebble,
    ):
        targets = (("edge", kind, tuple(sorted(site.options.items()))),)
        settings = bed_settings(
            tmp_path,
            pebble,
            f"sqlite:///{tmp_path}/certdesk.db",
            deploy_targets=targets,
            deploy_default="edge",
        )
        assert not _answers(site.http_port)  # nothing routes port 80 yet
        with _desk(settings) as desk, serving(desk, settings, site.app_port):
            new_tenant(desk, OPERATOR, TENANT)
            desk.run(OPERATOR, d.add_domain, url=URL, tenant=TENANT, managed="acme")
            installer = Installer(desk, install_config(settings), OutboxMailer(settings.outbox))

            # serve's acme.issue job does the same: routing applied, ordered, installed.
            outcome = run_acme_unit(
                desk, URL, desk.now(), config=managed_config(settings), installer=installer
            )

            assert outcome.state == "issued", outcome.message
            assert outcome.sha256 is not None
            assert "proven by a handshake" in outcome.message
            address = site.target().address
            assert address is not None
            assert settled_sha256(address, HOST, outcome.sha256) == outcome.sha256
            # Pebble validates on the terminator's port 80 only (certdesk listens on another
            # port), where nothing answered before the order: the routing was applied first.
            assert _answers(site.http_port)


def _answers(port: int, within: float = 0) -> bool:
    """Whether something answers HTTP on 127.0.0.1:``port`` (now, or within ``within`` s:
    nginx's new workers of a reload start listening on their own time)."""
    deadline = time.monotonic() + within
    while True:
        try:
            body(port, "/.well-known/acme-challenge/x")
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        else:
            return True


def test_deploy_configure_applies_the_routing_from_the_command_line(
    tmp_path: Path, pki: OpenSSLPKI
) -> None:
    with edge("nginx", tmp_path, pki) as site:
        home = tmp_path / "home"
        home.mkdir()
        lines = ['[deploy]\ndefault = "edge"\n\n[deploy.targets.edge]\nkind = "nginx"']
        lines += [f"{key} = {json.dumps(value)}" for key, value in site.options.items()]
        (home / CONFIG_FILE).write_text("\n".join(lines) + "\n")
        env = {
            **os.environ,
            "CERTDESK_HOME": str(home),
            "CERTDESK_DATABASE_URL": f"sqlite:///{tmp_path}/certdesk.db",
        }

        def certdesk(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "certdesk", "deploy", *args],
                capture_output=True, text=True, env=env, timeout=60, check=False,
            )  # fmt: skip

        refused = certdesk("--configure", "--all")
        assert refused.returncode == 2
        assert "--configure applies the targets' own configuration" in refused.stderr
        assert not _answers(site.http_port)

        done = certdesk("--configure", "--json")
        assert done.returncode == 0, done.stderr
        [edge_target] = json.loads(done.stdout)["configured"]
        assert (edge_target["target"], edge_target["ok"], edge_target["reloaded"]) == (
            "edge",
            True,
            True,
        )
        assert _answers(site.http_port, within=10)
        status, _, location = body(site.http_port, "/")
        assert (status, location) == (301, f"https://{HOST}/")

        again = certdesk("--configure", "--target", "edge")
        assert again.returncode == 0, again.stderr
        assert "edge: configuration unchanged" in again.stdout
