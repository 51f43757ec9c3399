"""Benchmark: a probe sweep of the job engine over many monitored URLs, on PostgreSQL.

Issue 13: "A sweep of 10,000 URLs … by one and by two processes on PostgreSQL: URLs per
second, client CPU per URL, and each URL probed exactly once per cycle (counted).
Beside it, blackbox_exporter on the same names. Goal: >= 1.25x blackbox_exporter's
rate for RSA and ECDSA leaves at <= 0.8x its CPU per probe; memory flat over a
100,000-URL sweep (RSS < 300 MB)."

Set-up, as ``bench_probe.py`` makes it (its functions are reused): a root,
intermediate and wildcard leaf ``*.bench.test`` (RSA 2048 or ECDSA P-256) made by the
``openssl`` command line; Debian's nginx on a free loopback port serving that leaf to
every ``*.bench.test`` SNI name and a self-signed certificate to any other; Debian's
prometheus-blackbox-exporter with one tcp+tls module per name (its tcp prober takes
no SNI per request). A throwaway PostgreSQL 15 cluster (``initdb``/``pg_ctl`` on a
free port, fsync off, as ``tests/database.py`` starts it) holds one fresh database
per sweep, migrated by ``open_desk`` and filled with SQLAlchemy Core inserts:
``--urls`` monitored domains over 20 tenants, ``https://n00042.bench.test`` …, each with
the connect-to address ``127.0.0.1:<nginx port>``.

Timed, one run each per key and round:

* ``sweep, 1 process`` / ``sweep, 2 processes``: fresh interpreters (spawned) that
  each open the desk and, on one start signal, run ``engine.tick`` with the probe-sweep
  job (``certdesk.application.sweeps.sweep_job``: its units of the domains' ids modulo
  64, claimed in ``job_units``)
  at the same instant: what ``certdesk serve``'s sweep thread does. The rate is URLs
  over the wall time from the signal to the last process done; client CPU is the
  sweeping processes' own (``getrusage`` around the tick: probing, judging, the shard
  queries and the database writes); PostgreSQL's CPU (the postmaster's children,
  sampled from ``/proc``) and nginx's are shown apart.
* ``probe_all, no engine``: the same targets through ``certdesk.monitor.probe_all``
  alone (no database), with the same trust roots as the sweeping desk (Mozilla's and the
  bench root), each judged at its own instant as in a sweep, to show what the engine and
  the database add. Every URL serves the same chain here, so its verdict is found once
  and then reused (``certdesk.monitor.verdicts``), in the sweeps too.
* ``blackbox_exporter``: the same names, one request per URL, as ``bench_probe.py``
  drives it (its CPU from ``/proc``; this process's load generator shown apart).

Counted from the database after each sweep: the probes per domain (each monitored URL
must have exactly one), the probes that succeeded, and the shards done by each process.

Memory: one process sweeps ``--memory-urls`` URLs (default 100,000: the SNI names
repeat, with URL ports 1000… so that each URL is a distinct domain, all behind the same
nginx); its RSS (``/proc/PID/status`` VmRSS) is sampled every 50 ms and printed before
the sweep, at its peak, and the peak of each tenth of the sweep's time.

    .venv/bin/python bench/bench_sweep.py [--urls 10000] [--memory-urls 100000]
        [--keys rsa,ec] [--rounds 1] [--concurrency 100] [--json]

Needs ``nginx``, ``prometheus-blackbox-exporter`` and ``postgresql`` (Debian's, 15).
Not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import pwd
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import psycopg
from cryptography import x509
from sqlalchemy import func, insert, select

from bench_probe import (
    Run,
    bench_blackbox,
    blackbox_conf,
    family,
    free_port,
    make_pki,
    nginx_conf,
    proc_cpu,
    running,
)
from certdesk import clock
from certdesk.application.compose import open_desk, probe_config
from certdesk.application.sweeps import JOB, SHARDS, shard_plan, sweep_job
from certdesk.monitor import ProbeTarget, probe_all
from certdesk.scheduler import engine
from certdesk.settings import Settings
from certdesk.store.jobs import JobUnit
from certdesk.store.models import Domain, Tenant
from certdesk.store.monitoring import Probe
from certdesk.trust import trust_roots

GOAL_RATE = 1.25  # the sweep's URLs/s over blackbox_exporter's probes/s
GOAL_CPU = 0.8  # the sweep's client CPU per URL over blackbox_exporter's per probe
GOAL_RSS_MB = 300.0
TENANTS = 20
BATCH = 5000
PG_BIN = Path(os.environ.get("CERTDESK_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


# --- PostgreSQL -------------------------------------------------------------------------


@dataclass
class Cluster:
    folder: Path
    port: int
    as_user: list[str]

    @property
    def admin_dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def create(self, name: str) -> str:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # names are ours
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def postmaster(self) -> int:
        return int((self.folder / "data" / "postmaster.pid").read_text().split()[0])


def _pg(as_user: list[str], *args: str) -> None:
    done = subprocess.run([*as_user, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


@contextmanager
def postgresql() -> Iterator[Cluster]:
    """A throwaway cluster on a free loopback port (as ``postgres`` when run as root)."""
    if not (PG_BIN / "initdb").exists():
        raise SystemExit(f"PostgreSQL is missing in {PG_BIN}: apt-get install -y postgresql")
    folder = Path(tempfile.mkdtemp(prefix="certdesk-bench-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(folder, pg.pw_uid, pg.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = str(folder / "data")
    _pg(as_user, str(PG_BIN / "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")
    port = free_port()
    options = (
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
    )
    _pg(as_user, str(PG_BIN / "pg_ctl"), "-D", data, "-l", str(folder / "log"), "-o", options,
        "-w", "start")  # fmt: skip
    try:
        yield Cluster(folder, port, as_user)
    finally:
        subprocess.run([*as_user, str(PG_BIN / "pg_ctl"), "-D", data, "-m", "fast", "stop"],
                       capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


# --- the data ---------------------------------------------------------------------------


def names_for(count: int) -> list[str]:
    return [f"n{i:05d}.bench.test" for i in range(count)]


def populate(settings: Settings, names: list[str], urls: int, nginx_port: int) -> None:
    """``urls`` monitored domains over the SNI ``names`` (repeated with other URL ports
    when there are more URLs than names), all reached at nginx through connect-to."""
    desk = open_desk(settings)
    created = datetime.now(UTC)
    try:
        with desk.store.transaction() as session:
            session.execute(
                insert(Tenant.__table__),
                [
                    {"id": k, "name": f"tenant-{k:02d}", "emails": [], "created_at": created}
                    for k in range(1, TENANTS + 1)
                ],
            )
        for start in range(0, urls, BATCH):
            rows = []
            for i in range(start, min(urls, start + BATCH)):
                host = names[i % len(names)]
                lap = i // len(names)
                port = 443 if lap == 0 else 1000 + lap
                rows.append(
                    {
                        "id": i + 1,
                        "tenant_id": 1 + i % TENANTS,
                        "url": f"https://{host}" + (f":{port}" if port != 443 else ""),
                        "hostname": host,
                        "port": port,
                        "portal": "other",
                        "monitored": True,
                        "connect_to": f"127.0.0.1:{nginx_port}",
                        "created_at": created,
                        "removed_at": None,
                    }
                )
            with desk.store.transaction() as session:
                session.execute(insert(Domain.__table__), rows)
    finally:
        desk.store.close()


def census(settings: Settings, since: datetime, period: str) -> dict[str, Any]:
    """The timed sweep's probes per domain (those from ``since`` on) and its shards
    (``period``'s) per process, counted from the database."""
    desk = open_desk(settings)
    try:
        with desk.store.transaction() as session:
            monitored = session.scalar(select(func.count(Domain.id))) or 0
            per_domain = (
                select(Probe.domain_id, func.count(Probe.id).label("n"))
                .where(Probe.at >= since)
                .group_by(Probe.domain_id)
                .subquery()
            )
            spread = dict(
                session.execute(select(per_domain.c.n, func.count()).group_by(per_domain.c.n)).all()
            )
            ok = (
                session.scalar(
                    select(func.count(Probe.id)).where(Probe.ok.is_(True), Probe.at >= since)
                )
                or 0
            )
            units = session.execute(
                select(JobUnit.claimed_by, JobUnit.status).where(
                    JobUnit.job == JOB, JobUnit.period == period
                )
            ).all()
    finally:
        desk.store.close()
    once = int(spread.get(1, 0))
    probed = sum(int(v) for v in spread.values())
    return {
        "monitored": int(monitored),
        "probed_once": once,
        "probed_twice_or_more": probed - once,
        "never_probed": int(monitored) - probed,
        "probes_ok": int(ok),
        "shards_done": sum(1 for _, status in units if status == "done"),
        "shards_by_process": sorted(Counter(by for by, _ in units).values(), reverse=True),
    }


# --- sampling /proc ---------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Sampler(threading.Thread):
    """Every 50 ms: each sweeper's RSS, and the CPU of every PostgreSQL process (the
    last value seen of each, so that backends which exit still count)."""

    def __init__(self, pids: list[int], postmaster: int) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.postmaster = postmaster
        self.rss: dict[int, list[tuple[float, float]]] = {pid: [] for pid in pids}
        self.pg_cpu: dict[int, float] = {}
        self.pg_base = 0.0
        self._halt = threading.Event()

    def _pg_sample(self) -> None:
        for pid in family(self.postmaster):
            self.pg_cpu[pid] = proc_cpu([pid])

    def mark(self) -> None:
        """The instant the sweep starts: PostgreSQL's CPU is counted from here."""
        self._pg_sample()
        self.pg_base = sum(self.pg_cpu.values())

    def pg_used(self) -> float:
        self._pg_sample()
        return sum(self.pg_cpu.values()) - self.pg_base

    def run(self) -> None:
        while not self._halt.is_set():
            now = time.perf_counter()
            for pid in self.pids:
                value = rss_mb(pid)
                if value is not None:
                    self.rss[pid].append((now, value))
            self._pg_sample()
            self._halt.wait(0.05)

    def stop(self) -> None:
        self._halt.set()
        self.join()


# --- a sweep ----------------------------------------------------------------------------


def _sweeper(
    settings: Settings, now: datetime, ready: Queue[Any], go: Event, out: Queue[Any]
) -> None:
    """One sweeping process: open the desk, wait for the signal, tick the sweep job."""
    desk = open_desk(settings)
    job = sweep_job(probe_config(settings))
    ready.put(os.getpid())
    go.wait()
    usage0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    outcomes = engine.tick(desk, [job], now=now)
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    desk.store.close()
    out.put(
        {
            "pid": os.getpid(),
            "seconds": seconds,
            "cpu": (usage.ru_utime - usage0.ru_utime) + (usage.ru_stime - usage0.ru_stime),
            "statuses": dict(Counter(o.status for o in outcomes)),
            "urls": sum(int(o.detail.get("urls", 0)) for o in outcomes),
            "maxrss_mb": usage.ru_maxrss / 1024,
        }
    )


@dataclass
class Sweep:
    processes: int
    urls: int
    seconds: float
    client_cpu: float
    pg_cpu: float
    nginx_cpu: float
    census: dict[str, Any]
    rss: list[list[tuple[float, float]]] = field(default_factory=list)
    children: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.urls / self.seconds

    @property
    def cpu_ms(self) -> float:
        return self.client_cpu / self.urls * 1000

    def to_json(self) -> dict[str, Any]:
        return {
            "processes": self.processes,
            "urls": self.urls,
            "seconds": round(self.seconds, 2),
            "urls_per_s": round(self.rate, 1),
            "client_cpu_ms_per_url": round(self.cpu_ms, 3),
            "postgresql_cpu_ms_per_url": round(self.pg_cpu / self.urls * 1000, 3),
            "nginx_cpu_ms_per_url": round(self.nginx_cpu / self.urls * 1000, 3),
            "census": self.census,
            "peak_rss_mb": [round(max((v for _, v in s), default=0.0), 1) for s in self.rss],
        }


def sweep(
    cluster: Cluster,
    base: Settings,
    db: str,
    names: list[str],
    urls: int,
    processes: int,
    nginx_port: int,
    nginx_pids: list[int],
    *,
    first: bool,
) -> Sweep:
    """One timed sweep of a fresh database by ``processes`` processes: its first sweep
    (``first``: every domain's state made), or the next one after an untimed sweep of
    the period before (states and served expiry already stored, as in every sweep of a
    running certdesk but its first)."""
    settings = Settings(
        home=base.home.parent / db,
        database_url=cluster.create(db),
        ca_bundle=base.ca_bundle,
        probe_allow_private=True,
        probe_concurrency=base.probe_concurrency,
        probe_timeout=base.probe_timeout,
    )
    populate(settings, names, urls, nginx_port)
    now = datetime.now(UTC)
    job = sweep_job(probe_config(settings))
    if not first:
        desk = open_desk(settings)
        try:
            engine.tick(desk, [job], now=now - timedelta(seconds=probe_config(settings).interval))
        finally:
            desk.store.close()
    ctx = multiprocessing.get_context("spawn")
    ready: Queue[Any] = ctx.Queue()
    out: Queue[Any] = ctx.Queue()
    go = ctx.Event()
    procs = [
        ctx.Process(target=_sweeper, args=(settings, now, ready, go, out)) for _ in range(processes)
    ]
    for proc in procs:
        proc.start()
    pids = [ready.get(timeout=120) for _ in procs]
    sampler = Sampler(pids, cluster.postmaster())
    sampler.start()
    time.sleep(0.3)  # a few samples of the RSS before the sweep
    sampler.mark()
    srv0, t0, since = proc_cpu(nginx_pids), time.perf_counter(), datetime.now(UTC)
    go.set()
    results = [out.get() for _ in procs]
    seconds = time.perf_counter() - t0
    nginx_cpu, pg_cpu = proc_cpu(nginx_pids) - srv0, sampler.pg_used()
    for proc in procs:
        proc.join()
    sampler.stop()
    probed = sum(r["urls"] for r in results)
    return Sweep(
        processes,
        probed,
        seconds,
        sum(r["cpu"] for r in results),
        pg_cpu,
        nginx_cpu,
        census(settings, since, job.periods(now)[0].key),
        [sampler.rss[pid] for pid in pids],
        results,
    )


def bare(
    names: list[str], urls: int, port: int, roots: tuple[x509.Certificate, ...],
    concurrency: int, nginx_pids: list[int],
) -> Run:  # fmt: skip
    """The same targets through the prober alone (``probe_all``, as a shard runs it, with
    the desk's trust roots: Mozilla's and the bench root): no engine, no database."""
    targets = [
        ProbeTarget(url=f"https://{names[i % len(names)]}/", host=names[i % len(names)],
                    connect_to=("127.0.0.1", port))
        for i in range(urls)
    ]  # fmt: skip
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    srv0, t0 = proc_cpu(nginx_pids), time.perf_counter()
    results = probe_all(targets, roots=roots, now=clock.now, concurrency=concurrency, timeout=10,
                        allow_private=True)  # fmt: skip
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage.ru_utime - usage0.ru_utime) + (usage.ru_stime - usage0.ru_stime)
    return Run("probe_all, no engine", urls, sum(r.ok for r in results), seconds, cpu,
               proc_cpu(nginx_pids) - srv0)  # fmt: skip


