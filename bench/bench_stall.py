"""Benchmark: does one tenant's flood of costly uploads stall the others?

Set-up, on a fresh SQLite data folder: ``--hostile-tenants`` tenants (10) that each send
``--per-tenant`` (2) uploads at a time, and one calm tenant with ``--domains`` (1,000)
domains; a reseller with an API token for each. The hostile file is legal and costly:
a ``.pfx`` made by ``openssl pkcs12 -export -iter 2000000 -maciter`` (2,000,000 rounds
of key derivation and MAC; ~0.5 s of CPU to open on a fast core), for a certificate of
a CA the server trusts.

Then a real server, ``certdesk serve --no-scheduler --workers 2`` (default reader
settings), and for ``--seconds`` (20) at once:

- the hostile uploads: ``hostile-tenants × per-tenant`` (20) clients, each sending the
  file again as soon as it is answered;
- the calm tenant's ``GET /api/domains`` (the default page of 100), one client at a time
  after another, and ``GET /healthz`` the same.

Printed: p50/p90/p99/max latency of the calm tenant's listing and of ``/healthz``, with
no hostile load first (the baseline) and then under it, and how the hostile uploads were
answered. Goal (issue 11): under the flood, the listing's p99 < 500 ms and ``/healthz``'s
< 100 ms. Not a test: it prints figures and exits 0.

    .venv/bin/python bench/bench_stall.py [--seconds 20] [--hostile-tenants 10]
        [--per-tenant 2] [--iterations 2000000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from certdesk.application.compose import open_desk
from certdesk.desk import Actor, Desk, add_tenant
from certdesk.desk import accounts as acc
from certdesk.settings import Settings
from certdesk.store.models import Domain

ACTOR = Actor(name="bench")
PASSWORD = "pfx-password"
CALM = "Calm Web"


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_hostile_pfx(folder: Path, iterations: int) -> Path:
    """A root CA, a leaf for store.bench-hostile.com signed by it, and the .pfx."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", folder / "ca.key", "-out", folder / "ca.pem", "-days", "30",
            "-subj", "/CN=certdesk bench CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", folder / "leaf.key", "-out", folder / "leaf.csr",
            "-subj", "/CN=store.bench-hostile.com")  # fmt: skip
    (folder / "leaf.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:store.bench-hostile.com\n"
    )
    openssl("x509", "-req", "-in", folder / "leaf.csr", "-CA", folder / "ca.pem",
            "-CAkey", folder / "ca.key", "-CAcreateserial", "-days", "20",
            "-extfile", folder / "leaf.ext", "-out", folder / "leaf.pem")  # fmt: skip
    out = folder / "hostile.pfx"
    openssl("pkcs12", "-export", "-in", folder / "leaf.pem", "-inkey", folder / "leaf.key",
            "-iter", str(iterations), "-maciter", "-passout", f"pass:{PASSWORD}",
            "-out", out)  # fmt: skip
    return out


def populate(desk: Desk, hostile: int, domains: int) -> dict[str, str]:
    """The tenants, a reseller and API token for each; the calm tenant's domains."""
    tokens: dict[str, str] = {}
    names = [CALM] + [f"Hostile {i}" for i in range(hostile)]
    for n, name in enumerate(names):
        tenant = desk.run(ACTOR, add_tenant, name=name)
        user = desk.run(
            ACTOR,
            acc.create_user,
            username=f"reseller{n}",
            password="bench reseller password",  # noqa: S106
            role="reseller",
            tenant=name,
        )
        token = desk.run(ACTOR, acc.create_token, user_id=user.id, name="bench").token
        assert token is not None
        tokens[name] = token
        if name == CALM:
            now = datetime.now(UTC) - timedelta(days=1)
            with desk.store.transaction() as session:
                session.execute(
                    insert(Domain),
                    [
                        {
                            "tenant_id": tenant.id,
                            "url": f"https://shop{i:05d}.calm-web.com",
                            "hostname": f"shop{i:05d}.calm-web.com",
                            "port": 443,
                            "portal": "storefront",
                            "monitored": True,
                            "created_at": now,
                        }
                        for i in range(domains)
                    ],
                )
    return tokens


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    settings: Settings, ca: Path, port: int, log: Path, iterations: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CERTDESK_HOME": str(settings.home),
        "CERTDESK_DATABASE_URL": settings.database_url,
        "CERTDESK_CA_BUNDLE": str(ca),
        # The hostile files are legal but costly: the ceiling on iterations (which would
        # refuse them at once) is raised so that the reader processes are what is measured.
        "CERTDESK_MAX_PKCS12_ITERATIONS": str(max(iterations, 1_000_000)),
    }
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "certdesk", "serve", "--no-scheduler",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not start within 90 s")


def summary(times: list[float]) -> dict[str, float]:
    if not times:
        return {"count": 0}
    ordered = sorted(times)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    return {
        "count": len(ordered),
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": ordered[-1] * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
    }


