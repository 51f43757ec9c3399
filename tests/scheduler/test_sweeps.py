"""Probe sweeps: every monitored URL probed once per interval, by real handshakes with a
TLS server on loopback, whichever of several workers claims the shards; tenants take
turns within a shard. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from sqlalchemy import select

from certdesk import desk as d
from certdesk.application.compose import probe_config
from certdesk.application.jobs import job_registry
from certdesk.application.sweeps import JOB, SHARDS, shard_plan, sweep_job, unit_key
from certdesk.desk import Desk
from certdesk.desk.monitoring import probe_targets
from certdesk.errors import InvalidArgument
from certdesk.scheduler import engine
from certdesk.settings import Settings, load_settings
from certdesk.store.jobs import JobUnit
from certdesk.store.monitoring import Probe
from tests.monitor.conftest import TLSServer
from tests.notify.smtpd import free_port
from tests.reports.world import OPERATOR, add_tenant, point_at
from tests.scheduler.conftest import OPERATORS, Small, probes_per_url, read_mail, stop

T0 = datetime(2031, 3, 4, 10, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
TENANTS = {"Big Hosting": 9, "Mid Cloud": 3, "Small Web": 1}


@pytest.fixture
def monitored(desk: Desk, tls: TLSServer) -> dict[str, str]:
    """13 monitored URLs of three tenants, all served by the loopback server: URL → tenant."""
    urls: dict[str, str] = {}
    for tenant, count in TENANTS.items():
        add_tenant(desk, tenant)
        for n in range(count):
            url = f"https://{tenant.split()[0].lower()}-{n}.test.com"
            desk.run(
                OPERATOR, d.add_domain, url=url, tenant=tenant, connect_to=f"127.0.0.1:{tls.port}"
            )
            urls[url] = tenant
    return urls


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_each_url_is_probed_once_per_sweep_by_concurrent_workers(
    desk: Desk, settings: Settings, monitored: dict[str, str], tls: TLSServer
) -> None:
    config = dataclasses.replace(settings, probe_interval=3600.0, probe_allow_private=True)
    job = sweep_job(probe_config(config), shards=4)
    results: list[list[engine.Outcome]] = []

    def worker(name: str) -> None:
        results.append(engine.tick(desk, [job], now=T0, worker=name))

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert probes_per_url(desk) == Counter(dict.fromkeys(monitored, 1))
    assert tls.handshakes == len(monitored)
    probed = [o for outcomes in results for o in outcomes if o.status == "probed"]
    assert sorted(o.unit for o in probed) == [f"shard-{k:02d}-of-04" for k in range(4)]
    assert sum(o.detail["urls"] for o in probed) == len(monitored)
    with desk.store.transaction() as session:  # each a completed handshake: what is served
        served = session.scalars(select(Probe.sha256)).all()
    assert len(served) == len(monitored)
    assert len(set(served)) == 1
    assert None not in served

    # Later in the same hour: nothing is probed again; the next hour: every URL once more.
    again = engine.tick(desk, [job], now=T0 + 30 * timedelta(minutes=1))
    assert {o.status for o in again} == {"already-done"}
    assert probes_per_url(desk) == Counter(dict.fromkeys(monitored, 1))
    engine.tick(desk, [job], now=T0 + HOUR)
    assert probes_per_url(desk) == Counter(dict.fromkeys(monitored, 2))
    with desk.store.transaction() as session:
        periods = session.scalars(select(JobUnit.period).where(JobUnit.job == JOB).distinct())
        assert sorted(periods) == ["2031-03-04T10:00:00Z", "2031-03-04T11:00:00Z"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_tenants_take_turns_within_a_shard(desk: Desk, monitored: dict[str, str]) -> None:
    with desk.context(OPERATOR, readonly=True) as ctx:
        order = [monitored[t.target.url] for t in probe_targets(ctx, shard=(0, 1))]
    assert order[:3] == sorted(order[:3], key=list(TENANTS).index)
    assert set(order[:3]) == set(TENANTS)
    assert set(order[3:5]) == {"Big Hosting", "Mid Cloud"}
    assert order[-6:] == ["Big Hosting"] * 6
    with desk.context(OPERATOR, readonly=True) as ctx:
        halves = [{t.target.url for t in probe_targets(ctx, shard=(k, 2))} for k in range(2)]
    assert halves[0].isdisjoint(halves[1])
    assert halves[0] | halves[1] == set(monitored)


def test_the_interval_is_seconds_or_a_duration() -> None:
    def interval(text: str) -> float:
        env = {"CERTDESK_HOME": "/nonexistent/certdesk", "CERTDESK_PROBE_INTERVAL": text}
        return load_settings(env=env).probe_interval

    assert load_settings(env={"CERTDESK_HOME": "/nonexistent/certdesk"}).probe_interval == 21600
    assert [interval(t) for t in ("6h", "30m", "90s", "1d", "900")] == [
        21600,
        1800,
        90,
        86400,
        900,
    ]
    for bad in ("soon", "0", "-5m"):
        with pytest.raises(InvalidArgument, match="the setting probe_interval must be"):
            interval(bad)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_daily_report_is_built_after_its_sweep(
    desk: Desk, settings: Settings, small: Small
) -> None:
    with socket.socket() as sock:  # the URLs refuse connections: each probe a result
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    point_at(desk, ["acme-old.test.com", "acme-soon.test.com"], closed)
    config = dataclasses.replace(
        settings, operator_emails=OPERATORS, probe_allow_private=True, probe_timeout=2.0
    )
    registry = job_registry(config, sweeps=True)
    daily = [job for job in registry if job.name == "report.daily"]
    # Only the daily report's job ticks: it runs the sweep of its instant first.
    outcomes = engine.tick(desk, daily, now=small.daily_at)
    assert {o.status for o in outcomes} == {"sent"}
    with desk.store.transaction() as session:
        shards = session.scalars(select(JobUnit).where(JobUnit.job == JOB)).all()
        assert len(shards) == len(shard_plan(SHARDS))
        assert {s.outcome for s in shards} == {"probed"}
        assert sum(s.detail["urls"] for s in shards) == 2
    messages = [
        BytesParser(policy=policy.default).parsebytes(m.read_bytes())
        for m in settings.outbox.glob("*.eml")
    ]
    [message] = [m for m in messages if OPERATORS[0] in str(m["To"])]
    rows = read_mail(message).csv_rows  # type: ignore[arg-type]
    assert {r["url"]: r["last_probe_result"] for r in rows} == {
        "https://acme-old.test.com": "failed: refused",
        "https://acme-soon.test.com": "failed: refused",
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serve_sweeps_with_no_cron(
    desk: Desk, settings: Settings, monitored: dict[str, str], tls: TLSServer, tmp_path: Path
) -> None:
    """A real ``certdesk serve``: its engine probes every monitored URL on its own."""
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "certdesk", "serve", "--port", str(port)],
            env={
                **os.environ,
                "CERTDESK_HOME": str(settings.home),
                "CERTDESK_DATABASE_URL": settings.database_url,
                "CERTDESK_ADMIN_PASSWORD": "operator password 1",
                "CERTDESK_PROBE_ALLOW_PRIVATE": "true",
                "CERTDESK_PROBE_INTERVAL": "1d",
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:  # a shard's probes are committed just before the shard is marked done
            with desk.store.transaction() as session:
                shards = session.scalars(select(JobUnit).where(JobUnit.job == JOB)).all()
                outcomes = [s.outcome for s in shards]
            if len(outcomes) == len(shard_plan(SHARDS)) and set(outcomes) == {"probed"}:
                break
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, (outcomes, log.read_text())
            time.sleep(0.2)
        assert probes_per_url(desk) == Counter(dict.fromkeys(monitored, 1))
    finally:
        stop(process)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_shard_taken_over_while_it_ran_records_none_of_its_probes(
    desk: Desk, settings: Settings, monitored: dict[str, str], tls: TLSServer
) -> None:
    """The probes of a shard and the shard's end are one transaction: a process whose
    claim was taken over meanwhile (its lease had passed) keeps nothing it probed, so the
    process now holding the shard probes each of its URLs once, not a second time."""
    config = dataclasses.replace(settings, probe_interval=3600.0, probe_allow_private=True)
    job = sweep_job(probe_config(config), shards=1)

    def taken_over(r: engine.Run) -> None:
        with desk.store.transaction() as session:  # what another process's takeover writes
            row = session.scalars(select(JobUnit).where(JobUnit.job == JOB)).one()
            row.claimed_by = "the-other-process"
        job.run(r)

    [outcome] = engine.tick(desk, [dataclasses.replace(job, run=taken_over)], now=T0)
    assert outcome.status == engine.CLAIMED_ELSEWHERE
    assert tls.handshakes == len(monitored)  # it did probe…
    assert probes_per_url(desk) == Counter()  # …and kept none of it
    with desk.store.transaction() as session:
        row = session.scalars(select(JobUnit).where(JobUnit.job == JOB)).one()
        assert (row.status, row.claimed_by) == ("claimed", "the-other-process")


def test_the_units_of_a_sweep_cover_each_residue_once_largest_first() -> None:
    for shards in (1, 4, 16, 64, 100):
        plan = shard_plan(shards)
        assert [k for residues in plan for k in residues] == list(range(shards))
        sizes = [len(residues) for residues in plan]
        assert sizes == sorted(sizes, reverse=True)
        assert max(sizes) == max(1, shards // 16)
        assert sizes[-1] == 1  # the end of a sweep: single residues
    assert [len(r) for r in shard_plan(64)] == [4] * 9 + [3] * 2 + [2] * 4 + [1] * 14
    assert [unit_key(r, 64) for r in shard_plan(64)[:1] + shard_plan(64)[-1:]] == [
        "shard-00-03-of-64",
        "shard-63-of-64",
    ]
