"""One TLS handshake on the event loop, through OpenSSL on a non-blocking socket.

Why OpenSSL through cryptography's bindings and not ``ssl``: Python 3.11's ``ssl`` gives
only the peer's leaf, and the OpenSSL bundled with ``cryptography`` costs less CPU per
handshake than the system OpenSSL behind ``ssl`` (see bench/bench_probe.py). Why the
bindings' functions (``SSL_new``, ``SSL_do_handshake``…) and not pyOpenSSL's
``Connection``, which makes the same calls: a prober makes thousands of handshakes a
minute, and the ``Connection`` object, its "want read" exceptions and its certificate
objects cost 0.02-0.05 ms of CPU per probe (bench/bench_sweep.py). Only this module
calls OpenSSL's TLS functions.
Why no thread: ``SSL_do_handshake`` on a non-blocking socket returns "want read" at
once, so the event loop watches the socket (``add_reader``) and calls it again when it
is ready (:class:`_Driver`): one thread drives hundreds of handshakes; there is no
per-connection thread or GIL hand-off.

The peer is not verified here (``VERIFY_NONE``): what is served is read whatever it
is, and judged afterwards with :mod:`certdesk.pki`. Sessions are never resumed (a
resumed handshake carries no certificate): no session cache, no tickets. The socket
is aborted (RST) rather than closed cleanly: nothing is sent after the handshake,
and no TIME_WAIT is left behind by thousands of probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import socket
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.bindings.openssl.binding import Binding

from certdesk.pki.probes import ErrorKind

# cryptography's bindings to the OpenSSL it bundles (those pyOpenSSL is built on).
_binding = Binding()
ffi: Any = _binding.ffi
lib: Any = _binding.lib

_LINGER_ABORT = struct.pack("ii", 1, 0)
# OpenSSL's reasons for an alert received from the peer: "sslv3 alert handshake failure",
# "tlsv13 alert certificate required", "tlsv1 unrecognized name"…
_ALERT = re.compile(r"^(?:sslv3|tlsv1|tlsv13) (?:alert )?(?P<name>.+)$")
# TLS 1.3 suites in the order browsers offer them (AES-128 first): a server that follows
# the client's order (nginx's default) agrees on what most of its visitors get, and
# SHA-256's key schedule costs less than SHA-384's.
_TLS13_SUITES = b"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
# X25519 and P-256 key shares only: the OpenSSL in the cryptography wheel also offers a
# hybrid post-quantum share by default, ~0.1-0.2 ms of client CPU per handshake. A prober
# keeps no secret from the session (it reads the certificate and closes), so it has
# nothing to protect with it.
_GROUPS = b"X25519:P-256:P-384"
_CLOSED = "the server closed the connection during the handshake"


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


class ClientContext:
    """OpenSSL's client context for probes: reads any certificate, never resumes a
    session. One per batch; the handshakes of the batch share it."""

    def __init__(self) -> None:
        raw = lib.SSL_CTX_new(lib.TLS_client_method())
        if raw == ffi.NULL:
            raise MemoryError("OpenSSL could not make a TLS context")
        self.raw: Any = ffi.gc(raw, lib.SSL_CTX_free)
        lib.SSL_CTX_set_mode(
            raw, lib.SSL_MODE_ENABLE_PARTIAL_WRITE | lib.SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
        )
        lib.SSL_CTX_set_verify(raw, lib.SSL_VERIFY_NONE, ffi.NULL)
        lib.SSL_CTX_set_session_cache_mode(raw, lib.SSL_SESS_CACHE_OFF)
        lib.SSL_CTX_set_options(raw, lib.SSL_OP_NO_TICKET | lib.SSL_OP_NO_COMPRESSION)
        # Read what weak servers serve too (1024-bit keys, SHA-1): judging it is pki's job.
        # The suites' order and the groups are refinements: where an older cryptography's
        # bindings lack their function, OpenSSL's defaults stay.
        settings = (
            ("SSL_CTX_set_cipher_list", b"DEFAULT:@SECLEVEL=0"),
            ("SSL_CTX_set_ciphersuites", _TLS13_SUITES),
            ("SSL_CTX_set1_curves_list", _GROUPS),
        )
        for function, value in settings:
            setter = getattr(lib, function, None)
            if setter is not None and setter(raw, value) != 1:
                lib.ERR_clear_error()
                raise ValueError(f"OpenSSL refused the probe setting {value.decode()}")


def client_context() -> ClientContext:
    """A client context that reads any certificate and never resumes a session."""
    return ClientContext()


async def handshake(
    ctx: ClientContext,
    family: socket.AddressFamily,
    address: tuple[str, int],
    server_name: str | None,
) -> Handshake:
    """Connect to ``address``, send ``server_name`` as SNI, complete the handshake.

    Raises :class:`HandshakeFailed`; a timeout is the caller's (it cancels the task).
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(family, socket.SOCK_STREAM)
    ssl: Any = ffi.NULL
    try:
        sock.setblocking(False)
        try:
            await _connect(loop, sock, address)
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
        ssl = lib.SSL_new(ctx.raw)
        if ssl == ffi.NULL:
            raise MemoryError("OpenSSL could not start a TLS connection")
        fd = sock.fileno()
        lib.SSL_set_fd(ssl, fd)
        if server_name is not None:
            lib.SSL_set_tlsext_host_name(ssl, server_name.encode("ascii"))
        lib.SSL_set_connect_state(ssl)
        driver = _Driver(loop, ssl, fd, address)
        try:
            await driver.done
        finally:
            driver.unwatch()  # before the socket is closed and its number reused
            if driver.done.done() and not driver.done.cancelled():
                driver.done.exception()  # read, when a timeout came first (nothing logged)
        return Handshake(_peer_chain(ssl), _text(lib.SSL_get_version(ssl)), _cipher(ssl))
    finally:
        if ssl != ffi.NULL:
            lib.SSL_free(ssl)  # the socket is not its to close (SSL_set_fd: BIO_NOCLOSE)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
        sock.close()


