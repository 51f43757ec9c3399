"""Two certdesk processes share every job on one PostgreSQL, and SIGKILL loses nothing and
does nothing twice.

Two ``certdesk scheduler tick --send --sweep`` processes run the same instant at once:
the reports (real SMTP on loopback) and a probe sweep (real handshakes with a TLS server
on loopback; some URLs point at a port that never answers, so that a shard takes
seconds). The process that sent the first report is killed while it waits for the
server's answer to QUIT (mid-report); the other is killed while it holds a shard of the
sweep (mid-sweep). A survivor ticks past the leases. Counted in the database and in
what the SMTP server received: every report once, every URL probed once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from certdesk import desk as d
from certdesk.application.jobs import job_registry
from certdesk.application.sweeps import JOB as SWEEP
from certdesk.desk import Desk
from certdesk.scheduler import engine
from certdesk.settings import Settings, load_settings
from certdesk.store.jobs import JobUnit
from certdesk.store.models import Domain
from certdesk.store.monitoring import Probe
from tests.monitor.conftest import TLSServer, server_context
from tests.notify.smtpd import Recorder, start_smtp
from tests.openssl_pki import OpenSSLPKI
from tests.reports.world import OPERATOR, point_at
from tests.scheduler.conftest import OPERATORS, Small, once_each

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@dataclass
class FirstQuitHangs(Recorder):
    """Accepts every message; the first QUIT waits ``hang`` seconds, the others answer."""

    hang: float = 120.0
    quits: threading.Event = field(default_factory=threading.Event)

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.quits.is_set():
            self.quits.set()
            await asyncio.sleep(self.hang)
        return "221 Bye"


@pytest.fixture
def tls(pki: OpenSSLPKI, tmp_path: Path) -> Iterator[TLSServer]:
    server = TLSServer(
        default=server_context(pki.leaf_crt, pki.leaf_key, pki.int_crt, folder=tmp_path)
    )
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def silent() -> Iterator[int]:
    sock = socket.create_server(("127.0.0.1", 0), backlog=128)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def wait_for(what: str, check: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_processes_killed_mid_report_and_mid_sweep_lose_nothing(
    desk: Desk, settings: Settings, small: Small, tls: TLSServer, silent: int
) -> None:
    # 24 more monitored URLs: 20 served by the TLS server, 4 silent (2 s each to time out).
    point_at(desk, ["acme-old.test.com", "acme-soon.test.com"], tls.port)
    urls: list[str] = []
    for n in range(24):
        port = silent if n % 6 == 5 else tls.port
        url = f"https://sweep-{n}.test.com"
        desk.run(
            OPERATOR,
            d.add_domain,
            url=url,
            tenant="Acme Hosting",
            connect_to=f"127.0.0.1:{port}",
        )
        urls.append(url)
    recorder = FirstQuitHangs()
    server = start_smtp(recorder=recorder)
    env = {
        **os.environ,
        "CERTDESK_HOME": str(settings.home),
        "CERTDESK_DATABASE_URL": settings.database_url,
        "CERTDESK_SMTP_URL": server.url(auth=False),
        "CERTDESK_OPERATOR_EMAILS": ",".join(OPERATORS),
        "CERTDESK_PROBE_ALLOW_PRIVATE": "true",
        "CERTDESK_PROBE_TIMEOUT": "2",
        "CERTDESK_PROBE_CONCURRENCY": "2",
    }
    at = small.daily_at.isoformat()
    command = [sys.executable, "-m", "certdesk", "scheduler", "tick", "--at", at, "--send"]
    procs = [
        subprocess.Popen(
            [*command, "--sweep"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]

    def units(job_prefix: str) -> list[JobUnit]:
        with desk.store.transaction() as session:
            found = session.scalars(
                select(JobUnit).where(JobUnit.job.startswith(job_prefix, autoescape=True))
            ).all()
            session.expunge_all()
        return list(found)

    def owner(row: JobUnit) -> subprocess.Popen[bytes] | None:
        pid = int(row.claimed_by.rsplit(":", 1)[1])
        return next((p for p in procs if p.pid == pid), None)

    killed: list[str] = []
    try:
        # Mid-report: the first report is accepted (recorded sent) and its QUIT hangs.
        assert recorder.quits.wait(120), "no report reached QUIT"
        wait_for(
            "the first report recorded", lambda: any(u.outcome == "sent" for u in units("report."))
        )
        [first] = [u for u in units("report.") if u.outcome == "sent"]
        reporter = owner(first)
        assert reporter is not None
        reporter.send_signal(signal.SIGKILL)
        reporter.communicate(timeout=30)
        killed.append("mid-report")
        [other] = [p for p in procs if p is not reporter]

        # Mid-sweep: the other process holds a shard it has not finished.
        def holding() -> bool:
            return (
                any(u.status == "claimed" and owner(u) is other for u in units(SWEEP))
                or other.poll() is not None
            )

        wait_for("a shard held by the other process", holding)
        if other.poll() is None:
            other.send_signal(signal.SIGKILL)
            other.communicate(timeout=30)
            killed.append("mid-sweep")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
    assert killed == ["mid-report", "mid-sweep"]
    recorder.hang = 0.0
    try:
        # Something was left claimed by the dead: a survivor takes it over past the leases.
        left = [u for u in units("") if u.status == "claimed"]
        assert left, "the processes were killed after they had finished"
        survivor = load_settings(env=env)
        jobs = job_registry(survivor, sweeps=True)
        later = small.daily_at + timedelta(minutes=61)
        outcomes = engine.tick(desk, jobs, now=later, worker="survivor")
        assert {o.status for o in outcomes} <= {"sent", "empty", "probed", "already-done"}
        assert all(o.status == "already-done" for o in engine.tick(desk, jobs, now=later))

        # Nothing lost: every report and every shard done; every URL probed.
        reports = units("report.")
        assert {(u.job, u.unit, u.outcome) for u in reports} == {
            ("report.daily", "operators", "sent"),
            ("report.daily", f"tenant:{small.acme}", "sent"),
            ("report.monthly", "operators", "sent"),
            ("report.monthly", f"tenant:{small.acme}", "sent"),
        }
        shards = units(SWEEP)
        assert len(shards) == 16
        assert {u.status for u in shards} == {"done"}
        now = {(u.job, u.period, u.unit): u for u in units("")}
        assert {
            (now[k].status, now[k].claimed_by) for k in ((u.job, u.period, u.unit) for u in left)
        } == {("done", "survivor")}
        # Nothing twice: one mail per report (by Message-ID), one probe per URL.
        assert len(once_each(server.received)) == 4
        with desk.store.transaction() as session:
            probes = Counter(
                dict(
                    session.execute(
                        select(Domain.url, func.count(Probe.id))
                        .join(Probe, Probe.domain_id == Domain.id)
                        .group_by(Domain.url)
                    ).all()
                )
            )
        monitored = {*urls, "https://acme-old.test.com", "https://acme-soon.test.com"}
        assert probes == Counter(dict.fromkeys(monitored, 1))
    finally:
        server.stop()
