"""Real TLS servers on 127.0.0.1 for the prober's tests, serving the openssl-made PKI.

``TLSServer`` is Python's ``ssl`` (the system OpenSSL, not the one certdesk probes
with) in a thread: it picks the certificate by the SNI name the client sent, can
abort the handshake with an alert for chosen names, and closes each connection
after the handshake.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.openssl_pki import OpenSSLPKI

ALERT_NAME = "alert.test.com"


def server_context(cert: Path, key: Path, *chain: Path, folder: Path) -> ssl.SSLContext:
    """A server context serving ``cert`` followed by ``chain`` (PEM files)."""
    bundle = folder / f"{cert.stem}-{'-'.join(c.stem for c in chain) or 'alone'}.pem"
    bundle.write_bytes(b"".join(p.read_bytes() for p in (cert, *chain)))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(bundle, key)
    return ctx


@dataclass
class TLSServer:
    """A TLS server on 127.0.0.1 choosing its certificate by SNI."""

    default: ssl.SSLContext
    by_name: dict[str, ssl.SSLContext] = field(default_factory=dict)
    alert_names: frozenset[str] = frozenset()
    port: int = 0
    handshakes: int = 0
    server_names: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.default.sni_callback = self._pick
        for ctx in self.by_name.values():
            ctx.sni_callback = self._pick
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=512)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _pick(self, sslobj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> int | None:
        with self._lock:
            self.server_names.append(name)
        if name in self.alert_names:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        if name is not None and name in self.by_name:
            sslobj.context = self.by_name[name]
        return None

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        with (
            contextlib.suppress(Exception),
            conn,
            self.default.wrap_socket(conn, server_side=True) as tls,
        ):
            with self._lock:
                self.handshakes += 1
            tls.recv(1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()
        for worker in self._threads:
            worker.join(5)


@pytest.fixture(scope="module")
def server(pki: OpenSSLPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServer]:
    """One server, many names:

    - store.test.com (and any unknown name): leaf + intermediate
    - shop.test.com: the wildcard *.test.com + intermediate
    - www.test.com: the leaf alone (an incomplete chain)
    - expired.test.com, selfsigned.test.com: those certificates
    - alert.test.com: the handshake is aborted with ``unrecognized_name``
    """
    folder = tmp_path_factory.mktemp("servers")
    ctx = server_context
    srv = TLSServer(
        default=ctx(pki.leaf_crt, pki.leaf_key, pki.int_crt, folder=folder),
        by_name={
            "shop.test.com": ctx(pki.wildcard_crt, pki.wildcard_key, pki.int_crt, folder=folder),
            "www.test.com": ctx(pki.leaf_crt, pki.leaf_key, folder=folder),
            "expired.test.com": ctx(pki.expired_crt, pki.expired_key, pki.int_crt, folder=folder),
            "selfsigned.test.com": ctx(pki.selfsigned_crt, pki.selfsigned_key, folder=folder),
        },
        alert_names=frozenset({ALERT_NAME}),
    )
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel does) but never answers TLS."""
    sock = socket.create_server(("127.0.0.1", 0), backlog=128)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture(scope="module")
def closed_port() -> int:
    """A port nothing listens on: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