async def _connect(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, address: tuple[str, int]
) -> None:
    """Connect the non-blocking ``sock`` to the IP address ``address``. Not the loop's
    ``sock_connect``: uvloop's resolves the address again, even an IP address, on its
    thread pool (a thread hand-off and ~7 µs of CPU per probe)."""
    try:
        sock.connect(address)
    except BlockingIOError:
        await _writable(loop, sock.fileno())
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise OSError(error, os.strerror(error)) from None  # ConnectionRefusedError…


def _peer_chain(ssl: Any) -> tuple[bytes, ...]:
    """The certificates the server sent, as DER, leaf first."""
    chain = lib.SSL_get_peer_cert_chain(ssl)  # on a client, the leaf included; not ours
    count = lib.sk_X509_num(chain) if chain != ffi.NULL else 0
    if count <= 0:
        raise HandshakeFailed(ErrorKind.TLS_ERROR, "the server sent no certificate")
    bio = lib.BIO_new(lib.BIO_s_mem())
    if bio == ffi.NULL:
        raise MemoryError("OpenSSL could not make a memory buffer")
    try:
        data = ffi.new("char **")
        ends = []
        for i in range(count):
            if lib.i2d_X509_bio(bio, lib.sk_X509_value(chain, i)) != 1:
                lib.ERR_clear_error()
                raise HandshakeFailed(
                    ErrorKind.TLS_ERROR, "the server sent a certificate that cannot be read"
                )
            ends.append(lib.BIO_get_mem_data(bio, data))
        whole = ffi.buffer(data[0], ends[-1])[:]
    finally:
        lib.BIO_free(bio)
    starts = [0, *ends[:-1]]
    return tuple(whole[a:b] for a, b in zip(starts, ends, strict=True))


def _text(value: Any) -> str | None:
    return None if value == ffi.NULL else ffi.string(value).decode("ascii", "replace")


def _cipher(ssl: Any) -> str | None:
    cipher = lib.SSL_get_current_cipher(ssl)
    return None if cipher == ffi.NULL else _text(lib.SSL_CIPHER_get_name(cipher))


