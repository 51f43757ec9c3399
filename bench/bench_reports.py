"""Benchmark: the daily and monthly expiry reports over many monitored URLs on SQLite.

Issue 4: "Building the daily and monthly reports over 100,000 monitored URLs on
SQLite: goal under 2 seconds each, memory bounded."

Set-up (not timed, in a forked child so that its memory never reaches the figures of
the measuring process): a fresh data folder through ``open_desk``, ``--tenants``
tenants (sizes skewed, 1/sqrt(rank)), ``--domains`` domains, inserted in batches with
SQLAlchemy Core. Per domain:

* 3% not monitored, 2% removed (neither may be listed);
* 92% have an installed certificate (a binding with ``unbound_at`` NULL), expiring
  uniformly in -30..+400 days from the report instant; 20% of those also have an
  older, expired certificate on an unbound binding (history the report must skip);
* 70% have a ``DomainState`` with a served certificate (the "served" source; 3%
  of them drifted to a different expiry, 5% with a failed last probe), 5% a state
  whose probes all failed (no served expiry), 25% none: those two fall back to the
  installed certificate (the "installed" source), or are left out if they have none.

Certificate rows share a few distinct PEM chains made with the ``openssl`` CLI (the
reports read only the columns, never the PEM); each row has its own fingerprint.

Timed, median of ``--runs`` after one warm-up: ``build_report`` daily and monthly,
for the operators (all tenants) and for the largest tenant; once, the daily report
for every tenant in turn (what the scheduler does each morning); ``render`` of the
operators' reports as text, HTML, CSV and JSON. Memory: the tracemalloc peak of one
extra build (tracemalloc slows Python down, so never in a timed run), and
``ru_maxrss`` of this process before and after. Also: the time spent inside the
SQL statement's first step (SQLite scans, joins and sorts there), the same SQL run
bare through sqlite3 (the floor), and its ``EXPLAIN QUERY PLAN``. A report over the
goal, or ``--profile``, adds a cProfile of one build.

    .venv/bin/python bench/bench_reports.py [--domains 100000] [--runs 5] [--json]
        [--tenants 50] [--analyze] [--profile] [--home DIR (kept, for experiments)]

Not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import json
import math
import multiprocessing
import os
import platform
import pstats
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import event, func, insert, select

from certdesk.application.compose import open_desk
from certdesk.desk.context import Actor, Desk
from certdesk.reports import (
    Report,
    build_report,
    daily_kind,
    find_kind,
    monthly_kind,
    parse_timezone,
    render,
)
from certdesk.settings import Settings
from certdesk.store.models import Binding, CertificateRecord, Domain, Tenant
from certdesk.store.monitoring import DomainState

GOAL_S = 2.0
AT = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)  # a daily report's due time, 10:00 +02:00
TZ = "+02:00"
BATCH = 5000
FORMATS = ("text", "html", "csv", "json")
PORTALS = ("bss", "storefront", "other")
ERRORS = ("timeout", "refused", "dns", "tls-alert", "untrusted", "name-mismatch")
ISSUER = "certdesk bench throwaway CA"

_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
"""


# --- inputs -----------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_chains(work: Path, distinct: int) -> list[str]:
    """``distinct`` PEM chains (leaf + CA) made with the openssl CLI; placeholders without it."""
    if shutil.which("openssl") is None:
        return [f"-----BEGIN CERTIFICATE-----\nplaceholder {i}\n-----END CERTIFICATE-----\n"
                for i in range(distinct)]  # fmt: skip
    work.mkdir(parents=True, exist_ok=True)
    (work / "bench.cnf").write_text(_OPENSSL_CNF)
    cnf = ["-config", "bench.cnf"]
    ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    _openssl("genpkey", *ec, "-out", "ca.key", cwd=work)
    _openssl("req", *cnf, "-new", "-x509", "-key", "ca.key", "-days", "3650",
             "-subj", f"/O=certdesk bench/CN={ISSUER}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-out", "ca.pem", cwd=work)  # fmt: skip
    ca = (work / "ca.pem").read_text()
    chains = []
    for i in range(distinct):
        _openssl("genpkey", *ec, "-out", f"leaf{i}.key", cwd=work)
        _openssl("req", *cnf, "-new", "-key", f"leaf{i}.key", "-subj", f"/CN=svc{i}.example.com",
                 "-CA", "ca.pem", "-CAkey", "ca.key", "-extensions", "leaf",
                 "-days", str(90 + 90 * i), "-set_serial", str(0x2000 + i),
                 "-addext", f"subjectAltName=DNS:svc{i}.example.com,DNS:www.svc{i}.example.com",
                 "-out", f"leaf{i}.pem", cwd=work)  # fmt: skip
        chains.append((work / f"leaf{i}.pem").read_text() + ca)
    return chains


