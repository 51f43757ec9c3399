"""Benchmark: issuing certificates from pebble, certdesk against certbot.

certdesk: ``--count`` platform-managed domains on a fresh data folder (SQLite), each
taken one step by ``run_acme_unit`` (DNS check, order with a CSR order of the desk, HTTP-01
answered by certdesk's app from the database, finalise, ``complete_order`` with every
check, the key sealed in the vault), ``--workers`` at a time, as the engine would.

certbot: ``certbot certonly --webroot`` run once per domain against the same pebble, as
hosting panels run it (a new process for each certificate, its own account registered
once beforehand), the webroot served on the port pebble validates on.

Both against one pebble with ``PEBBLE_VA_NOSLEEP=1`` (no validation delay), resolving
every name to 127.0.0.1 with ``pebble-challtestsrv``. Figures: certificates per minute
(wall clock) and CPU seconds per certificate (this process and its children: for
certbot its processes; pebble's own CPU is not counted for either).

    .venv/bin/python bench/bench_acme.py [--count 200] [--certbot-count 200] [--workers 8]

Not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.acme.conftest import bed_settings, serving
from tests.acme.pebble import run_pebble
from tests.deploy.servers import free_port

from certdesk import desk as d
from certdesk.application.compose import managed_config, open_desk
from certdesk.application.managed import run_acme_unit
from certdesk.desk import Actor

OPERATOR = Actor(name="bench")
TENANT = "Bench Hosting"


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bench_certdesk(folder: Path, count: int, workers: int) -> tuple[float, float, int]:
    port = free_port()
    with run_pebble(folder / "pebble", port, nosleep=True) as pebble:
        settings = bed_settings(folder, pebble, f"sqlite:///{folder / 'certdesk.db'}")
        desk = open_desk(settings)
        try:
            desk.run(OPERATOR, d.add_tenant, name=TENANT, emails=["ops@bench.test"])
            urls = [f"https://site{i}.bench.test" for i in range(count)]
            for url in urls:
                desk.run(OPERATOR, d.add_domain, url=url, tenant=TENANT, managed="acme")
            with serving(desk, settings, port):
                # The account is registered by the first order; not part of the figure.
                run_acme_unit(desk, urls[0], desk.now(), config=managed_config(settings))
                rest = urls[1:]
                cpu, start = _cpu(), time.perf_counter()
                with ThreadPoolExecutor(workers) as pool:
                    states = list(
                        pool.map(
                            lambda u: (
                                run_acme_unit(
                                    desk, u, desk.now(), config=managed_config(settings)
                                ).state
                            ),
                            rest,
                        )
                    )
                wall, used = time.perf_counter() - start, _cpu() - cpu
        finally:
            desk.store.close()
    return wall, used, states.count("issued")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def bench_certbot(folder: Path, count: int) -> tuple[float, float, int]:
    certbot = shutil.which("certbot")
    if certbot is None:
        raise SystemExit("certbot is missing: apt-get install certbot")
    port = free_port()
    webroot = folder / "webroot"
    webroot.mkdir(parents=True)
    handler = functools.partial(_Quiet, directory=str(webroot))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with run_pebble(folder / "pebble", port, nosleep=True) as pebble:
            env = {**os.environ, "REQUESTS_CA_BUNDLE": str(pebble.ca_bundle)}
            dirs = [
                "--config-dir",
                str(folder / "etc"),
                "--work-dir",
                str(folder / "work"),
                "--logs-dir",
                str(folder / "logs"),
            ]
            common = [certbot, *dirs, "--server", pebble.directory, "--non-interactive"]
            subprocess.run(
                [*common, "register", "--agree-tos", "-m", "ops@bench.test"],
                env=env,
                check=True,
                capture_output=True,
            )
            cpu, start, issued = _cpu(), time.perf_counter(), 0
            for i in range(count):
                done = subprocess.run(
                    [
                        *common,
                        "certonly",
                        "--webroot",
                        "-w",
                        str(webroot),
                        "-d",
                        f"site{i}.bench.test",
                        "--key-type",
                        "ecdsa",
                    ],
                    env=env,
                    capture_output=True,
                    check=False,
                )
                issued += done.returncode == 0
            wall, used = time.perf_counter() - start, _cpu() - cpu
    finally:
        httpd.shutdown()
    return wall, used, issued


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--certbot-count", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-acme-") as tmp:
        folder = Path(tmp)
        wall, cpu, issued = bench_certdesk(folder / "certdesk", args.count, args.workers)
        n = args.count - 1
        print(f"certdesk: {issued}/{n} issued in {wall:.1f} s ({args.workers} at a time)")
        print(
            f"  {issued / wall * 60:.0f} certificates/minute, {cpu / max(issued, 1):.3f} s CPU each"
        )
        rate = issued / wall * 60
        if args.certbot_count < 1:
            return
        with contextlib.suppress(SystemExit):
            bwall, bcpu, bissued = bench_certbot(folder / "certbot", args.certbot_count)
            print(f"certbot certonly --webroot: {bissued}/{args.certbot_count} in {bwall:.1f} s")
            brate = bissued / bwall * 60
            print(f"  {brate:.0f} certificates/minute, {bcpu / max(bissued, 1):.3f} s CPU each")
            print(f"certdesk / certbot: {rate / brate:.1f}x the rate")


if __name__ == "__main__":
    main()