def deciles(series: list[tuple[float, float]], t0: float, t1: float) -> list[float]:
    """The peak RSS of each tenth of [t0, t1]."""
    span = (t1 - t0) / 10 or 1.0
    peaks = [0.0] * 10
    for t, value in series:
        if t0 <= t <= t1:
            k = min(9, int((t - t0) / span))
            peaks[k] = max(peaks[k], value)
    return [round(p, 1) for p in peaks]


# --- the whole bench --------------------------------------------------------------------


def run_key(
    cluster: Cluster, folder: Path, key: str, args: argparse.Namespace, say: Callable[[str], None]
) -> dict[str, Any]:
    work = folder / key
    work.mkdir()
    pki = make_pki(work, key)
    roots = trust_roots(pki["root.crt"])  # what the sweeping desk trusts
    names = names_for(args.urls)
    port, bb_port = free_port(), free_port()
    conf = nginx_conf(work, port, pki)
    bb_conf = blackbox_conf(work, names, pki["root.crt"])
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    nginx_cmd = [nginx, "-p", str(work), "-c", str(conf), "-e", str(work / "logs/e")]
    bb_cmd = [
        "prometheus-blackbox-exporter",
        f"--config.file={bb_conf}",
        f"--web.listen-address=127.0.0.1:{bb_port}",
    ]
    base = Settings(home=work / "home", database_url="", ca_bundle=pki["root.crt"],
                    probe_concurrency=args.concurrency)  # fmt: skip
    out: dict[str, Any] = {"key": key, "sweeps": {}, "bare": [], "blackbox": []}
    with (
        running(nginx_cmd, port, "nginx", work / "nginx.out") as nginx_proc,
        running(bb_cmd, bb_port, "blackbox_exporter", work / "bb.out") as bb_proc,
    ):
        time.sleep(0.3)
        nginx_pids = family(nginx_proc.pid)
        bench_blackbox(bb_proc, bb_port, port, 300, len(names), args.concurrency, nginx_pids)
        steps: list[tuple[str, Callable[[int], Any]]] = [
            ("1", lambda r: sweep(cluster, base, f"{key}_r{r}_p1", names, args.urls, 1, port,
                                  nginx_pids, first=args.first)),
            ("2", lambda r: sweep(cluster, base, f"{key}_r{r}_p2", names, args.urls, 2, port,
                                  nginx_pids, first=args.first)),
            ("bare", lambda r: bare(names, args.urls, port, roots, args.concurrency, nginx_pids)),
            ("blackbox", lambda r: bench_blackbox(bb_proc, bb_port, port, args.urls, len(names),
                                                  args.concurrency, nginx_pids)),
        ]  # fmt: skip
        for round_no in range(args.rounds):
            shift = round_no % len(steps)
            for label, step in steps[shift:] + steps[:shift]:
                say(f"{key}: round {round_no + 1}, {label}…")
                result = step(round_no)
                if label in ("bare", "blackbox"):
                    out[label].append(result)
                else:
                    out["sweeps"].setdefault(label, []).append(result)
        if key == args.memory_key and args.memory_urls:
            say(f"{key}: memory, one process sweeping {args.memory_urls:,} URLs…")
            mem = sweep(cluster, base, f"{key}_memory", names, args.memory_urls, 1, port,
                        nginx_pids, first=True)  # fmt: skip
            [series] = mem.rss
            t_end = series[-1][0] if series else 0.0
            t_go = t_end - mem.seconds
            before = [v for t, v in series if t < t_go]
            out["memory"] = {
                **mem.to_json(),
                "rss_before_sweep_mb": round(before[-1], 1) if before else None,
                "rss_peak_mb": round(max(v for _, v in series), 1),
                "rss_peak_per_tenth_mb": deciles(series, t_go, t_end),
                "child_maxrss_mb": round(mem.children[0]["maxrss_mb"], 1),
            }
    return out


