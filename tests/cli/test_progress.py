"""Rich progress for ``deploy`` and ``probe``: drawn on a terminal (a real pseudo-terminal
here), absent when the output is piped and from ``--json``."""

from __future__ import annotations

import errno
import json
import os
import pty
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_desk_cli import Certdesk, certdesk, password_file
from tests.openssl_pki import OpenSSLPKI

__all__ = ["certdesk", "password_file"]  # the fixtures, shared with test_desk_cli

URL = "https://store.test.com"
# Rich draws for a terminal unless told otherwise: these would force it, or stop it.
FORCING = ("FORCE_COLOR", "TTY_INTERACTIVE", "TTY_COMPATIBLE", "NO_COLOR", "TERM")


def on_a_terminal(certdesk: Certdesk, *args: str) -> tuple[int, str]:
    """Run certdesk with stdout and stderr on a pseudo-terminal; all it wrote there."""
    master, slave = pty.openpty()
    env = {k: v for k, v in certdesk.env.items() if k not in FORCING}
    proc = subprocess.Popen(
        [sys.executable, "-m", "certdesk", "--home", str(certdesk.home), *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env={**env, "TERM": "xterm-256color"},
        close_fds=True,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError as exc:  # the terminal is closed once certdesk has exited
            if exc.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def stored(certdesk: Certdesk, pki: OpenSSLPKI, password_file: Path, tmp_path: Path) -> Certdesk:
    """A certificate stored for URL, and a ``files`` deploy target configured."""
    certdesk.env = {k: v for k, v in certdesk.env.items() if k not in FORCING}
    certdesk.ok("tenant", "add", "Acme Hosting")
    certdesk.ok(
        "submit",
        pki.modern_pfx,
        "--tenant",
        "Acme Hosting",
        "--url",
        URL,
        "--common-name",
        "store.test.com",
        "--password-file",
        password_file,
    )
    certdesk.env.update(
        CERTDESK_DEPLOY_TARGET="files",
        CERTDESK_DEPLOY_OPTIONS=json.dumps({"folder": str(tmp_path / "served")}),
    )
    return certdesk


def test_deploy_all_shows_progress_on_a_terminal_only(stored: Certdesk) -> None:
    code, shown = on_a_terminal(stored, "deploy", "--all")
    assert code == 0, shown
    assert "deploying" in shown
    assert "1/1" in shown  # the bar counted the one URL
    assert URL in shown  # and the result follows it
    piped = stored.ok("deploy", "--all")
    assert "deploying" not in piped.stdout + piped.stderr
    assert "\x1b" not in piped.stderr
    as_json = stored.ok("deploy", "--all", "--json")
    assert json.loads(as_json.stdout)["installed"][0]["url"] == URL
    assert as_json.stderr == ""


def test_probe_shows_progress_on_a_terminal_only(stored: Certdesk) -> None:
    with socket.socket() as closed:  # a port where nothing listens
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = URL
    stored.ok("domain", "change", url, "--connect-to", f"127.0.0.1:{port}")
    code, shown = on_a_terminal(stored, "probe", url, "--allow-private")
    assert code == 1, shown  # nothing answers: a failed probe, reported
    assert "probing" in shown
    assert "1/1" in shown
    piped = stored("probe", url, "--allow-private")
    assert piped.exit_code == 1
    assert "probing" not in piped.stdout + piped.stderr
    as_json = stored("probe", url, "--allow-private", "--json")
    assert json.loads(as_json.stdout)["probes"][0]["ok"] is False
    assert as_json.stderr == ""
