"""A real SMTP server on 127.0.0.1 (aiosmtpd), optionally with STARTTLS or implicit TLS
(a certificate for 127.0.0.1 issued by the openssl-made test CA) and AUTH. It keeps
every message it accepted, parsed with the standard library's ``email`` package, and
can be told to answer ``451`` to the next messages, like a server in trouble.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.openssl_pki import OpenSSLPKI
from tests.reports.certs import CertMaker

USER = "reports"
PASSWORD = "p@ss w:rd/%"  # needs quoting in the URL


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: str | None

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class Recorder:
    """The aiosmtpd handler: keeps accepted messages; answers 451 while ``failing`` > 0."""

    received: list[Received] = field(default_factory=list)
    failing: int = 0
    refused: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self.failing > 0:
                self.failing -= 1
                self.refused += 1
                return "451 4.3.0 Mailbox temporarily unavailable, try again later"
            raw = envelope.original_content or envelope.content
            message = BytesParser(policy=policy.default).parsebytes(raw)
            assert isinstance(message, EmailMessage)
            login = None
            if session.authenticated and isinstance(session.auth_data, LoginPassword):
                login = session.auth_data.login.decode()
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    message,
                    # STARTTLS sets session.ssl; implicit TLS is the listener's transport.
                    session.ssl is not None
                    or server.transport.get_extra_info("ssl_object") is not None,
                    login,
                )
            )
        return "250 2.0.0 OK: queued"


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == USER
        and auth_data.password.decode() == PASSWORD
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@dataclass
class SmtpServer:
    controller: Controller
    recorder: Recorder
    port: int
    mode: str  # plain | starttls | smtps

    @property
    def received(self) -> list[Received]:
        return self.recorder.received

    def url(self, *, auth: bool = True, query: str = "") -> str:
        scheme = "smtps" if self.mode == "smtps" else "smtp"
        creds = f"{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@" if auth else ""
        return f"{scheme}://{creds}127.0.0.1:{self.port}{'?' + query if query else ''}"

    def stop(self) -> None:
        self.controller.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_tls_context(pki: OpenSSLPKI, certs: CertMaker) -> ssl.SSLContext:
    """The SMTP server's certificate: for 127.0.0.1 and localhost, from the test CA."""
    now = pki.made_at
    issued = certs.issue(
        "localhost",
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=365),
        ips=("127.0.0.1",),
    )
    bundle = issued.crt.with_suffix(".chain.pem")
    bundle.write_bytes(issued.crt.read_bytes() + pki.int_crt.read_bytes())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(bundle, issued.key)
    return ctx


def client_tls_context(pki: OpenSSLPKI) -> ssl.SSLContext:
    """What certdesk's mailer verifies the server with: the test root only."""
    return ssl.create_default_context(cafile=str(pki.root_crt))


def start_smtp(
    mode: str = "plain",
    *,
    tls: ssl.SSLContext | None = None,
    auth: bool = False,
    recorder: Recorder | None = None,
    port: int | None = None,
) -> SmtpServer:
    recorder = recorder or Recorder()
    kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "server_hostname": "mx.test"}
    if auth:
        kwargs["authenticator"] = _authenticator
        # Mail without AUTH is refused (aiosmtpd warns about this without TLS: not here).
        kwargs["auth_required"] = mode != "smtps"
    if mode == "starttls":
        kwargs["tls_context"] = tls
        kwargs["require_starttls"] = True
    elif mode == "smtps":
        kwargs["ssl_context"] = tls
        # The whole connection is TLS, which aiosmtpd's "AUTH only after STARTTLS" rule
        # does not know about: let AUTH in (it still runs inside TLS here).
        kwargs["auth_require_tls"] = False
    last: OSError | None = None
    for _ in range(1 if port else 5):
        listen = port or free_port()
        controller = Controller(recorder, port=listen, **kwargs)
        try:
            controller.start()
        except OSError as exc:  # the port was taken meanwhile
            last = exc
            continue
        return SmtpServer(controller, recorder, listen, mode)
    raise AssertionError(f"cannot start the SMTP server: {last}")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A plain SMTP server (no TLS, no AUTH) for one test."""
    server = start_smtp()
    try:
        yield server
    finally:
        server.stop()