def summarise(res: dict[str, Any]) -> dict[str, Any]:
    def med(runs: list[Any], f: Callable[[Any], float]) -> float:
        return statistics.median(f(r) for r in runs)

    bb: list[Run] = res["blackbox"]
    bb_rate = med(bb, lambda r: r.rate)
    bb_cpu = med(bb, lambda r: r.cpu_ms)
    rows: list[dict[str, Any]] = []
    for label, runs in sorted(res["sweeps"].items()):
        rows.append(
            {
                "client": f"sweep, {label} process{'es' if label != '1' else ''}",
                "urls": runs[0].urls,
                "per_s": round(med(runs, lambda s: s.rate), 1),
                "client_cpu_ms": round(med(runs, lambda s: s.cpu_ms), 3),
                "extra_cpu_ms": round(med(runs, lambda s: s.pg_cpu / s.urls * 1000), 3),
                "nginx_cpu_ms": round(med(runs, lambda s: s.nginx_cpu / s.urls * 1000), 3),
                "rates": [round(s.rate, 1) for s in runs],
                "census": [s.census for s in runs],
                "vs_blackbox_rate": round(med(runs, lambda s: s.rate) / bb_rate, 2),
                "vs_blackbox_cpu": round(med(runs, lambda s: s.cpu_ms) / bb_cpu, 2),
            }
        )
    for label, runs in (("probe_all, no engine", res["bare"]), ("blackbox_exporter", bb)):
        rows.append(
            {
                "client": label,
                "urls": runs[0].probes,
                "ok": min(r.ok for r in runs),
                "per_s": round(med(runs, lambda r: r.rate), 1),
                "client_cpu_ms": round(med(runs, lambda r: r.cpu_ms), 3),
                "extra_cpu_ms": round(med(runs, lambda r: r.extra_ms), 3),
                "nginx_cpu_ms": round(med(runs, lambda r: r.server_ms), 3),
                "rates": [round(r.rate, 1) for r in runs],
            }
        )
    return {"key": res["key"], "rows": rows, "memory": res.get("memory")}