def settings_for(home: Path) -> Settings:
    return Settings(home=home, database_url=f"sqlite:///{home}/certdesk.db")


def tenant_weights(tenants: int) -> list[float]:
    return [1 / math.sqrt(k + 1) for k in range(tenants)]


def _when(days: float) -> datetime:
    return (AT + timedelta(days=days)).replace(microsecond=0)


def _cert(cid: int, tenant: int, host: str, not_after: datetime, chain: str) -> dict[str, Any]:
    digest = hashlib.sha256(f"bench-cert-{cid}".encode()).hexdigest()
    return {
        "id": cid,
        "tenant_id": tenant,
        "sha256": digest,
        "spki_sha256": hashlib.sha256(digest.encode()).hexdigest(),
        "common_name": host,
        "subject": f"CN={host}",
        "issuer": f"CN={ISSUER},O=certdesk bench",
        "issuer_common_name": ISSUER,
        "serial": f"{cid:032x}",
        "not_before": not_after - timedelta(days=90),
        "not_after": not_after,
        "dns_names": [host],
        "key_type": "ec",
        "key_size": 256,
        "chain_pem": chain,
        "source": "pfx",
        "private_key_id": None,
        "created_at": not_after - timedelta(days=90),
    }


def populate(home: Path, domains: int, tenants: int, chains: Sequence[str], seed: int) -> None:
    """Fill a fresh data folder (runs in a child process)."""
    desk = open_desk(settings_for(home))
    rng = random.Random(seed)
    created = _when(-800)
    with desk.store.transaction() as session:
        session.execute(
            insert(Tenant.__table__),
            [
                {
                    "id": k,
                    "name": f"tenant-{k:02d}",
                    "emails": [f"ops@tenant-{k:02d}.example"],
                    "created_at": created,
                }
                for k in range(1, tenants + 1)
            ],
        )
    owners = rng.choices(range(1, tenants + 1), tenant_weights(tenants), k=domains)
    # Certificates come and go over the years: their ids are not in domain order.
    cert_ids = list(range(1, 2 * domains + 1))
    rng.shuffle(cert_ids)
    taken = 0
    for start in range(0, domains, BATCH):
        rows: dict[str, list[dict[str, Any]]] = {"d": [], "c": [], "b": [], "s": []}
        for i in range(start, min(domains, start + BATCH)):
            did, tenant = i + 1, owners[i]
            # Host names sort in no relation to ids (the scan follows a host-name index).
            tag = hashlib.blake2b(did.to_bytes(4, "big"), digest_size=4).hexdigest()
            host = f"{tag}-{did}.t{tenant:02d}.example"
            port = 8443 if did % 17 == 0 else 443
            rows["d"].append(
                {
                    "id": did,
                    "tenant_id": tenant,
                    "url": f"https://{host}" + (f":{port}" if port != 443 else ""),
                    "hostname": host,
                    "port": port,
                    "portal": PORTALS[did % len(PORTALS)],
                    "monitored": rng.random() >= 0.03,
                    "connect_to": None,
                    "created_at": created,
                    "removed_at": _when(-rng.uniform(1, 100)) if rng.random() < 0.02 else None,
                }
            )
            installed: datetime | None = None
            if rng.random() < 0.92:
                installed = _when(rng.uniform(-30, 400))
                if rng.random() < 0.20:  # an older certificate, unbound when this one came
                    cert_id, taken = cert_ids[taken], taken + 1
                    old = installed - timedelta(days=rng.uniform(60, 365))
                    rows["c"].append(
                        _cert(cert_id, tenant, host, old, chains[cert_id % len(chains)])
                    )
                    rows["b"].append(
                        {
                            "domain_id": did,
                            "certificate_id": cert_id,
                            "bound_at": old - timedelta(days=90),
                            "unbound_at": installed - timedelta(days=90),
                        }
                    )
                cert_id, taken = cert_ids[taken], taken + 1
                rows["c"].append(
                    _cert(cert_id, tenant, host, installed, chains[cert_id % len(chains)])
                )
                rows["b"].append(
                    {
                        "domain_id": did,
                        "certificate_id": cert_id,
                        "bound_at": installed - timedelta(days=90),
                        "unbound_at": None,
                    }
                )
            domain_row = rows["d"][-1]
            # What certdesk keeps in domains.expires_at (records.bind, record_probes).
            domain_row["expires_at"] = installed
            domain_row["expiry_source"] = "installed" if installed is not None else None
            state = rng.random()
            if state >= 0.75:
                continue  # never probed
            probe_at = _when(-rng.uniform(0, 0.25))
            failed = state >= 0.70 or rng.random() < 0.05
            row: dict[str, Any] = {
                "domain_id": did,
                "last_probe_at": probe_at,
                "last_ok": not failed,
                "last_error_kind": rng.choice(ERRORS) if failed else None,
                "served_at": None,
                "served_sha256": None,
                "served_common_name": None,
                "served_issuer": None,
                "served_not_after": None,
                "served_drift": None,
            }
            if state < 0.70:  # a successful probe saw a certificate
                drift = installed is None or rng.random() < 0.03
                served = _when(rng.uniform(-30, 400)) if drift else installed
                domain_row["expires_at"] = served
                domain_row["expiry_source"] = "served"
                row.update(
                    served_at=probe_at if not failed else probe_at - timedelta(hours=6),
                    served_sha256=hashlib.sha256(f"served-{did}".encode()).hexdigest(),
                    served_common_name=host,
                    served_issuer=f"CN={ISSUER},O=certdesk bench",
                    served_not_after=served,
                    served_drift=None if installed is None else drift,
                )
            rows["s"].append(row)
        with desk.store.transaction() as session:
            # Core inserts on the tables (not the ORM bulk path): one executemany each.
            session.execute(insert(Domain.__table__), rows["d"])
            session.execute(insert(CertificateRecord.__table__), rows["c"])
            session.execute(insert(Binding.__table__), rows["b"])
            if rows["s"]:
                session.execute(insert(DomainState.__table__), rows["s"])
    desk.store.close()


