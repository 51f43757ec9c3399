"""Two certdesk processes share every job on one PostgreSQL, and SIGKILL loses nothing and
does nothing twice.

Two ``certdesk scheduler tick --send --sweep`` processes run the same instant at once:
the reports (real SMTP on loopback) and the probe sweep that the daily report waits for
(real handshakes with a TLS server on loopback; some URLs point at a port that never
answers, so that a shard takes seconds). First both are killed while they hold shards
of the sweep (mid-sweep); two new processes past the shards' lease take them over and
send the reports, and the one that sent the first report is killed while it waits for
the server's answer to QUIT (mid-report). Counted in the database and in what the SMTP
server received: every report once, every URL probed once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta

import pytest

from certdesk import desk as d
from certdesk.application.jobs import job_registry
from certdesk.application.sweeps import JOB as SWEEP
from certdesk.application.sweeps import SHARDS, shard_plan
from certdesk.desk import Desk
from certdesk.scheduler import engine
from certdesk.settings import Settings, load_settings
from certdesk.store.jobs import JobUnit
from tests.monitor.conftest import TLSServer
from tests.notify.smtpd import start_smtp
from tests.reports.world import OPERATOR, point_at
from tests.scheduler.conftest import (
    OPERATORS,
    FirstQuitHangs,
    Small,
    claimer_pid,
    job_units,
    once_each,
    probes_per_url,
    wait_for,
)

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def test_two_processes_killed_mid_report_and_mid_sweep_lose_nothing(
    desk: Desk, settings: Settings, small: Small, tls: TLSServer, silent: int
) -> None:
    # 24 more monitored URLs: 20 served by the TLS server, 4 silent (2 s each to time out).
    # The reports' URLs refuse connections: their probes fail, so the installed
    # certificates' expiry still counts and the reports are not empty.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    point_at(desk, ["acme-old.test.com", "acme-soon.test.com"], closed)
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

    def start(at: datetime) -> list[subprocess.Popen[bytes]]:
        command = [sys.executable, "-m", "certdesk", "scheduler", "tick", "--send", "--sweep"]
        return [
            subprocess.Popen(
                [*command, "--at", at.isoformat()],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(2)
        ]

    def kill(proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)

    procs: list[subprocess.Popen[bytes]] = []
    try:
        # 1. At the daily report's instant both processes sweep first (the daily report
        # is built after the sweep); one is killed holding a shard, then the other.
        procs = start(small.daily_at)
        pids = {p.pid: p for p in procs}
        held: list[JobUnit] = []

        def holding() -> bool:
            held[:] = [
                u
                for u in job_units(desk, SWEEP)
                if u.status == "claimed" and claimer_pid(u) in pids
            ]
            return bool(held)

        wait_for("a shard held by a process", holding)
        kill(pids[claimer_pid(held[0])])
        for proc in procs:
            if proc.poll() is None:
                kill(proc)
        assert recorder.received == []  # no report before its sweep is complete
        dead_shards = [u for u in job_units(desk, SWEEP) if u.status == "claimed"]
        assert dead_shards

        # 2. An hour later (past the shards' lease) two processes again: they take the
        # dead's shards over, finish the sweep, and send the reports; the one that sent
        # the first report is killed while it waits for the answer to its QUIT.
        procs = start(small.daily_at + timedelta(minutes=61))
        if not recorder.quits.wait(120):
            for proc in procs:
                proc.kill()
            outputs = [proc.communicate(timeout=30) for proc in procs]
            states = [
                (u.job, u.unit, u.status, u.claimed_by, u.claimed_at) for u in job_units(desk, "")
            ]
            raise AssertionError(f"no report reached QUIT: {outputs} {states}")
        assert recorder.held is not None

        def recorded() -> list[JobUnit]:
            return [
                u
                for u in job_units(desk, "report.")
                if u.outcome and u.detail["message_id"] == recorder.held
            ]

        wait_for("the held report recorded sent", lambda: bool(recorded()))
        [first] = recorded()
        reporter = next(p for p in procs if p.pid == claimer_pid(first))
        kill(reporter)
        [other] = [p for p in procs if p is not reporter]
        other.communicate(timeout=120)
        assert other.returncode == 0, other.stderr
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
    recorder.hang = 0.0
    try:
        # 3. A survivor past every lease finds nothing left to do.
        survivor = load_settings(env=env)
        jobs = job_registry(survivor, sweeps=True)
        later = small.daily_at + timedelta(minutes=90)
        assert {o.status for o in engine.tick(desk, jobs, now=later)} == {"already-done"}
        shard = {(u.period, u.unit): u for u in job_units(desk, SWEEP)}
        taken = [shard[(u.period, u.unit)] for u in dead_shards]
        assert {(u.status, claimer_pid(u) in {p.pid for p in procs}) for u in taken} == {
            ("done", True)
        }

        # Nothing lost: every report and every shard done; every URL probed.
        reports = job_units(desk, "report.")
        assert {(u.job, u.unit, u.outcome) for u in reports} == {
            ("report.daily", "operators", "sent"),
            ("report.daily", f"tenant:{small.acme}", "sent"),
            ("report.monthly", "operators", "sent"),
            ("report.monthly", f"tenant:{small.acme}", "sent"),
        }
        shards = job_units(desk, SWEEP)
        assert len(shards) == len(shard_plan(SHARDS))
        assert {u.status for u in shards} == {"done"}
        # Nothing twice: one mail per report (by Message-ID), one probe per URL.
        assert len(once_each(server.received)) == 4
        monitored = {*urls, "https://acme-old.test.com", "https://acme-soon.test.com"}
        assert probes_per_url(desk) == Counter(dict.fromkeys(monitored, 1))
    finally:
        server.stop()