def print_key(summary: dict[str, Any]) -> None:
    print(f"\nleaf {summary['key']}")
    head = (
        f"{'client':24} {'URLs':>7} {'URLs/s':>8} {'client CPU ms':>14} {'+ PG | load gen':>16} "
        f"{'nginx ms':>9} {'x bb rate':>10} {'x bb CPU':>9}"
    )
    print(head)
    print("-" * len(head))
    for row in summary["rows"]:
        print(
            f"{row['client']:24} {row['urls']:>7} {row['per_s']:>8.0f} "
            f"{row['client_cpu_ms']:>14.2f} {row['extra_cpu_ms']:>16.2f} "
            f"{row['nginx_cpu_ms']:>9.2f} {row.get('vs_blackbox_rate', ''):>10} "
            f"{row.get('vs_blackbox_cpu', ''):>9}"
        )
    for row in summary["rows"]:
        print(f"  {row['client']:24} rates {row['rates']}")
        for c in row.get("census", []):
            print(
                f"    counted: {c['probed_once']}/{c['monitored']} probed once, "
                f"{c['probed_twice_or_more']} more than once, {c['never_probed']} never; "
                f"{c['probes_ok']} ok; units done {c['shards_done']}/{len(shard_plan(SHARDS))}, "
                f"by process {c['shards_by_process']}"
            )
        if "ok" in row:
            print(f"    ok: {row['ok']}/{row['urls']}")
    sweeps = [r for r in summary["rows"] if "vs_blackbox_rate" in r]
    if sweeps:
        best = max(sweeps, key=lambda r: r["per_s"])
        rate_ok = best["vs_blackbox_rate"] >= GOAL_RATE
        cpu_ok = best["vs_blackbox_cpu"] <= GOAL_CPU
        print(
            f"  {best['client']} / blackbox_exporter: {best['vs_blackbox_rate']}x URLs/s "
            f"(goal >= {GOAL_RATE}x: {'met' if rate_ok else 'MISSED'}), "
            f"{best['vs_blackbox_cpu']}x client CPU per URL "
            f"(goal <= {GOAL_CPU}x: {'met' if cpu_ok else 'MISSED'})"
        )
    mem = summary["memory"]
    if mem:
        c = mem["census"]
        rss_ok = mem["rss_peak_mb"] < GOAL_RSS_MB
        print(
            f"  memory, {mem['urls']:,} URLs by one process in {mem['seconds']} s "
            f"({mem['urls_per_s']}/s, {mem['client_cpu_ms_per_url']} ms CPU/URL): RSS "
            f"{mem['rss_before_sweep_mb']} MB before, peak {mem['rss_peak_mb']} MB "
            f"(goal < {GOAL_RSS_MB:.0f} MB: {'met' if rss_ok else 'MISSED'}); "
            f"peak per tenth of the sweep {mem['rss_peak_per_tenth_mb']}; "
            f"counted {c['probed_once']}/{c['monitored']} probed once, {c['probes_ok']} ok"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--urls", type=int, default=10_000, help="URLs of a timed sweep")
    parser.add_argument("--memory-urls", type=int, default=100_000, help="0: no memory run")
    parser.add_argument("--memory-key", choices=("rsa", "ec"), default="ec")
    parser.add_argument("--keys", default="rsa,ec")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=100, help="as probe_concurrency")
    parser.add_argument(
        "--first",
        action="store_true",
        help="time each database's first sweep (states made) instead of the next one",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.urls > 10_000:
        parser.error("--urls: at most 10,000 (one blackbox_exporter module per name)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for tool in ("prometheus-blackbox-exporter", "openssl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: apt-get install -y {tool}")

    def say(message: str) -> None:
        if not args.json:
            print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    load = os.getloadavg()
    summaries = []
    with tempfile.TemporaryDirectory(prefix="certdesk-bench-sweep-") as tmp, postgresql() as pg:
        for key in args.keys.split(","):
            summaries.append(summarise(run_key(pg, Path(tmp), key, args, say)))
    info = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "urls": args.urls,
        "shards": SHARDS,
        "units": len(shard_plan(SHARDS)),
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "timed_sweep": "first" if args.first else "next",
    }
    if args.json:
        print(json.dumps({"machine": info, "keys": summaries}, indent=2, default=str))
        return 0
    print(
        f"Probe sweeps through the job engine on PostgreSQL, {args.urls:,} URLs "
        f"({info['units']} units of the ids modulo {SHARDS}, concurrency {args.concurrency}), "
        f"{info['cpus']} CPUs, load "
        f"average {info['load_average_at_start']} at start, {info['load_average_at_end']} "
        f"at end; {args.rounds} round(s), medians. CPU columns: ms per URL. Timed: "
        + (
            "each database's first sweep (every domain's state made)."
            if args.first
            else "each database's second sweep (states and served expiry stored by an untimed "
            "sweep of the period before, as in every sweep of a running certdesk but its "
            "first)."
        )
    )
    for summary in summaries:
        print_key(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
