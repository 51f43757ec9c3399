"""Sending mail: SMTP (STARTTLS, implicit TLS, auth) or ``.eml`` files in an outbox folder.

``CERTDESK_SMTP_URL`` chooses: ``smtp://user:pass@host:587`` (STARTTLS when offered;
``?starttls=require`` insists, ``?starttls=off`` never), ``smtps://host:465`` (implicit
TLS). Without it, messages are written to the outbox folder, one ``.eml`` each, named
after the Message-ID so that writing the same message twice leaves one file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import ClassVar, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from certdesk.errors import CertdeskError, InvalidArgument


class SendError(CertdeskError):
    """The mail server (or the outbox folder) did not take the message."""

    code: ClassVar[str] = "send-failed"
    http_status: ClassVar[int] = 502


Accepted = Callable[[], None]


class Mailer(Protocol):
    def send(self, message: EmailMessage, *, on_accepted: Accepted | None = None) -> None: ...

    def describe(self) -> str: ...


class OutboxMailer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def describe(self) -> str:
        return f"outbox {self.folder}"

    def send(self, message: EmailMessage, *, on_accepted: Accepted | None = None) -> None:
        key = str(message["Message-ID"] or "") or message.as_string()
        name = hashlib.sha256(key.encode()).hexdigest()[:32] + ".eml"
        path = self.folder / name
        tmp = self.folder / f".{name}.{os.getpid()}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            # 0600 from the start: a report names a tenant's domains and contacts.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.as_bytes())
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):  # the folder itself may be what failed
                tmp.unlink(missing_ok=True)
            raise SendError(f"cannot write {path}: {exc.strerror or exc}") from exc
        if on_accepted is not None:
            on_accepted()


class SmtpMailer:
    def __init__(
        self, url: str, *, timeout: float = 30.0, context: ssl.SSLContext | None = None
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise InvalidArgument(
                f"the SMTP URL must start with smtp:// or smtps://, not {parts.scheme}://"
            )
        if not parts.hostname:
            raise InvalidArgument("the SMTP URL names no host")
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.implicit_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        if not (self.username or "").isascii() or not (self.password or "").isascii():
            # smtplib encodes AUTH credentials as ASCII: anything else would fail at every
            # send with an error that is not a SendError.
            raise InvalidArgument("the SMTP user name and password must be ASCII")
        starttls = parse_qs(parts.query).get("starttls", ["auto"])[0].lower()
        if starttls not in ("auto", "require", "off"):
            raise InvalidArgument("starttls= must be auto, require or off")
        self.starttls = starttls
        self.timeout = timeout
        self.context = context or ssl.create_default_context()

    def describe(self) -> str:  # never shows the password
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"

    def send(self, message: EmailMessage, *, on_accepted: Accepted | None = None) -> None:
        client = self._connect()
        sent = False
        try:
            self._hello(client)
            # smtplib's send_message returns as soon as the server's reply to the data is
            # read (it raises unless that reply is 250): the message is accepted here.
            client.send_message(message)
            sent = True
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"sending through {self.describe()} failed: {exc}") from exc
        finally:
            if not sent:
                client.close()
        try:
            if on_accepted is not None:
                on_accepted()  # recorded before QUIT: the window for a resend is this small
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()  # accepted already: a lost QUIT is not a failed send

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.implicit_tls:
                return smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self.context
                )
            return smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"sending through {self.describe()} failed: {exc}") from exc

    def _hello(self, client: smtplib.SMTP) -> None:
        client.ehlo()
        if not self.implicit_tls and self.starttls != "off":
            if client.has_extn("starttls"):
                client.starttls(context=self.context)
                client.ehlo()
            elif self.starttls == "require":
                raise SendError(f"{self.describe()} does not offer STARTTLS")
        if self.username:
            client.login(self.username, self.password or "")


def mailer_for(smtp_url: str | None, outbox: Path) -> Mailer:
    return SmtpMailer(smtp_url) if smtp_url else OutboxMailer(outbox)
