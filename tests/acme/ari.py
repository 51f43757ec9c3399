"""A small HTTPS proxy in front of pebble that speaks ACME Renewal Information (RFC 9773).

Debian's pebble (2.4) has no ``renewalInfo`` in its directory (pebble learnt ARI in a
later version), so the tests put this in front of it: the proxy answers the directory
with pebble's own plus ``renewalInfo`` pointing at itself, and answers
``GET /renewal-info/<certID>`` with the window a test sets (and its ``Retry-After``), or
with the failure a test asks for. Every other request is forwarded to pebble unchanged.
The URLs of pebble's directory (new account, new order…) stay pebble's own: an ACME
request is signed for the URL it is sent to, and pebble checks that URL, so the client
talks to pebble directly for everything but the directory and the renewal information.

The proxy listens with pebble's listener certificate (made by ``openssl`` for 127.0.0.1),
so the ``acme_ca_bundle`` that trusts pebble trusts it too.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509

from tests.acme.pebble import Pebble


def cert_id(leaf: x509.Certificate) -> str:
    """RFC 9773's certificate identifier: base64url(AKI keyIdentifier) "." base64url(serial
    as a DER INTEGER's content), without padding."""
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier is not None
    serial = leaf.serial_number
    content = serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=True)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    return f"{b64(aki.key_identifier)}.{b64(content)}"


@dataclass
class AriProxy:
    """What the proxy answers; the test changes it between steps."""

    pebble: Pebble
    port: int = 0
    offer: bool = True  # renewalInfo in the directory
    window: tuple[datetime, datetime] | None = None
    retry_after: str | None = None  # the Retry-After header of the answer, if any
    failure: int | None = None  # answer renewal-info requests with this HTTP status
    asked: list[str] = field(default_factory=list)  # the certIDs asked for, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    def set_window(self, start: datetime, end: datetime, retry_after: int | None = None) -> None:
        with self.lock:
            self.window = (start, end)
            self.failure = None
            self.retry_after = None if retry_after is None else str(retry_after)

    def fail(self, status: int, retry_after: int | None = None) -> None:
        with self.lock:
            self.failure = status
            self.retry_after = None if retry_after is None else str(retry_after)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self, method: str) -> tuple[int, bytes, dict[str, str]]:
        pebble = self.server.proxy.pebble
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else None
        request = urllib.request.Request(
            f"https://127.0.0.1:{pebble.port}{self.path}", data=data, method=method
        )
        for name in ("Content-Type", "Accept"):
            if self.headers.get(name):
                request.add_header(name, self.headers[name])
        context = ssl.create_default_context(cafile=str(pebble.ca_bundle))
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as answer:  # noqa: S310
                return answer.status, answer.read(), dict(answer.headers.items())
        except urllib.error.HTTPError as error:
            return error.code, error.read(), dict(error.headers.items())

    def _passed(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        kept = {
            k: v
            for k, v in headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "connection")
        }
        self._send(status, body, kept)

    def do_GET(self) -> None:
        proxy = self.server.proxy
        if self.path == "/dir":
            status, body, headers = self._forward("GET")
            directory = json.loads(body)
            if proxy.offer:
                directory["renewalInfo"] = f"https://127.0.0.1:{proxy.port}/renewal-info"
            self._passed(status, json.dumps(directory).encode(), headers)
            return
        if self.path.startswith("/renewal-info/"):
            with proxy.lock:
                proxy.asked.append(self.path.removeprefix("/renewal-info/"))
                failure, window, retry_after = proxy.failure, proxy.window, proxy.retry_after
            headers = {"Retry-After": retry_after} if retry_after else {}
            if failure is not None or window is None:
                problem = {
                    "type": "urn:ietf:params:acme:error:serverInternal",
                    "detail": "renewal information is unavailable",
                }
                self._send(
                    failure or 404,
                    json.dumps(problem).encode(),
                    {"Content-Type": "application/problem+json", **headers},
                )
                return
            start, end = window
            answer = {"suggestedWindow": {"start": _iso(start), "end": _iso(end)}}
            self._send(
                200, json.dumps(answer).encode(), {"Content-Type": "application/json", **headers}
            )
            return
        self._passed(*self._forward("GET"))

    def do_HEAD(self) -> None:
        status, _body, headers = self._forward("HEAD")
        self._passed(status, b"", headers)

    def do_POST(self) -> None:
        self._passed(*self._forward("POST"))


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    proxy: AriProxy


@contextlib.contextmanager
def ari_proxy(pebble: Pebble) -> Iterator[AriProxy]:
    """The proxy on a free loopback port, in front of ``pebble``."""
    server = _Server(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pebble.ca_bundle), str(pebble.folder / "listener.key"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    proxy = AriProxy(pebble, port=server.server_address[1])
    server.proxy = proxy
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