def set_up(home: Path, args: argparse.Namespace, chains: Sequence[str]) -> None:
    """Populate in a forked child where possible, so its peak RSS stays out of ours."""
    params = (home, args.domains, args.tenants, chains, args.seed)
    if "fork" not in multiprocessing.get_all_start_methods():
        populate(*params)
        return
    child = multiprocessing.get_context("fork").Process(target=populate, args=params)
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"set-up failed in the child process (exit code {child.exitcode})")


def census(desk: Desk) -> dict[str, int]:
    """What the data folder holds, counted by SQL."""
    with desk.store.transaction() as s:
        listed = (Domain.monitored.is_(True), Domain.removed_at.is_(None))

        def count(stmt: Any) -> int:
            return int(s.scalar(stmt) or 0)

        return {
            "tenants": count(select(func.count()).select_from(Tenant)),
            "domains": count(select(func.count()).select_from(Domain)),
            "monitored_active": count(select(func.count()).where(*listed)),
            "unmonitored": count(select(func.count()).where(Domain.monitored.is_(False))),
            "removed": count(select(func.count()).where(Domain.removed_at.is_not(None))),
            "certificates": count(select(func.count()).select_from(CertificateRecord)),
            "bindings": count(select(func.count()).select_from(Binding)),
            "bindings_current": count(select(func.count()).where(Binding.unbound_at.is_(None))),
            "domain_states": count(select(func.count()).select_from(DomainState)),
            "served": count(select(func.count()).where(DomainState.served_not_after.is_not(None))),
        }


# --- measuring ---------------------------------------------------------------------