async def measure(
    base: str, tokens: dict[str, str], pfx: bytes, seconds: float, per_tenant: int, hostile: bool
) -> dict[str, Any]:
    stop = time.monotonic() + seconds
    listing: list[float] = []
    health: list[float] = []
    outcomes: Counter[str] = Counter()
    upload_times: list[float] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as http:

        async def calm() -> None:
            headers = {"Authorization": f"Bearer {tokens[CALM]}"}
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                answer = await http.get("/api/domains", headers=headers)
                listing.append(time.perf_counter() - t0)
                assert answer.status_code == 200, answer.text

        async def healthz() -> None:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                answer = await http.get("/healthz")
                health.append(time.perf_counter() - t0)
                assert answer.status_code == 200, answer.text
                await asyncio.sleep(0.05)

        async def attacker(tenant: str, n: int) -> None:
            headers = {"Authorization": f"Bearer {tokens[tenant]}"}
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                try:
                    answer = await http.post(
                        "/api/submissions",
                        headers=headers,
                        data={
                            "common_name": "store.bench-hostile.com",
                            "tenant": tenant,
                            "urls": [f"https://store.bench-hostile.com:{10000 + n}"],
                            "password": PASSWORD,
                        },
                        files={"file": ("hostile.pfx", pfx, "application/x-pkcs12")},
                    )
                except httpx.TransportError as exc:
                    outcomes[f"dropped ({type(exc).__name__})"] += 1
                    continue
                upload_times.append(time.perf_counter() - t0)
                code = answer.json().get("error", {}).get("code") if answer.is_error else None
                outcomes[f"{answer.status_code} {code or 'stored'}"] += 1

        tasks = [calm(), healthz()]
        if hostile:
            hostiles = [t for t in tokens if t != CALM]
            tasks += [
                attacker(t, i * per_tenant + k)
                for i, t in enumerate(hostiles)
                for k in range(per_tenant)
            ]
        await asyncio.gather(*tasks)
    return {
        "listing": summary(listing),
        "healthz": summary(health),
        "uploads": dict(outcomes),
        "upload_latency": summary(upload_times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--hostile-tenants", type=int, default=10)
    parser.add_argument("--per-tenant", type=int, default=2, help="uploads at once per tenant")
    parser.add_argument("--iterations", type=int, default=2_000_000)
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="certdesk-bench-stall-") as tmp:
        folder = Path(tmp)
        progress(f"making the hostile .pfx ({args.iterations:,} rounds) with openssl ...")
        pfx = make_hostile_pfx(folder, args.iterations)
        settings = Settings(
            home=folder / "home", database_url=f"sqlite:///{folder / 'certdesk.db'}"
        )
        desk = open_desk(settings)
        progress("making the tenants, resellers and tokens ...")
        tokens = populate(desk, args.hostile_tenants, args.domains)
        desk.store.close()
        port = free_port()
        log = folder / "server.log"
        server = start_server(settings, folder / "ca.pem", port, log, args.iterations)
        base = f"http://127.0.0.1:{port}"
        try:
            progress(f"baseline: the calm tenant alone for {args.seconds:g} s ...")
            baseline = asyncio.run(
                measure(base, tokens, pfx.read_bytes(), args.seconds, args.per_tenant, False)
            )
            hostile = args.hostile_tenants * args.per_tenant
            progress(f"under {hostile} hostile uploads at once for {args.seconds:g} s ...")
            flood = asyncio.run(
                measure(base, tokens, pfx.read_bytes(), args.seconds, args.per_tenant, True)
            )
        finally:
            server.terminate()
            server.wait(timeout=60)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        "hostile_uploads_at_once": args.hostile_tenants * args.per_tenant,
        "iterations": args.iterations,
        "baseline": baseline,
        "flood": flood,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"\nbench_stall: serve --workers 2, {result['hostile_uploads_at_once']} hostile uploads "
        f"at once ({args.iterations:,}-round .pfx), {args.seconds:g} s each phase; "
        f"{result['machine']}"
    )
    print(f"{'':34} {'count':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for phase, figures in (("alone", baseline), ("under the flood", flood)):
        for name, key, goal in (
            ("GET /api/domains (calm)", "listing", 500),
            ("GET /healthz", "healthz", 100),
        ):
            s = figures[key]
            mark = "" if phase == "alone" else ("  goal met" if s["p99_ms"] < goal else "  MISSED")
            print(
                f"{name + ', ' + phase:<34} {s['count']:>6} {s['p50_ms']:>8.1f} "
                f"{s['p90_ms']:>8.1f} {s['p99_ms']:>8.1f} {s['max_ms']:>8.1f}"
                f"  (goal p99 < {goal} ms){mark}"
            )
    uploads = flood["upload_latency"]
    print(
        f"hostile uploads answered: {uploads.get('count', 0)} "
        f"(p50 {uploads.get('p50_ms', 0):.0f} ms, max {uploads.get('max_ms', 0):.0f} ms): "
        + ", ".join(f"{k}: {v}" for k, v in sorted(flood["uploads"].items()))
    )


if __name__ == "__main__":
    main()
