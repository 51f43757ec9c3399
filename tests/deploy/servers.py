"""Real nginx and HAProxy from Debian, started on loopback with configurations in a
temporary folder, and a TLS client loop that counts handshakes.

Neither is skipped when absent: ``require`` fails the test with what to install.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

NGINX = Path("/usr/sbin/nginx")
HAPROXY = Path("/usr/sbin/haproxy")


def require(binary: Path, package: str) -> None:
    if not binary.exists():
        pytest.fail(
            f"{binary} is missing: these tests need the real {package}. "
            f"Install it with `apt-get install {package}` "
            "(it is listed in scripts/debian-packages.txt)",
            pytrace=False,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int,
    proc: subprocess.Popen[bytes],
    log: Path,
    timeout: float = 10,
    host: str = "127.0.0.1",
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
            return
        time.sleep(0.02)
    pytest.fail(f"nothing listens on {host} port {port} after {timeout}s:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class Nginx:
    """An nginx master on 127.0.0.1:``port``; its ``include_dir`` holds certdesk's blocks."""

    folder: Path
    port: int
    conf: Path
    include_dir: Path
    certs: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def options(self, **extra: object) -> dict[str, object]:
        return {
            "folder": str(self.certs),
            "include_dir": str(self.include_dir),
            "conf": str(self.conf),
            "nginx": str(NGINX),
            "listen": [f"127.0.0.1:{self.port} ssl"],
            "address": f"127.0.0.1:{self.port}",
            "server_extra": "return 200 'certdesk';",
            **extra,
        }


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log notice;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {folder}/tmp/body;
    proxy_temp_path {folder}/tmp/proxy;
    fastcgi_temp_path {folder}/tmp/fastcgi;
    uwsgi_temp_path {folder}/tmp/uwsgi;
    scgi_temp_path {folder}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} ssl default_server;
        ssl_certificate {default_crt};
        ssl_certificate_key {default_key};
        return 421;
    }}
    include {include_dir}/*.conf;
}}
"""


@contextlib.contextmanager
def run_nginx(folder: Path, default_crt: Path, default_key: Path) -> Iterator[Nginx]:
    require(NGINX, "nginx")
    (folder / "tmp").mkdir(parents=True)
    include_dir = folder / "sites"
    include_dir.mkdir()
    server = Nginx(
        folder=folder,
        port=free_port(),
        conf=folder / "nginx.conf",
        include_dir=include_dir,
        certs=folder / "certs",
    )
    server.conf.write_text(
        NGINX_CONF.format(
            folder=folder,
            port=server.port,
            default_crt=default_crt,
            default_key=default_key,
            include_dir=include_dir,
        )
    )
    try:
        start_nginx(server)
        yield server
    finally:
        if server.proc is not None:
            stop(server.proc)


def start_nginx(server: Nginx) -> None:
    """Start (or start again, after ``stop``) the nginx master of ``server``."""
    log = server.folder / "stderr.log"
    with log.open("ab") as out:
        server.proc = subprocess.Popen(
            [str(NGINX), "-c", str(server.conf)], stdout=out, stderr=subprocess.STDOUT
        )
    wait_for_port(server.port, server.proc, log)


@dataclass
class HAProxy:
    """An HAProxy master-worker on 127.0.0.1:``port`` with an admin runtime socket."""

    folder: Path
    port: int
    config: Path
    socket: Path
    pid_file: Path
    crt_list: Path
    certs: Path
    proc: subprocess.Popen[bytes] | None = None
    extra_configs: tuple[Path, ...] = ()  # more -f files, after config

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def options(self, **extra: object) -> dict[str, object]:
        return {
            "folder": str(self.certs),
            "socket": str(self.socket),
            "config": str(self.config),
            "crt_list": str(self.crt_list),
            "haproxy": str(HAPROXY),
            "pid_file": str(self.pid_file),
            "address": f"127.0.0.1:{self.port}",
            **extra,
        }

    def ask(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(5)
            conn.connect(str(self.socket))
            conn.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def worker_pid(self) -> int:
        """The pid of the worker answering on the runtime socket (``show info``)."""
        for line in self.ask("show info").splitlines():
            if line.startswith("Pid:"):
                return int(line.split(":", 1)[1])
        raise AssertionError("no Pid in show info")


HAPROXY_CONF = """\
global
    stats socket {socket} mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend tls
    bind 127.0.0.1:{port} ssl crt {default_pem} crt-list {crt_list}
    http-request return status 200 content-type text/plain string certdesk
"""


@contextlib.contextmanager
def run_haproxy(
    folder: Path, default_pem: bytes, extra_configs: Sequence[Path] = ()
) -> Iterator[HAProxy]:
    """HAProxy with ``haproxy.cfg`` and then each of ``extra_configs`` (``-f`` each; a
    missing one is created empty, as HAProxy wants every file it is given)."""
    require(HAPROXY, "haproxy")
    server = HAProxy(
        folder=folder,
        port=free_port(),
        config=folder / "haproxy.cfg",
        socket=folder / "admin.sock",
        pid_file=folder / "haproxy.pid",
        crt_list=folder / "certs" / "crt-list",
        certs=folder / "certs",
        extra_configs=tuple(extra_configs),
    )
    server.certs.mkdir(parents=True)
    server.crt_list.write_text("")
    for extra in server.extra_configs:
        if not extra.exists():
            extra.write_text("")
    default = folder / "default.pem"
    default.write_bytes(default_pem)
    default.chmod(0o600)
    server.config.write_text(
        HAPROXY_CONF.format(
            socket=server.socket,
            port=server.port,
            default_pem=default,
            crt_list=server.crt_list,
        )
    )
    try:
        start_haproxy(server)
        yield server
    finally:
        if server.proc is not None:
            stop(server.proc)


def start_haproxy(server: HAProxy) -> None:
    """Start (or start again, after ``stop``) the HAProxy master of ``server``; return
    once its runtime API answers."""
    log = server.folder / "stderr.log"
    for stale in (server.socket, server.pid_file):
        stale.unlink(missing_ok=True)
    configs = [a for path in (server.config, *server.extra_configs) for a in ("-f", str(path))]
    with log.open("ab") as out:
        server.proc = subprocess.Popen(
            [str(HAPROXY), "-W", *configs, "-p", str(server.pid_file)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_for_port(server.port, server.proc, log)
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(OSError):
            if server.pid_file.exists() and "Pid:" in server.ask("show info"):
                return
        if time.monotonic() > deadline:
            pytest.fail(f"HAProxy's runtime socket did not answer:\n{log.read_text()}")
        time.sleep(0.02)


def served_sha256(address: tuple[str, int], server_name: str, timeout: float = 5) -> str:
    """One handshake with Python's ssl (no verification): the served leaf's SHA-256."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(address, timeout) as raw,
        ctx.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


def settled_sha256(
    address: tuple[str, int],
    server_name: str,
    expected: str,
    timeout: float = 10,
    *,
    in_a_row: int = 10,
) -> str:
    """The served leaf's SHA-256 once it is ``expected`` ``in_a_row`` handshakes in a row,
    or the last one seen after ``timeout`` s: nginx switches workers asynchronously after
    a reload, and an old worker may still take a connection after a new one has."""
    deadline = time.monotonic() + timeout
    streak = 0
    while True:
        served = served_sha256(address, server_name)
        streak = streak + 1 if served == expected else 0
        if streak >= in_a_row or time.monotonic() > deadline:
            return served
        if streak == 0:
            time.sleep(0.05)


@dataclass
class ClientLoop:
    """Threads doing handshakes back to back, counting what each one saw.

    Bounded: each thread stops after ``max_each`` handshakes or ``max_seconds``.
    """

    address: tuple[str, int]
    server_name: str
    threads: int = 2
    max_each: int = 3000
    max_seconds: float = 20.0
    seen: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [
            threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)
        ]

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        for _ in range(self.max_each):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            try:
                fp = served_sha256(self.address, self.server_name)
            except (OSError, ssl.SSLError) as exc:
                with self._lock:
                    self.failures.append(repr(exc))
            else:
                with self._lock:
                    self.seen.append(fp)

    def count(self, fingerprint: str | None = None) -> int:
        with self._lock:
            return len(self.seen) if fingerprint is None else self.seen.count(fingerprint)

    def wait_for(self, fingerprint: str | None, at_least: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.count(fingerprint) < at_least:
            if time.monotonic() > deadline or not any(w.is_alive() for w in self._workers):
                raise AssertionError(
                    f"saw {self.count(fingerprint)} handshakes with {fingerprint}, "
                    f"wanted {at_least}; failures: {self.failures[:5]}"
                )
            time.sleep(0.01)

    def __enter__(self) -> ClientLoop:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(10)
