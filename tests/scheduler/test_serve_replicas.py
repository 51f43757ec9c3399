"""Two ``certdesk serve`` processes on one PostgreSQL share every job, and SIGKILL loses
nothing and does nothing twice: the issue's replicas, as they run in production (the
scheduler thread, the sweep thread, the HTTP server), at the daily report's instant
(libfaketime).

1. Two serve processes start a minute after the daily report is due. The report waits
   for the probe sweep of its instant; some URLs point at a port that never answers, so
   a shard takes seconds. Each process is killed with SIGKILL while it holds a shard
   (mid-sweep).
2. An hour later (past the shards' lease) two new serve processes take the dead's shards
   and reports over. The mail server holds its answer to the first QUIT: the process
   that sent that first report is killed while it waits (mid-report, its message
   accepted and recorded).
3. The survivor finishes. Counted in the database and in what the SMTP server received:
   every report once, every shard done, every URL probed once.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from certdesk import desk as d
from certdesk.application.sweeps import JOB as SWEEP
from certdesk.application.sweeps import SHARDS, shard_plan
from certdesk.desk import Desk
from certdesk.settings import Settings
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
    serve_at,
    stop,
    wait_for,
)

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def test_two_serve_processes_killed_mid_sweep_and_mid_report_lose_nothing(
    desk: Desk, settings: Settings, small: Small, tls: TLSServer, silent: int, tmp_path: Path
) -> None:
    # The reports' URLs refuse connections (their probes fail: the installed certificates'
    # expiry counts, and the reports are not empty); 24 more URLs, 4 of them silent.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    point_at(desk, ["acme-old.test.com", "acme-soon.test.com"], closed)
    urls = []
    for n in range(24):
        url = f"https://sweep-{n}.test.com"
        port = silent if n % 6 == 5 else tls.port
        desk.run(
            OPERATOR, d.add_domain, url=url, tenant="Acme Hosting", connect_to=f"127.0.0.1:{port}"
        )
        urls.append(url)
    recorder = FirstQuitHangs()
    server = start_smtp(recorder=recorder)
    env = {
        "CERTDESK_SMTP_URL": server.url(auth=False),
        "CERTDESK_OPERATOR_EMAILS": ",".join(OPERATORS),
        "CERTDESK_PROBE_ALLOW_PRIVATE": "true",
        "CERTDESK_PROBE_TIMEOUT": "3",
        "CERTDESK_PROBE_CONCURRENCY": "2",
        "CERTDESK_PROBE_INTERVAL": "1d",
        "CERTDESK_SCHEDULER_INTERVAL": "2s",
    }
    logs = tmp_path / "serve.log"
    procs: list[subprocess.Popen[bytes]] = []

    def start(at_minutes: int) -> list[subprocess.Popen[bytes]]:
        at = small.daily_at + timedelta(minutes=at_minutes)
        return [serve_at(settings, at, logs, env) for _ in range(2)]

    def alive() -> None:
        for proc in procs:
            assert proc.poll() is None, logs.read_text()

    try:
        # 1. Mid-sweep: each process killed the moment it is seen holding a shard (a shard
        # of fast URLs is done in milliseconds: waiting for the other one first could see
        # this one's shard finished).
        procs = start(1)
        for proc in procs:

            def holds(proc: subprocess.Popen[bytes] = proc) -> bool:
                if proc.poll() is not None:
                    raise AssertionError(logs.read_text())
                return any(
                    u.status == "claimed" and claimer_pid(u) == proc.pid
                    for u in job_units(desk, SWEEP)
                )

            wait_for(f"process {proc.pid} to hold a shard", holds)
            kill(proc)
        assert server.received == []  # no report before its sweep is complete
        dead_shards = {(u.period, u.unit) for u in job_units(desk, SWEEP) if u.status == "claimed"}
        assert len(dead_shards) >= 2
        dead = {p.pid for p in procs}

        # 2. Past the shards' lease (an hour): two new processes; the one that sends the
        # first report is killed while the server holds its answer to QUIT.
        procs = start(62)

        def quitting() -> bool:
            alive()
            return recorder.quits.is_set()

        wait_for("a report to reach QUIT", quitting)
        assert recorder.held is not None

        def recorded() -> list[JobUnit]:
            sent = job_units(desk, "report.")
            return [u for u in sent if u.outcome and u.detail["message_id"] == recorder.held]

        wait_for("the held report recorded sent", lambda: bool(recorded()))
        [first] = recorded()
        [reporter] = [p for p in procs if p.pid == claimer_pid(first)]
        kill(reporter)
        recorder.hang = 0.0
        [survivor] = [p for p in procs if p is not reporter]

        # 3. The survivor does what is left.
        def finished() -> bool:
            assert survivor.poll() is None, logs.read_text()
            reports, shards = job_units(desk, "report."), job_units(desk, SWEEP)
            return (
                len(reports) == 4
                and {u.status for u in reports} == {"done"}
                and len(shards) == len(shard_plan(SHARDS))
                and {u.status for u in shards} == {"done"}
            )

        wait_for("every report and every shard done", finished, timeout=180)
    finally:
        for proc in procs:
            stop(proc)
    try:
        shards = {(u.period, u.unit): u for u in job_units(desk, SWEEP)}
        assert {claimer_pid(shards[key]) in dead for key in dead_shards} == {False}  # taken over
        assert {(u.job, u.unit, u.outcome) for u in job_units(desk, "report.")} == {
            ("report.daily", "operators", "sent"),
            ("report.daily", f"tenant:{small.acme}", "sent"),
            ("report.monthly", "operators", "sent"),
            ("report.monthly", f"tenant:{small.acme}", "sent"),
        }
        # Nothing twice: one mail per report (by Message-ID), one probe per URL.
        assert len(once_each(server.received)) == 4
        monitored = {*urls, "https://acme-old.test.com", "https://acme-soon.test.com"}
        assert probes_per_url(desk) == Counter(dict.fromkeys(monitored, 1))
    finally:
        server.stop()
