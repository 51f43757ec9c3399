"""Benchmark: issuing certificates from pebble, certdesk against certbot, lego and Caddy.

certdesk: ``--count`` platform-managed domains on a fresh data folder (SQLite), each
taken one step by ``run_acme_unit`` (DNS check, order with a CSR order of the desk, HTTP-01
answered by certdesk's app from the database, finalise, ``complete_order`` with every
check, the key sealed in the vault), ``--workers`` at a time, as the engine would.

certbot: ``certbot certonly --webroot`` run once per domain against the same pebble, as
hosting panels run it (a new process for each certificate, its own account registered
once beforehand), the webroot served on the port pebble validates on.

lego (Debian's ``lego``, 4.9: ``apt-get install lego``): ``lego run --http
--http.webroot`` once per domain, the same way (its account registered by a first run not
counted), trusting pebble through ``LEGO_CA_CERTIFICATES``. Skipped with a line saying so
when it is not installed.

Caddy (Debian's ``caddy``, 2.6: ``apt-get install caddy``): one ``caddy run`` with a site
block per domain, issuing them all by itself at start (its own HTTP-01 answers on the
port pebble validates on, TLS-ALPN off, pebble trusted with ``trusted_roots``), timed
until every certificate is in its storage. Skipped with a line when it is not installed.

All against a pebble with ``PEBBLE_VA_NOSLEEP=1`` (no validation delay), resolving
every name to 127.0.0.1 with ``pebble-challtestsrv``; each tool gets its own pebble.
Figures: certificates per minute (wall clock) and CPU seconds per certificate (this
process and its children: for certbot, lego and Caddy their processes; pebble's own CPU
is not counted for any).

    .venv/bin/python bench/bench_acme.py [--count 200] [--certbot-count 200]
        [--lego-count 200] [--caddy-count 200] [--workers 8]

A count of 0 leaves that tool out. Not a test: it prints figures and exits 0.
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
from collections.abc import Iterator
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


@contextlib.contextmanager
def _webroot_served(webroot: Path) -> Iterator[int]:
    """``webroot`` served over HTTP on a free loopback port (the port pebble validates
    on), as a web server serves a panel's webroot; yields the port."""
    webroot.mkdir(parents=True)
    port = free_port()
    handler = functools.partial(_Quiet, directory=str(webroot))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield port
    finally:
        httpd.shutdown()


def bench_certbot(folder: Path, count: int) -> tuple[float, float, int]:
    certbot = shutil.which("certbot")
    if certbot is None:
        raise _Missing("certbot is not installed (apt-get install certbot): skipped")
    webroot = folder / "webroot"
    with (
        _webroot_served(webroot) as port,
        run_pebble(folder / "pebble", port, nosleep=True) as pebble,
    ):
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
    return wall, used, issued


def bench_lego(folder: Path, count: int) -> tuple[float, float, int]:
    lego = shutil.which("lego")
    if lego is None:
        raise _Missing("lego is not installed (apt-get install lego): skipped")
    webroot = folder / "webroot"
    with (
        _webroot_served(webroot) as port,
        run_pebble(folder / "pebble", port, nosleep=True) as pebble,
    ):
        env = {**os.environ, "LEGO_CA_CERTIFICATES": str(pebble.ca_bundle)}

        def run(name: str) -> bool:
            done = subprocess.run(
                [
                    lego,
                    "--server",
                    pebble.directory,
                    "--accept-tos",
                    "--email",
                    "ops@bench.test",
                    "--path",
                    str(folder / "lego"),
                    "--key-type",
                    "ec256",
                    "--http",
                    "--http.webroot",
                    str(webroot),
                    "--domains",
                    name,
                    "run",
                ],
                env=env,
                capture_output=True,
                check=False,
            )
            return done.returncode == 0

        if not run("account.bench.test"):  # registers the account; not counted
            raise _Missing("lego could not get a first certificate from pebble: skipped")
        cpu, start = _cpu(), time.perf_counter()
        issued = sum(run(f"site{i}.bench.test") for i in range(count))
        wall, used = time.perf_counter() - start, _cpu() - cpu
    return wall, used, issued


CADDYFILE = """{{
\tadmin off
\thttp_port {http_port}
\thttps_port {https_port}
\tstorage file_system {storage}
\tocsp_stapling off
\tcert_issuer acme {directory} {{
\t\temail ops@bench.test
\t\ttrusted_roots {roots}
\t\tdisable_tlsalpn_challenge
\t}}
}}
"""


def bench_caddy(folder: Path, count: int) -> tuple[float, float, int]:
    caddy = shutil.which("caddy")
    if caddy is None:
        raise _Missing("caddy is not installed (apt-get install caddy): skipped")
    port = free_port()
    with run_pebble(folder / "pebble", port, nosleep=True) as pebble:
        storage = folder / "storage"
        config = folder / "Caddyfile"
        names = [f"site{i}.bench.test" for i in range(count)]
        config.write_text(
            CADDYFILE.format(
                http_port=port,
                https_port=free_port(),
                storage=storage,
                directory=pebble.directory,
                roots=pebble.ca_bundle,
            )
            + "".join(f"{name} {{\n\trespond ok\n}}\n" for name in names)
        )
        env = {**os.environ, "HOME": str(folder), "XDG_DATA_HOME": str(folder / "data")}
        log = (folder / "caddy.log").open("wb")
        cpu, start = _cpu(), time.perf_counter()
        proc = subprocess.Popen(
            [caddy, "run", "--config", str(config), "--adapter", "caddyfile"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = start + 60 + count * 5
        issued = 0
        try:
            while time.perf_counter() < deadline and proc.poll() is None:
                issued = len(list(storage.glob("certificates/*/*/*.crt")))
                if issued >= count:
                    break
                time.sleep(0.05)
            wall = time.perf_counter() - start
        finally:
            proc.terminate()
            proc.wait(30)
            log.close()
        if issued == 0:
            tail = (folder / "caddy.log").read_text(errors="replace").strip().splitlines()[-1:]
            raise _Missing(f"caddy issued nothing: {' '.join(tail)}")
        used = _cpu() - cpu
    return wall, used, issued


class _Missing(Exception):
    """A tool to compare with is absent or does not run here: its line says so."""


def _figures(name: str, issued: int, asked: int, wall: float, cpu: float) -> float:
    print(f"{name}: {issued}/{asked} issued in {wall:.1f} s")
    rate = issued / wall * 60
    print(f"  {rate:.0f} certificates/minute, {cpu / max(issued, 1):.3f} s CPU each")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--certbot-count", type=int, default=200)
    parser.add_argument("--lego-count", type=int, default=200)
    parser.add_argument("--caddy-count", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-acme-") as tmp:
        folder = Path(tmp)
        wall, cpu, issued = bench_certdesk(folder / "certdesk", args.count, args.workers)
        name = f"certdesk ({args.workers} at a time)"
        rate = _figures(name, issued, args.count - 1, wall, cpu)
        others = [
            ("certbot certonly --webroot", bench_certbot, args.certbot_count),
            ("lego run --http.webroot", bench_lego, args.lego_count),
            ("caddy (one process, every site)", bench_caddy, args.caddy_count),
        ]
        for label, bench, count in others:
            if count < 1:
                continue
            try:
                owall, ocpu, oissued = bench(folder / label.split()[0], count)
            except _Missing as exc:
                print(f"{label}: {exc}")
                continue
            orate = _figures(label, oissued, count, owall, ocpu)
            if orate:
                print(f"  certdesk / {label.split()[0]}: {rate / orate:.1f}x the rate")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
