"""A ``certdesk serve`` killed with SIGKILL while it holds a queued request loses nothing:
once the request's lease has passed (``CERTDESK_WORK_LEASE``), another ``certdesk serve``
on the same database takes it over and finishes it — real processes, on SQLite and
PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from certdesk import desk as d
from certdesk.desk import Actor, Desk
from certdesk.desk import work_requests as queue
from certdesk.settings import Settings
from certdesk.store.jobs import WorkRequest
from tests.deploy.servers import free_port

LEASE_SECONDS = 3


@pytest.fixture
def silent() -> Iterator[socket.socket]:
    """A port that takes connections and never answers: a probe there waits."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _row(desk: Desk, request_id: int) -> WorkRequest:
    with desk.store.transaction() as session:
        row = session.scalars(select(WorkRequest).where(WorkRequest.id == request_id)).one()
        session.expunge(row)
    return row


def _serve(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CERTDESK_HOME": str(settings.home),
        "CERTDESK_DATABASE_URL": settings.database_url,
        "CERTDESK_CA_BUNDLE": str(settings.ca_bundle),
        "CERTDESK_LAB_SUFFIXES": ",".join(settings.lab_suffixes),
        "CERTDESK_ADMIN_PASSWORD": "an operator password",
        "CERTDESK_PROBE_ALLOW_PRIVATE": "true",
        "CERTDESK_PROBE_TIMEOUT": "60",
        "CERTDESK_WORK_LEASE": f"{LEASE_SECONDS}s",
    }
    command = [sys.executable, "-m", "certdesk", "serve", "--port", str(free_port())]
    with log.open("ab") as out:
        return subprocess.Popen(
            [*command, "--no-scheduler"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def test_a_killed_server_s_request_is_taken_over(
    desk: Desk, settings: Settings, operator: Actor, silent: socket.socket, tmp_path: Path
) -> None:
    tenant = desk.run(operator, d.add_tenant, name="Alpha Hosting").id
    url = "https://store.test.com"
    port = silent.getsockname()[1]
    desk.run(
        operator, d.add_domain, url=url, tenant="Alpha Hosting", connect_to=f"127.0.0.1:{port}"
    )
    reseller = Actor(name="user:alpha", tenant_id=tenant)
    asked = desk.run(reseller, queue.request_probe, urls=[url]).id
    log = tmp_path / "serve.log"

    first = _serve(settings, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        # The first server claims it and waits on the silent port, renewing its lease.
        wait_for(
            "the first server to claim the request",
            lambda: _row(desk, asked).claimed_by is not None,
        )
        held = _row(desk, asked)
        assert held.status == "running"
        assert held.claimed_by is not None
        assert held.claimed_by.split(":")[1] == str(first.pid)
        time.sleep(LEASE_SECONDS * 1.5)  # past the first lease: renewed, still its own
        renewed = _row(desk, asked)
        assert (renewed.status, renewed.claimed_by) == ("running", held.claimed_by)
        assert renewed.lease_until is not None
        assert held.lease_until is not None
        assert renewed.lease_until > held.lease_until

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        silent.close()  # from now on the port refuses: the probe ends at once
        assert _row(desk, asked).status == "running"  # nobody finished it

        second = _serve(settings, log)
        wait_for("the second server to finish it", lambda: _row(desk, asked).status == "done")
        done = _row(desk, asked)
        assert done.claimed_by is not None
        assert done.claimed_by.split(":")[1] == str(second.pid)
        assert done.attempts == 2
        assert done.results is not None
        [result] = done.results
        assert (result["url"], result["ok"], result["error"]) == (url, False, "refused")
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