def maxrss_mb() -> float:
    """This process's peak resident set size so far (Linux: KiB; macOS: bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class SqlTimer:
    """Catches the report's SELECT and the time of its execute (SQLite's first step:
    the scan, the joins and the sort of every matching row happen there)."""

    def __init__(self, engine: sqlalchemy.Engine) -> None:
        self.engine = engine
        self.statement: str | None = None
        self.parameters: Any = None
        self.seconds = 0.0
        self._t0 = 0.0

    def _before(self, _c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM domains" in statement:
            self.statement, self.parameters = statement, parameters
            self._t0 = time.perf_counter()

    def _after(self, _c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if "FROM domains" in statement:
            self.seconds += time.perf_counter() - self._t0

    @contextmanager
    def installed(self) -> Iterator[SqlTimer]:
        self.seconds = 0.0
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        try:
            yield self
        finally:
            event.remove(self.engine, "before_cursor_execute", self._before)
            event.remove(self.engine, "after_cursor_execute", self._after)


@dataclass
class Case:
    name: str
    kind: str
    tenant_id: int | None
    audience: str
    runs: list[float] = field(default_factory=list)
    sql_s: list[float] = field(default_factory=list)
    raw_s: list[float] = field(default_factory=list)
    rows: int = 0
    expired: int = 0
    expiring: int = 0
    served: int = 0
    peak_bytes: int = 0
    retained_bytes: int = 0
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0
    statement: str | None = None
    parameters: Any = None
    plan: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "audience": self.audience,
            "rows": self.rows,
            "expired": self.expired,
            "expiring": self.expiring,
            "source_served": self.served,
            "source_installed": self.rows - self.served,
            "runs_s": [round(r, 4) for r in self.runs],
            "median_s": round(self.median, 4),
            "sql_execute_median_s": round(statistics.median(self.sql_s), 4),
            "bare_sqlite_fetchall_median_s": round(statistics.median(self.raw_s), 4),
            "goal_s": GOAL_S,
            "goal_met": self.median < GOAL_S,
            "tracemalloc_peak_bytes": self.peak_bytes,
            "tracemalloc_retained_bytes": self.retained_bytes,
            "peak_bytes_per_row": round(self.peak_bytes / self.rows) if self.rows else None,
            "ru_maxrss_mb": {
                "before": round(self.rss_before_mb, 1),
                "after": round(self.rss_after_mb, 1),
            },
            "query_plan": self.plan,
        }


def build(desk: Desk, case: Case, tz: tzinfo) -> Report:
    with desk.context(Actor("bench"), at=AT) as ctx:
        kind = find_kind((daily_kind(tz), monthly_kind(tz)), case.kind)
        return build_report(ctx, kind, AT, tz, tenant_id=case.tenant_id, audience=case.audience)


def bare_sql(db: Path, statement: str, parameters: Any) -> tuple[float, int]:
    """The report's SELECT through sqlite3 alone: (seconds, rows) — the floor."""
    con = sqlite3.connect(db)
    try:
        t0 = time.perf_counter()
        rows = con.execute(statement, parameters).fetchall()
        return time.perf_counter() - t0, len(rows)
    finally:
        con.close()


def query_plan(db: Path, statement: str, parameters: Any) -> list[str]:
    """``EXPLAIN QUERY PLAN`` of the statement, as an indented tree."""
    con = sqlite3.connect(db)
    try:
        nodes = con.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
    finally:
        con.close()
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, _unused, detail in nodes:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + str(detail))
    return lines


