"""A real ``certdesk serve`` subprocess for the browser journeys: started on a free
loopback port, waited for until ``/healthz`` answers, stopped at the end."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.deploy.servers import free_port


@contextmanager
def certdesk_serve(home: Path, env: Mapping[str, str], log: Path) -> Iterator[str]:
    """``certdesk --home HOME serve --no-scheduler`` with ``env``, its output in ``log``;
    yields the server's base URL."""
    port = free_port()
    command = [sys.executable, "-m", "certdesk", "--home", str(home), "serve"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port), "--no-scheduler"],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"certdesk serve exited:\n{log.read_text()}", pytrace=False)
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"certdesk serve did not start:\n{log.read_text()}")
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
