"""Benchmark: the API's domain listing and the reseller dashboard with 10,000 domains in
one tenant, under 20 concurrent clients.

Set-up, on a fresh data folder (SQLite by default, or ``--database-url``): two tenants,
``--domains`` domains in the bench tenant and ``--others`` in another one, inserted in
bulk with SQLAlchemy Core; ``--certificates`` certificate rows, each domain bound to
one, so every listed domain carries a certificate and its expiry. A reseller account
of the bench tenant with an API token.

Then a real server: ``certdesk serve --no-scheduler --workers 2`` in a subprocess on
loopback, and ``--clients`` concurrent keep-alive connections, each sending its next
request as soon as the last one is answered, for ``--seconds`` per target:
``GET /api/domains`` with the reseller's token (the default page, a page of 500, and the
whole tenant in one response) and the dashboard page ``/`` with a session cookie.
Printed: p50/p90/p99/max latency, requests/s, and the server's CPU time per request.

The load comes from ``wrk`` (Debian's package, installed by ``make bench``): written in
C, it costs the shared two cores ~0.1 ms per request. ``--load httpx`` uses 20 Python
clients (httpx.AsyncClient) instead, which cost ~7 ms of CPU per request themselves on
the same cores, and so measure the client as much as the server.

Last, where the time of one listing goes, measured in this process on the same
database: the desk's ``list_domains`` (SQL and rows), ``json_bytes`` (what the route
sends), and the older ``jsonable`` + ``json.dumps`` for comparison; and a cProfile.

    .venv/bin/python bench/bench_api.py [--domains 10000] [--clients 20] [--seconds 10]
        [--load wrk|httpx] [--database-url postgresql://...] [--json] [--goal-only]

Goal (issue 5): p99 under 300 ms for the listing as a client gets it (the default page)
and for the dashboard. Not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, insert

from certdesk.api.encode import json_bytes, jsonable
from certdesk.application.compose import open_desk
from certdesk.desk import Actor, Desk, add_tenant, count_domains, list_domains, list_tenants
from certdesk.desk import accounts as acc
from certdesk.settings import Settings
from certdesk.store.models import Binding, CertificateRecord, Domain

TENANT = "Bench Reseller"
OTHER = "Other Reseller"
USER, PASSWORD = "bench-reseller", "bench-password-123"
OPERATOR = Actor("bench")


# --- set-up ------------------------------------------------------------------------------


def populate(desk: Desk, domains: int, others: int, certificates: int) -> str:
    """Tenants, domains, certificates and bindings in bulk; the reseller's API token.

    The bench tenant has ``domains`` active domains: one in fifty waits for its first
    certificate (no expiry), the others are bound to certificates expiring from 10 days
    ago to 110 days ahead; and one removed domain per hundred, which no page shows."""
    bench = desk.run(OPERATOR, add_tenant, name=TENANT, emails=["ops@bench.example"]).id
    other = desk.run(OPERATOR, add_tenant, name=OTHER, emails=["ops@other.example"]).id
    now = datetime.now(UTC).replace(microsecond=0)

    def expiry(cert: int) -> datetime:
        return now + timedelta(days=-10 + cert % 120, hours=1)

    with desk.store.transaction() as session:
        session.execute(
            insert(CertificateRecord),
            [
                {
                    "tenant_id": bench,
                    "sha256": f"{i:064x}",
                    "spki_sha256": f"{i + 1:064x}",
                    "common_name": f"*.c{i}.bench.example",
                    "subject": f"CN=*.c{i}.bench.example",
                    "issuer": "CN=Bench CA",
                    "issuer_common_name": "Bench CA",
                    "serial": f"{i:x}",
                    "not_before": now - timedelta(days=300),
                    "not_after": expiry(i),
                    "dns_names": [f"*.c{i}.bench.example"],
                    "key_type": "EC",
                    "key_size": 256,
                    "chain_pem": "",
                    "source": "pfx",
                    "private_key_id": None,
                    "created_at": now,
                }
                for i in range(1, certificates + 1)
            ],
        )
        rows = []
        bindings = []
        removed = domains // 100
        for i in range(domains + others + removed):
            cert = 1 + i % certificates
            gone = i >= domains + others
            waiting = i % 50 == 49 and not gone
            host = f"{'r' if gone else 'd'}{i:05d}.c{cert}.bench.example"
            rows.append(
                {
                    "tenant_id": other if domains <= i < domains + others else bench,
                    "url": f"https://{host}",
                    "hostname": host,
                    "port": 443,
                    "portal": ("bss", "storefront")[i % 2],
                    "monitored": not gone,
                    "connect_to": None,
                    "created_at": now,
                    "removed_at": now if gone else None,
                    "expires_at": None if waiting else expiry(cert),
                    "expiry_source": None if waiting else "installed",
                }
            )
            if not waiting:
                bindings.append(
                    {
                        "domain_id": i + 1,
                        "certificate_id": cert,
                        "request_id": None,
                        "bound_at": now,
                        "unbound_at": now if gone else None,
                    }
                )
        session.execute(insert(Domain), rows)
        session.execute(insert(Binding), bindings)
    if desk.store.engine.dialect.name == "postgresql":
        # A database in use has been vacuumed and analysed by autovacuum; one filled a
        # second ago has not (no statistics for the planner, no visibility map for
        # index-only scans). SQLite's statistics are made when the server opens it.
        with desk.store.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE"
            )
    with desk.context(OPERATOR) as ctx:
        acc.create_user(ctx, username=USER, password=PASSWORD, role="reseller", tenant=TENANT)
        user_id = acc.list_users(ctx)[-1].id
    token = desk.run(OPERATOR, acc.create_token, user_id=user_id, name="bench").token
    assert token is not None
    return token


# --- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    settings: Settings, port: int, log: Path, workers: int = 1
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CERTDESK_HOME": str(settings.home),
        "CERTDESK_DATABASE_URL": settings.database_url,
    }
    certdesk = Path(sys.executable).with_name("certdesk")
    command = [str(certdesk)] if certdesk.exists() else [sys.executable, "-m", "certdesk"]
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                *command,
                "serve",
                "--no-scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not start within 60 s")


# --- the load ------------------------------------------------------------------------------


async def load(
    base: str,
    path: str,
    *,
    clients: int,
    requests: int,
    warmup: int = 1,
    headers: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
    expect: str,
) -> dict[str, Any]:
    """Every client sends its requests one after the other; failures are counted."""
    latencies: list[float] = []
    sizes: list[int] = []
    failures: dict[str, int] = {}

    async def client() -> None:
        async with httpx.AsyncClient(
            base_url=base, headers=headers, cookies=cookies, timeout=120
        ) as http:
            for _ in range(warmup):
                await http.get(path)  # connect and warm up, not counted
            for _ in range(requests):
                started = time.perf_counter()
                answer = await http.get(path)
                latencies.append(time.perf_counter() - started)
                kind = answer.headers.get("content-type", "")
                if answer.status_code != 200 or not kind.startswith(expect):
                    reason = f"{answer.status_code} {answer.text[:80]!r}"
                    failures[reason] = failures.get(reason, 0) + 1
                sizes.append(len(answer.content))

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    return {
        "target": path,
        "requests": len(ordered),
        "clients": clients,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": ordered[-1] * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
        "req_per_s": len(ordered) / wall,
        "response_bytes": int(statistics.fmean(sizes)),
        "failed": sum(failures.values()),
        "failures": failures,
    }


WRK_SCRIPT = """
bad = 0
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("BENCH %d %d %d %d %d %d %d %d %d\\n",
    summary.requests, summary.duration, summary.bytes,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout, bad,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def load_wrk(
    folder: Path, base: str, path: str, *, clients: int, seconds: int, header: str
) -> dict[str, Any]:
    """``wrk`` with ``clients`` connections for ``seconds``; latencies in microseconds
    from its histogram. Every answer other than 200 counts as failed (a lost session
    would answer 303 to the login page, fast)."""
    script = folder / "report.lua"
    script.write_text(WRK_SCRIPT)
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{clients}",
            f"-d{seconds}s",
            "--timeout",
            "60s",
            "-s",
            str(script),
            "-H",
            header,
            base + path,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    line = next(row for row in out.splitlines() if row.startswith("BENCH "))
    n, duration_us, size, broken, bad_status, p50, p90, p99, top = map(int, line.split()[1:])
    failures = {}
    if broken:
        failures["connection errors"] = broken
    if bad_status:
        failures["status not 200"] = bad_status
    return {
        "target": path,
        "requests": n,
        "clients": clients,
        "p50_ms": p50 / 1000,
        "p90_ms": p90 / 1000,
        "p99_ms": p99 / 1000,
        "max_ms": top / 1000,
        "req_per_s": n / (duration_us / 1e6),
        "response_bytes": size // max(1, n),
        "failed": broken + bad_status,
        "failures": failures,
    }


def server_cpu_seconds(server: subprocess.Popen[bytes]) -> float:
    """User + system CPU time of the server and its worker processes, from /proc."""
    pids = [server.pid]
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


# --- where the time goes --------------------------------------------------------------------


def breakdown(desk: Desk, tenant_id: int, rounds: int = 5) -> dict[str, float]:
    """One listing of the whole tenant, in parts (medians, ms)."""
    reseller = Actor(f"user:{USER}", tenant_id=tenant_id)
    keys = ("list_domains", "json_bytes", "jsonable_then_json_dumps")
    times: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(rounds):
        t0 = time.perf_counter()
        views = desk.run(reseller, list_domains, tenant=TENANT)
        t1 = time.perf_counter()
        json_bytes(views)
        t2 = time.perf_counter()
        json.dumps(jsonable(views), ensure_ascii=False, separators=(",", ":")).encode()
        t3 = time.perf_counter()
        for key, value in zip(times, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            times[key].append(value * 1000)
    return {key: statistics.median(values) for key, values in times.items()}


def profile_listing(desk: Desk, tenant_id: int, top: int = 15) -> tuple[int, str]:
    """The SQL statements one listing sends, and a cProfile of it as the route runs it
    (the desk's list and count, the JSON), by own time."""

    reseller = Actor(f"user:{USER}", tenant_id=tenant_id)
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    def listing() -> bytes:
        with desk.context(reseller, readonly=True) as ctx:
            views = list_domains(ctx, tenant=TENANT)
            count_domains(ctx, tenant=TENANT)
        return json_bytes(views)

    event.listen(desk.store.engine, "before_cursor_execute", count)
    try:
        listing()
    finally:
        event.remove(desk.store.engine, "before_cursor_execute", count)
    profiler = cProfile.Profile()
    profiler.enable()
    listing()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return statements, out.getvalue()


# --- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domains", type=int, default=10_000)
    parser.add_argument("--others", type=int, default=1_000, help="domains of another tenant")
    parser.add_argument("--certificates", type=int, default=500)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--seconds", type=int, default=10, help="per target (wrk)")
    parser.add_argument("--load", choices=("wrk", "httpx"), default="wrk")
    parser.add_argument("--requests", type=int, default=10, help="per client and target (httpx)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted, per client (httpx)")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp folder")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--goal-only",
        action="store_true",
        help="only the two targets of the goal (the listing's default page and the "
        "dashboard), without the in-process breakdown: a quick A/B run",
    )
    args = parser.parse_args()
    if args.load == "wrk" and shutil.which("wrk") is None:
        raise SystemExit(
            "wrk is not installed: `make bench` installs it (Debian package wrk), "
            "or run with --load httpx"
        )

    folder = Path(tempfile.mkdtemp(prefix="certdesk-bench-api-"))
    try:
        home = folder / "home"
        settings = Settings(
            home=home, database_url=args.database_url or f"sqlite:///{home / 'certdesk.db'}"
        )
        desk = open_desk(settings)
        started = time.perf_counter()
        token = populate(desk, args.domains, args.others, args.certificates)
        setup_s = time.perf_counter() - started
        tenant_id = next(t.id for t in desk.run(OPERATOR, _tenants) if t.name == TENANT)

        port = free_port()
        server = start_server(settings, port, folder / "server.log", args.workers)
        base = f"http://127.0.0.1:{port}"
        results: list[dict[str, Any]] = []
        try:
            bearer = {"Authorization": f"Bearer {token}"}
            listing = httpx.get(f"{base}/api/domains?limit=10000", headers=bearer, timeout=60)
            assert len(listing.json()) == args.domains, len(listing.json())
            assert listing.headers["x-total-count"] == str(args.domains)
            login = httpx.post(f"{base}/api/login", json={"username": USER, "password": PASSWORD})
            cookies = dict(login.cookies)
            page = httpx.get(f"{base}/", cookies=cookies, timeout=60)
            assert page.status_code == 200, page.status_code
            assert page.headers["content-type"].startswith("text/html")
            cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
            # (path, in the goal, headers, what it answers)
            targets = [
                ("/api/domains", True, bearer, "application/json"),
                ("/", True, {"Cookie": cookie}, "text/html"),
                # The default page of the first version of the API: 500, by tenant name.
                (
                    f"/api/domains?tenant={TENANT.replace(' ', '%20')}&limit=500",
                    False,
                    bearer,
                    "application/json",
                ),
                (f"/api/domains?limit={args.domains}", False, bearer, "application/json"),
            ]
            if args.goal_only:
                targets = [target for target in targets if target[1]]
            for path, in_goal, headers, expect in targets:
                if args.load == "wrk":  # warm-up: connections opened, caches filled
                    name, value = next(iter(headers.items()))
                    warm = ["wrk", "-t2", f"-c{args.clients}", "-d2s", "-H", f"{name}: {value}"]
                    subprocess.run(
                        [*warm, base + path],
                        check=True,
                        capture_output=True,
                    )
                before = server_cpu_seconds(server)
                if args.load == "wrk":
                    name, value = next(iter(headers.items()))
                    result = load_wrk(
                        folder,
                        base,
                        path,
                        clients=args.clients,
                        seconds=args.seconds,
                        header=f"{name}: {value}",
                    )
                else:
                    result = asyncio.run(
                        load(
                            base,
                            path,
                            clients=args.clients,
                            requests=args.requests,
                            warmup=args.warmup,
                            headers=headers,
                            expect=expect,
                        )
                    )
                spent = server_cpu_seconds(server) - before
                result["server_cpu_ms_per_request"] = spent * 1000 / max(1, result["requests"])
                result["in_goal"] = in_goal
                results.append(result)
        except Exception:
            print(f"server log (tail):\n{(folder / 'server.log').read_text()[-4000:]}")
            raise
        finally:
            server.terminate()
            server.wait(timeout=30)

        parts: dict[str, float] = {}
        statements, profile = 0, ""
        if not args.goal_only:
            parts = breakdown(desk, tenant_id)
            statements, profile = profile_listing(desk, tenant_id)
        if args.no_profile:
            profile = ""
        desk.store.close()
        goal = all(r["p99_ms"] < 300 and not r["failed"] for r in results if r["in_goal"])
        report = {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "database": "sqlite" if settings.is_sqlite else "postgresql",
            "load": args.load,
            "domains": args.domains,
            "other_domains": args.others,
            "setup_s": round(setup_s, 2),
            "results": results,
            "whole_tenant_listing_ms": parts,
            "whole_tenant_listing_sql_statements": statements,
            "goal_met": goal,
        }
        if args.json:
            print(json.dumps(report, indent=2))
            return
        print(
            f"certdesk API benchmark - {report['database']}, {args.domains:,} domains in one "
            f"tenant (+{args.others:,} in another), {args.clients} concurrent clients "
            f"({args.load}), {args.workers} server worker(s), "
            f"Python {report['python']}, {report['cpus']} CPUs; set-up {setup_s:.1f} s"
        )
        print()
        print(
            f"{'target':<44} {'n':>6} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
            f"{'max ms':>7} {'req/s':>7} {'CPU ms/req':>10} {'bytes':>10} {'failed':>6}"
        )
        for r in results:
            mark = "" if r["in_goal"] else "  (not in the goal)"
            print(
                f"{r['target'][-44:]:<44} {r['requests']:>6} {r['p50_ms']:>7.0f} "
                f"{r['p90_ms']:>7.0f} {r['p99_ms']:>7.0f} {r['max_ms']:>7.0f} "
                f"{r['req_per_s']:>7.1f} {r['server_cpu_ms_per_request']:>10.1f} "
                f"{r['response_bytes']:>10,} {r['failed']:>6}{mark}"
            )
            for reason, count in r["failures"].items():
                print(f"    {count} x {reason}")
        if parts:
            print()
            print(f"the whole tenant ({args.domains:,} domains) in this process (median of 5), ms:")
            for key, value in parts.items():
                print(f"  {key:<26} {value:8.1f}")
            print(f"SQL statements for one listing (list + count): {statements:,}")
        print()
        print(
            "goal p99 < 300 ms (the default page of the listing, the dashboard): "
            f"{'met' if goal else 'NOT met'}"
        )
        if profile:
            print()
            print("cProfile of the whole tenant's listing as the route runs it (own time):")
            print(profile)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _tenants(ctx: Any) -> Any:
    return list_tenants(ctx)


if __name__ == "__main__":
    main()