def measure_case(
    desk: Desk, db: Path, case: Case, args: argparse.Namespace, progress: Callable[[str], None]
) -> Report:
    tz = parse_timezone(TZ)
    timer = SqlTimer(desk.store.engine)
    case.rss_before_mb = maxrss_mb()
    report = build(desk, case, tz)  # warm-up: page cache, statement cache
    for n in range(args.runs):
        del report
        gc.collect()
        with timer.installed():
            t0 = time.perf_counter()
            report = build(desk, case, tz)
            case.runs.append(time.perf_counter() - t0)
        case.sql_s.append(timer.seconds)
        progress(f"{case.name}: run {n + 1}/{args.runs} {case.runs[-1]:.3f} s "
                 f"({len(report.rows):,} rows, SQL execute {timer.seconds:.3f} s)")  # fmt: skip
    case.statement, case.parameters = timer.statement, timer.parameters
    case.rows, case.expired, case.expiring = (
        len(report.rows),
        len(report.expired),
        len(report.expiring),
    )
    case.served = sum(1 for r in report.rows if r.source == "served")
    assert case.statement is not None, "the report's SELECT was not seen"
    for _ in range(args.runs):
        seconds, count = bare_sql(db, case.statement, case.parameters)
        if count != case.rows:
            raise SystemExit(f"{case.name}: bare SQL gave {count} rows, the report {case.rows}")
        case.raw_s.append(seconds)
    case.plan = query_plan(db, case.statement, case.parameters)
    # Memory: one more build under tracemalloc (never timed: tracemalloc slows Python).
    del report
    gc.collect()
    tracemalloc.start()
    try:
        report = build(desk, case, tz)
        case.retained_bytes, case.peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    case.rss_after_mb = maxrss_mb()
    progress(f"{case.name}: median {case.median:.3f} s, tracemalloc peak "
             f"{case.peak_bytes / 1e6:.1f} MB, ru_maxrss {case.rss_after_mb:.0f} MB")  # fmt: skip
    return report


def measure_renders(
    reports: dict[str, Report], args: argparse.Namespace, progress: Callable[[str], None]
) -> list[dict[str, Any]]:
    out = []
    for label, report in reports.items():
        for fmt in FORMATS:
            render(report, fmt)  # warm-up
            runs = []
            for _ in range(args.runs):
                gc.collect()
                t0 = time.perf_counter()
                text = render(report, fmt)
                runs.append(time.perf_counter() - t0)
            size = len(text.encode())
            del text
            gc.collect()
            tracemalloc.start()
            try:
                render(report, fmt)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            out.append(
                {
                    "report": label,
                    "format": fmt,
                    "rows": len(report.rows),
                    "median_s": round(statistics.median(runs), 4),
                    "runs_s": [round(r, 4) for r in runs],
                    "bytes": size,
                    "tracemalloc_peak_bytes": peak,
                }
            )
            progress(f"render {label} {fmt}: {out[-1]['median_s']:.3f} s, {size / 1e6:.1f} MB")
    return out


