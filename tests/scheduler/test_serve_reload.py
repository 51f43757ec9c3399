"""A real ``certdesk serve`` applies a changed ``certdesk.toml`` without a restart: on
SIGHUP (the file changed in a way its watcher cannot see: same size, same modification
time), and on a change of the file alone. Shown through the API: a deploy to the new
target writes the certificate where that target says."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from certdesk.desk import Actor, Desk, accounts
from certdesk.settings import CONFIG_FILE, Settings
from tests.deploy.servers import free_port
from tests.flows import new_tenant, submit_leaf
from tests.openssl_pki import OpenSSLPKI
from tests.scheduler.conftest import stop

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
OPERATOR = Actor(name="test-operator")
URL = "https://store.test.com"


def wait_for(what: str, check: Callable[[], bool], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log.read_text()}"
        time.sleep(0.1)


def target(name: str, folder: Path) -> str:
    return f'[deploy.targets.{name}]\nkind = "files"\nfolder = "{folder}"\n'


def same_size(text: str, size: int) -> str:
    """``text`` padded with a comment to ``size`` bytes."""
    pad = size - len(text.encode()) - 3
    assert pad >= 0
    return text + "\n#" + "x" * pad + "\n"


@pytest.fixture
def token(desk: Desk) -> str:
    user = desk.run(
        OPERATOR,
        accounts.create_user,
        username="ops",
        password="operator password 1",
        role="operator",
    )
    made = desk.run(OPERATOR, accounts.create_token, user_id=user.id, name="reload test")
    assert made.token is not None
    return made.token


@contextlib.contextmanager
def serving(
    settings: Settings, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """``certdesk serve`` (without the job engine: only its configuration matters here)."""
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "certdesk", "serve", "--port", str(port), "--no-scheduler"],
            env={
                **os.environ,
                "CERTDESK_HOME": str(settings.home),
                "CERTDESK_DATABASE_URL": settings.database_url,
                "CERTDESK_CA_BUNDLE": str(settings.ca_bundle),
                "CERTDESK_LAB_SUFFIXES": ",".join(settings.lab_suffixes),
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert process.poll() is None, log.read_text()
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        return False

    try:
        wait_for("serve to answer", up, log)
        yield process, base, log
    finally:
        stop(process)


def test_serve_reloads_certdesk_toml_on_sighup_and_on_change(
    desk: Desk,
    settings: Settings,
    pki: OpenSSLPKI,
    token: str,
    tmp_path: Path,
) -> None:
    new_tenant(desk, OPERATOR)
    submit_leaf(desk, OPERATOR, pki, urls=[URL])
    config = settings.home / CONFIG_FILE
    edge, other = tmp_path / "edge", tmp_path / "other"
    with_edge = target("edge", edge)
    config.write_text(same_size("# no deploy target yet", len(with_edge.encode()) + 40))
    size = config.stat().st_size
    with contextlib.ExitStack() as stack:
        process, base, log = stack.enter_context(serving(settings, tmp_path))
        headers = {"Authorization": f"Bearer {token}"}
        client = stack.enter_context(httpx.Client(base_url=base, headers=headers))

        def deploy(name: str) -> httpx.Response:
            return client.post("/api/deployments", json={"urls": [URL], "target": name})

        refused = deploy("edge")
        assert refused.status_code == 400, refused.text
        assert "no deploy target called 'edge'" in refused.text

        # The file changes, but its size and modification time stay: only SIGHUP tells.
        stat = config.stat()
        config.write_text(same_size(with_edge, size))
        os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert config.stat().st_size == size
        time.sleep(5)  # the watcher looks every 2 seconds
        assert deploy("edge").status_code == 400

        process.send_signal(signal.SIGHUP)
        reloaded = "certdesk.toml reloaded"  # serve's log line
        wait_for("the reload after SIGHUP", lambda: reloaded in log.read_text(), log)
        answer = deploy("edge")
        assert answer.status_code == 200, answer.text
        [outcome] = answer.json()
        check_deployed(outcome, "edge", edge)

        # A change of the file alone (another target) is picked up too.
        config.write_text(with_edge + "\n" + target("other", other))
        wait_for(
            "the reload after the change",
            lambda: log.read_text().count(reloaded) == 2,
            log,
        )
        answer = deploy("other")
        assert answer.status_code == 200, answer.text
        [outcome] = answer.json()
        check_deployed(outcome, "other", other)
        assert process.poll() is None  # no restart


def check_deployed(outcome: dict[str, Any], name: str, folder: Path) -> None:
    assert (outcome["url"], outcome["target"]) == (URL, name)
    assert (folder / "store.test.com.pem").exists()
    assert (folder / "store.test.com.key").exists()
