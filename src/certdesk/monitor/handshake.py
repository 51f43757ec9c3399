"""One TLS handshake on the event loop, through pyOpenSSL on a non-blocking socket.

Why pyOpenSSL and not ``ssl``: Python 3.11's ``ssl`` gives only the peer's leaf,
and the OpenSSL bundled with ``cryptography`` (which pyOpenSSL drives) costs less
CPU per handshake than the system OpenSSL behind ``ssl`` (see bench/bench_probe.py).
Why no thread: ``SSL_do_handshake`` on a non-blocking socket returns "want read" at
once, so the event loop waits for readiness with ``add_reader`` and one thread
drives hundreds of handshakes; there is no per-connection thread or GIL hand-off.

The peer is not verified here (``VERIFY_NONE``): what is served is read whatever it
is, and judged afterwards with :mod:`certdesk.pki`. Sessions are never resumed (a
resumed handshake carries no certificate): no session cache, no tickets. The socket
is aborted (RST) rather than closed cleanly: nothing is sent after the handshake,
and no TIME_WAIT is left behind by thousands of probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
from dataclasses import dataclass

from OpenSSL import SSL, crypto
from OpenSSL._util import lib

from certdesk.pki.probes import ErrorKind

_LINGER_ABORT = struct.pack("ii", 1, 0)
# OpenSSL's reasons for an alert received from the peer: "sslv3 alert handshake failure",
# "tlsv13 alert certificate required", "tlsv1 unrecognized name"…
_ALERT = re.compile(r"^(?:sslv3|tlsv1|tlsv13) (?:alert )?(?P<name>.+)$")


class HandshakeFailed(Exception):
    """A probe failed before a certificate was read (internal to the monitor)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class Handshake:
    """What the server sent: its chain as DER, leaf first; version and cipher."""

    chain: tuple[bytes, ...]
    tls_version: str | None
    cipher: str | None


def client_context() -> SSL.Context:
    """A client context that reads any certificate and never resumes a session."""
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_verify(SSL.VERIFY_NONE)
    ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    ctx.set_options(SSL.OP_NO_TICKET | SSL.OP_NO_COMPRESSION)
    # Read what weak servers serve too (1024-bit keys, SHA-1): judging it is pki's job.
    ctx.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
    _classic_groups(ctx)
    return ctx


def _classic_groups(ctx: SSL.Context) -> None:
    """Offer X25519 and P-256 key shares only.

    The OpenSSL in the cryptography wheel also offers a hybrid post-quantum share by
    default, ~0.1-0.2 ms of client CPU per handshake. A prober keeps no secret from the
    session (it reads the certificate and closes), so it has nothing to protect with it.
    pyOpenSSL exposes no public call for this; where its binding lacks the function, the
    default stays.
    """
    set_groups = getattr(lib, "SSL_CTX_set1_curves_list", None)
    if set_groups is not None:
        set_groups(ctx._context, b"X25519:P-256:P-384")


async def handshake(
    ctx: SSL.Context,
    family: socket.AddressFamily,
    address: tuple[str, int],
    server_name: str | None,
) -> Handshake:
    """Connect to ``address``, send ``server_name`` as SNI, complete the handshake.

    Raises :class:`HandshakeFailed`; a timeout is the caller's (``asyncio.timeout``).
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
        except ConnectionRefusedError as exc:
            raise HandshakeFailed(
                ErrorKind.REFUSED, f"connection to {_where(address)} refused"
            ) from exc
        except TimeoutError:
            raise
        except OSError as exc:
            raise HandshakeFailed(
                ErrorKind.REFUSED, f"cannot connect to {_where(address)}: {exc.strerror or exc}"
            ) from exc
        conn = SSL.Connection(ctx, sock)
        if server_name is not None:
            conn.set_tlsext_host_name(server_name.encode("ascii"))
        conn.set_connect_state()
        fd = sock.fileno()
        while True:
            try:
                conn.do_handshake()
                break
            except SSL.WantReadError:
                await _ready(loop, fd, write=False)
            except SSL.WantWriteError:
                await _ready(loop, fd, write=True)
            except SSL.Error as exc:
                raise _translate(exc, address) from exc
        peer = conn.get_peer_cert_chain() or []
        if not peer:
            raise HandshakeFailed(ErrorKind.TLS_ERROR, "the server sent no certificate")
        chain = tuple(crypto.dump_certificate(crypto.FILETYPE_ASN1, c) for c in peer)
        return Handshake(chain, conn.get_protocol_version_name(), conn.get_cipher_name())
    finally:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
        sock.close()


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, *, write: bool) -> None:
    """Wait until ``fd`` is readable (or writable)."""
    waiter: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    if write:
        loop.add_writer(fd, wake)
        try:
            await waiter
        finally:
            loop.remove_writer(fd)
    else:
        loop.add_reader(fd, wake)
        try:
            await waiter
        finally:
            loop.remove_reader(fd)


def _translate(exc: SSL.Error, address: tuple[str, int]) -> HandshakeFailed:
    """An OpenSSL error during the handshake as an error kind and a sentence."""
    if isinstance(exc, SSL.ZeroReturnError):
        return HandshakeFailed(ErrorKind.TLS_ERROR, "the server closed the TLS connection")
    if isinstance(exc, SSL.SysCallError):
        code = exc.args[0] if exc.args else None
        if code == -1 or code == 0:
            text = "the server closed the connection during the handshake"
        else:
            text = f"the connection failed during the handshake: {exc.args[-1]}"
        return HandshakeFailed(ErrorKind.TLS_ERROR, text)
    reasons = _reasons(exc)
    for reason in reasons:
        alert = _ALERT.match(reason)
        if alert is not None:
            return HandshakeFailed(
                ErrorKind.TLS_ALERT,
                f"{_where(address)} aborted the handshake with the alert {alert['name']!r}",
            )
    detail = "; ".join(reasons) or "unknown error"
    return HandshakeFailed(ErrorKind.TLS_ERROR, f"the TLS handshake failed: {detail}")


def _reasons(exc: SSL.Error) -> list[str]:
    """The reason strings OpenSSL queued (``[(lib, func, reason), …]``)."""
    out: list[str] = []
    for arg in exc.args:
        if isinstance(arg, list):
            out.extend(str(item[-1]) for item in arg if isinstance(item, tuple) and item)
        elif isinstance(arg, str):
            out.append(arg)
    return out


def _where(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
