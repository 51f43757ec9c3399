"""Let's Encrypt's test CA, ``pebble``, and its DNS server ``pebble-challtestsrv``, started
on loopback by the tests (Debian's ``pebble`` package holds both).

Pebble listens with a certificate the ``openssl`` command line makes here; certdesk trusts
it through ``CERTDESK_ACME_CA_BUNDLE`` (the ``acme_ca_bundle`` setting). Pebble resolves
every name with challtestsrv (``-dnsserver``), which answers 127.0.0.1 for any name unless
a test sets another record, and validates HTTP-01 on ``http_port``: the port where
certdesk's ``/.well-known/acme-challenge/`` answers are reached. Pebble's random nonce
refusals (5% of requests) and validation delays stay on unless a test turns them off,
so that certdesk's retries are real.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.servers import free_port, stop
from tests.openssl_pki import run_openssl

PEBBLE = Path("/usr/bin/pebble")
CHALLTESTSRV = Path("/usr/bin/pebble-challtestsrv")


def require_pebble() -> None:
    for binary in (PEBBLE, CHALLTESTSRV):
        if not binary.exists():
            pytest.fail(
                f"{binary} is missing: the ACME tests need Let's Encrypt's test CA. Install it "
                "with `apt-get install pebble` (listed in scripts/debian-packages.txt)",
                pytrace=False,
            )


@dataclass
class Pebble:
    folder: Path
    port: int
    management_port: int
    dns_port: int
    dns_management_port: int
    http_port: int
    ca_bundle: Path  # the certificate of pebble's own HTTPS listener
    procs: list[subprocess.Popen[bytes]]

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    @property
    def dns_server(self) -> str:
        return f"127.0.0.1:{self.dns_port}"

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_bundle))

    def root_pem(self) -> bytes:
        """Pebble's issuing root of this run (made anew at each start)."""
        url = f"https://127.0.0.1:{self.management_port}/roots/0"
        with urllib.request.urlopen(url, context=self._context(), timeout=10) as answer:
            return bytes(answer.read())

    def cert_status(self, serial_hex: str) -> dict[str, object]:
        url = f"https://127.0.0.1:{self.management_port}/cert-status-by-serial/{serial_hex}"
        with urllib.request.urlopen(url, context=self._context(), timeout=10) as answer:
            return dict(json.loads(answer.read()))

    def dns(self, path: str, **body: object) -> None:
        """A call to challtestsrv's management API (``add-a``, ``set-cname``, ``clear-a``…)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.dns_management_port}/{path}",
            data=json.dumps(body).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            assert answer.status == 200

    def stop(self) -> None:
        for proc in self.procs:
            stop(proc)


class _Exited(Exception):
    """A server exited while starting (most often: a free port was taken meanwhile)."""


def _wait(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise _Exited(f"{proc.args} exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    pytest.fail(f"nothing listens on 127.0.0.1:{port} after {timeout}s:\n{log.read_text()}")


def _listener_certificate(folder: Path) -> tuple[Path, Path]:
    crt, key = folder / "listener.crt", folder / "listener.key"
    run_openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key,
        "-out",
        crt,
        "-days",
        "2",
        "-subj",
        "/CN=pebble test listener",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
    )
    return crt, key


ATTEMPTS = 3  # starts on fresh ports when a server exits while starting


@contextlib.contextmanager
def run_pebble(
    folder: Path, http_port: int, *, nosleep: bool = False, **env: str
) -> Iterator[Pebble]:
    """Pebble and challtestsrv on free loopback ports; pebble validates HTTP-01 on
    ``http_port``. ``env`` adds pebble's ``PEBBLE_*`` variables."""
    require_pebble()
    folder.mkdir(parents=True, exist_ok=True)
    crt, _key = _listener_certificate(folder)
    why = ""
    for _ in range(ATTEMPTS):
        server = Pebble(
            folder=folder,
            port=free_port(),
            management_port=free_port(),
            dns_port=free_port(),
            dns_management_port=free_port(),
            http_port=http_port,
            ca_bundle=crt,
            procs=[],
        )
        try:
            _start(server, nosleep=nosleep, env=env)
        except _Exited as exc:
            server.stop()
            why = str(exc)
            continue
        try:
            yield server
        finally:
            server.stop()
        return
    pytest.fail(f"pebble did not start in {ATTEMPTS} attempts:\n{why}")


def _start(server: Pebble, *, nosleep: bool, env: dict[str, str]) -> None:
    folder = server.folder
    config = folder / "pebble.json"
    config.write_text(
        json.dumps(
            {
                "pebble": {
                    "listenAddress": f"127.0.0.1:{server.port}",
                    "managementListenAddress": f"127.0.0.1:{server.management_port}",
                    "certificate": str(server.ca_bundle),
                    "privateKey": str(folder / "listener.key"),
                    "httpPort": server.http_port,
                    "tlsPort": free_port(),
                    "ocspResponderURL": "",
                    "externalAccountBindingRequired": False,
                }
            }
        )
    )
    dns_log, pebble_log = folder / "challtestsrv.log", folder / "pebble.log"
    with dns_log.open("ab") as out:
        dns = subprocess.Popen(
            [
                str(CHALLTESTSRV),
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
                "-dns01",
                f"127.0.0.1:{server.dns_port}",
                "-management",
                f"127.0.0.1:{server.dns_management_port}",
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server.procs.append(dns)
    _wait(server.dns_management_port, dns, dns_log)
    variables = {
        **os.environ,
        # Validation delays on, but short: up to 2 s rather than pebble's 15.
        "PEBBLE_VA_SLEEPTIME": "2",
        **({"PEBBLE_VA_NOSLEEP": "1"} if nosleep else {}),
        **env,
    }
    with pebble_log.open("ab") as out:
        pebble = subprocess.Popen(
            [str(PEBBLE), "-config", str(config), "-dnsserver", server.dns_server],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=variables,
            cwd=folder,
        )
    server.procs.append(pebble)
    _wait(server.port, pebble, pebble_log)
    _wait(server.management_port, pebble, pebble_log)