def every_tenant(desk: Desk, tenants: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """The daily report for each tenant in turn, once: the scheduler's morning."""
    tz = parse_timezone(TZ)
    t0 = time.perf_counter()
    rows = 0
    slowest = 0.0
    for k in range(1, tenants + 1):
        t1 = time.perf_counter()
        rows += len(build(desk, Case("", "daily", k, f"tenant-{k:02d}"), tz).rows)
        slowest = max(slowest, time.perf_counter() - t1)
    total = time.perf_counter() - t0
    progress(f"daily for each of {tenants} tenants: {total:.2f} s in all")
    return {"reports": tenants, "rows": rows, "total_s": round(total, 3),
            "slowest_s": round(slowest, 4)}  # fmt: skip


def profile_build(desk: Desk, case: Case, top: int) -> list[dict[str, Any]]:
    """cProfile one build: the functions with the most own time."""
    tz = parse_timezone(TZ)
    profiler = cProfile.Profile()
    profiler.enable()
    build(desk, case, tz)
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    entries: dict[Any, Any] = getattr(stats, "stats", {})
    for (filename, line, name), (_cc, calls, tottime, cumtime, _) in entries.items():
        rows.append(
            {
                "where": _where(filename, line, name),
                "calls": calls,
                "tottime_s": round(tottime, 4),
                "cumtime_s": round(cumtime, 4),
            }
        )
    rows.sort(key=lambda r: r["tottime_s"], reverse=True)
    return rows[:top]


def _where(filename: str, line: int, name: str) -> str:
    if filename == "~":
        return name
    for marker in ("site-packages/", "src/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({name})"


def measure(args: argparse.Namespace, progress: Callable[[str], None]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="certdesk-bench-reports-") as tmp:
        home = args.home or Path(tmp) / "home"
        rss_start = maxrss_mb()
        load_start = os.getloadavg()[0]
        t0 = time.perf_counter()
        chains = make_chains(Path(tmp) / "openssl", 4)
        progress(f"set-up: {len(chains)} PEM chains in {time.perf_counter() - t0:.1f} s; "
                 f"inserting {args.domains:,} domains over {args.tenants} tenants…")  # fmt: skip
        set_up(home, args, chains)
        setup_s = time.perf_counter() - t0
        desk = open_desk(settings_for(home))
        db = home / "certdesk.db"
        if args.analyze:
            with desk.store.transaction() as session:
                session.execute(sqlalchemy.text("ANALYZE"))
        data = census(desk)
        data["db_bytes"] = db.stat().st_size + sum(
            p.stat().st_size for p in home.glob("certdesk.db-*")
        )
        progress(f"set-up done in {setup_s:.1f} s: {data}")
        with desk.store.transaction() as s:
            largest_id, largest_name, largest_n = s.execute(
                select(Tenant.id, Tenant.name, func.count(Domain.id))
                .join(Domain, Domain.tenant_id == Tenant.id)
                .group_by(Tenant.id)
                .order_by(func.count(Domain.id).desc())
                .limit(1)
            ).one()
        rss_ready = maxrss_mb()

        cases = [
            Case("daily, operators", "daily", None, "operators"),
            Case("monthly, operators", "monthly", None, "operators"),
            Case(f"daily, {largest_name}", "daily", largest_id, largest_name),
            Case(f"monthly, {largest_name}", "monthly", largest_id, largest_name),
        ]
        reports: dict[str, Report] = {}
        for case in cases:
            report = measure_case(desk, db, case, args, progress)
            if case.tenant_id is None:
                reports[case.kind] = report
        renders = measure_renders(reports, args, progress)
        rss_end = maxrss_mb()
        tenants_pass = every_tenant(desk, args.tenants, progress)
        slow = max(cases, key=lambda c: c.median)
        profile = None
        if args.profile or slow.median >= GOAL_S:
            profile = {"case": slow.name, "top": profile_build(desk, slow, args.profile_top)}
        desk.store.close()

    return {
        "config": {
            "domains": args.domains,
            "tenants": args.tenants,
            "largest_tenant": {"name": largest_name, "domains": largest_n},
            "runs": args.runs,
            "at": AT.isoformat(),
            "timezone": TZ,
            "analyze": args.analyze,
            "seed": args.seed,
            "setup_s": round(setup_s, 1),
        },
        "environment": {
            "python": platform.python_version(),
            "sqlalchemy": sqlalchemy.__version__,
            "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_1m": {
                "at_start": round(load_start, 2),
                "at_end": round(os.getloadavg()[0], 2),
            },
        },
        "data": data,
        "cases": cases,
        "renders": renders,
        "every_tenant_daily": tenants_pass,
        "ru_maxrss_mb": {
            "at_start": round(rss_start, 1),
            "after_setup_and_open": round(rss_ready, 1),
            "after_builds_and_renders": round(rss_end, 1),
        },
        "profile": profile,
    }


# --- reporting ---------------------------------------------------------------------


def report_json(fig: dict[str, Any]) -> dict[str, Any]:
    return {
        **fig,
        "cases": {c.name: c.to_json() for c in fig["cases"]},
        "goal": {"build_s": GOAL_S, "met": all(c.median < GOAL_S for c in fig["cases"])},
    }


def report_table(fig: dict[str, Any]) -> str:
    cfg, env, data, cases = fig["config"], fig["environment"], fig["data"], fig["cases"]
    rss = fig["ru_maxrss_mb"]
    lines = [
        f"certdesk report benchmark: {data['domains']:,} domains "
        f"({data['monitored_active']:,} monitored and active) over {data['tenants']} tenants "
        f"on SQLite ({data['db_bytes'] / 1e6:.0f} MB), at {cfg['at']}",
        f"{data['certificates']:,} certificates, {data['bindings']:,} bindings "
        f"({data['bindings_current']:,} current), {data['domain_states']:,} domain states "
        f"({data['served']:,} with a served expiry); set-up {cfg['setup_s']} s"
        + ("; ANALYZE run" if cfg["analyze"] else "; no ANALYZE (as certdesk leaves it)"),
        f"python {env['python']}, SQLAlchemy {env['sqlalchemy']}, SQLite {env['sqlite']}, "
        f"{env['cpus']} CPUs, load average {env['loadavg_1m']['at_start']} at start, "
        f"{env['loadavg_1m']['at_end']} at end",
        "",
        f"{'build_report':<20} {'rows':>7} {'expired':>8} {'served':>7} {'median s':>9} "
        f"{'SQL exec s':>10} {'bare SQL s':>10} {'peak MB':>8} {'B/row':>6} {'goal':>5}",
        "-" * 100,
    ]
    for c in cases:
        j = c.to_json()
        lines.append(
            f"{c.name:<20} {c.rows:>7,} {c.expired:>8,} {c.served:>7,} {c.median:>9.3f} "
            f"{j['sql_execute_median_s']:>10.3f} {j['bare_sqlite_fetchall_median_s']:>10.3f} "
            f"{c.peak_bytes / 1e6:>8.1f} {j['peak_bytes_per_row'] or 0:>6,} "
            f"{'met' if c.median < GOAL_S else 'NOT':>5}"
        )
    lines.append("-" * 100)
    tp = fig["every_tenant_daily"]
    lines += [
        f"daily for every tenant in turn ({tp['reports']} builds, once): {tp['total_s']:.2f} s "
        f"in all, slowest {tp['slowest_s']:.3f} s, {tp['rows']:,} rows",
        "SQL exec: time inside the SELECT's execute (scan, joins, sort); bare SQL: the same",
        "statement fetched whole with sqlite3 alone. peak: tracemalloc peak of one extra build.",
        f"ru_maxrss: {rss['at_start']:.0f} MB at start, {rss['after_setup_and_open']:.0f} MB "
        f"after set-up (in a child) and open, {rss['after_builds_and_renders']:.0f} MB after "
        "all builds and renders",
        "  per case (before -> after): "
        + "; ".join(f"{c.name} {c.rss_before_mb:.0f} -> {c.rss_after_mb:.0f}" for c in cases),
        "",
        f"{'render (operators)':<20} {'format':<6} {'rows':>7} {'median s':>9} {'MB out':>7} "
        f"{'peak MB':>8}",
        "-" * 64,
    ]
    for r in fig["renders"]:
        lines.append(
            f"{r['report']:<20} {r['format']:<6} {r['rows']:>7,} {r['median_s']:>9.3f} "
            f"{r['bytes'] / 1e6:>7.2f} {r['tracemalloc_peak_bytes'] / 1e6:>8.1f}"
        )
    for c in (cases[0], cases[2]):
        lines += ["", f"EXPLAIN QUERY PLAN ({c.name}):", *(f"  {p}" for p in c.plan)]
    if fig["profile"]:
        lines += ["", f"cProfile of one build ({fig['profile']['case']}), by own time:"]
        lines += [
            f"  {p['tottime_s']:>8.3f} s own {p['cumtime_s']:>8.3f} s cum "
            f"{p['calls']:>9,} calls  {p['where']}"
            for p in fig["profile"]["top"]
        ]
    met = all(c.median < GOAL_S for c in cases)
    lines += ["", f"goal: every build under {GOAL_S:.0f} s: {'met' if met else 'NOT met'}"]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=100_000, help="domains to create")
    parser.add_argument("--tenants", type=int, default=50, help="tenants to spread them over")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each build")
    parser.add_argument("--seed", type=int, default=4, help="random seed of the data")
    parser.add_argument("--analyze", action="store_true", help="run ANALYZE after set-up")
    parser.add_argument("--profile", action="store_true", help="always profile the slowest")
    parser.add_argument("--profile-top", type=int, default=15, help="functions listed")
    parser.add_argument(
        "--home", type=Path, help="make the data folder here and keep it (default: a temporary one)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.home is not None and args.home.exists() and any(args.home.iterdir()):
        parser.error(f"--home {args.home} must be a new or empty folder")
    for name in ("domains", "tenants", "runs", "profile_top"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    figures = measure(args, progress)
    if args.json:
        print(json.dumps(report_json(figures), indent=2, default=str))
    else:
        print(report_table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