def _failure(code: int, result: int, os_error: int, address: tuple[str, int]) -> HandshakeFailed:
    """An OpenSSL failure of ``SSL_do_handshake`` as an error kind and a sentence (the
    cases pyOpenSSL's ``Connection`` tells apart, in the same order)."""
    if code == lib.SSL_ERROR_ZERO_RETURN:
        return HandshakeFailed(ErrorKind.TLS_ERROR, "the server closed the TLS connection")
    if code == lib.SSL_ERROR_SYSCALL and (lib.ERR_peek_error() == 0 or os_error != 0):
        lib.ERR_clear_error()
        if result < 0 and os_error != 0:
            name = errno.errorcode.get(os_error, str(os_error))
            return HandshakeFailed(
                ErrorKind.TLS_ERROR, f"the connection failed during the handshake: {name}"
            )
        return HandshakeFailed(ErrorKind.TLS_ERROR, _CLOSED)
    if (
        code == lib.SSL_ERROR_SSL
        and lib.ERR_GET_REASON(lib.ERR_peek_error()) == lib.SSL_R_UNEXPECTED_EOF_WHILE_READING
    ):
        lib.ERR_clear_error()
        return HandshakeFailed(ErrorKind.TLS_ERROR, _CLOSED)
    reasons = _reasons()
    for reason in reasons:
        alert = _ALERT.match(reason)
        if alert is not None:
            return HandshakeFailed(
                ErrorKind.TLS_ALERT,
                f"{_where(address)} aborted the handshake with the alert {alert['name']!r}",
            )
    detail = "; ".join(reasons) or "unknown error"
    return HandshakeFailed(ErrorKind.TLS_ERROR, f"the TLS handshake failed: {detail}")


def _reasons() -> list[str]:
    """The reason strings in OpenSSL's error queue, which this empties."""
    out: list[str] = []
    while (error := lib.ERR_get_error()) != 0:
        reason = lib.ERR_reason_error_string(error)
        out.append(_text(reason) or f"error {error:#x}")
    return out


class _Driver:
    """Drives ``SSL_do_handshake`` from the event loop's readiness callbacks: the socket
    is watched from OpenSSL's first "want read" to the end of the handshake, and each
    time it is ready the handshake goes on in the callback itself; ``done`` is resolved
    once, at the end. Not a coroutine that awaits a new future for each "want read" and
    watches the socket anew each time: that cost ~0.07-0.12 ms of CPU per probe, a
    quarter of a probe's (probe_all, ECDSA 0.418 -> 0.297 ms, RSA 0.339 -> 0.273 ms,
    five A/B pairs each)."""

    __slots__ = ("address", "done", "fd", "loop", "reading", "ssl", "writing")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, ssl: Any, fd: int, address: tuple[str, int]
    ) -> None:
        self.loop = loop
        self.ssl = ssl
        self.fd = fd
        self.address = address
        self.done: asyncio.Future[None] = loop.create_future()
        self.reading = False
        self.writing = False
        self.step()

    def step(self) -> None:
        """One call of ``SSL_do_handshake``, and what it asks for next."""
        if self.done.done():
            return
        try:
            lib.ERR_clear_error()  # SSL_get_error reads this thread's queue: start it empty
            result = lib.SSL_do_handshake(self.ssl)
            if result == 1:
                self.unwatch()
                self.done.set_result(None)
                return
            os_error = ffi.errno
            code = lib.SSL_get_error(self.ssl, result)
            if code == lib.SSL_ERROR_WANT_READ:
                self._watch(read=True)
            elif code == lib.SSL_ERROR_WANT_WRITE:
                self._watch(read=False)
            else:
                self.unwatch()
                self.done.set_exception(_failure(code, result, os_error, self.address))
        except Exception as exc:  # whatever it is, the awaiting probe gets it
            self.unwatch()
            self.done.set_exception(exc)

    def _watch(self, *, read: bool) -> None:
        if read and not self.reading:
            if self.writing:
                self.loop.remove_writer(self.fd)
                self.writing = False
            self.loop.add_reader(self.fd, self.step)
            self.reading = True
        elif not read and not self.writing:
            if self.reading:
                self.loop.remove_reader(self.fd)
                self.reading = False
            self.loop.add_writer(self.fd, self.step)
            self.writing = True

    def unwatch(self) -> None:
        if self.reading:
            self.loop.remove_reader(self.fd)
            self.reading = False
        if self.writing:
            self.loop.remove_writer(self.fd)
            self.writing = False


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    """Wait until ``fd`` is writable (a connection made, or refused)."""
    waiter: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await waiter
    finally:
        loop.remove_writer(fd)


def _where(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
