"""SmtpMailer against a real SMTP server (aiosmtpd) on loopback: STARTTLS, implicit TLS
and AUTH; failures become SendError; OutboxMailer writes one .eml per Message-ID."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from certdesk.errors import InvalidArgument
from certdesk.notify import OutboxMailer, SendError, SmtpMailer, mailer_for
from tests.notify.smtpd import (
    PASSWORD,
    USER,
    SmtpServer,
    client_tls_context,
    free_port,
    server_tls_context,
    start_smtp,
)
from tests.openssl_pki import OpenSSLPKI
from tests.reports.certs import CertMaker


def a_message(msg_id: str = "<test.1@certdesk>") -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "Daily SSL expiration report"
    message["From"] = "certdesk@platform.test"
    message["To"] = "ops@platform.test, noc@platform.test"
    message["Message-ID"] = msg_id
    message.set_content("Καλημέρα: two certificates expire soon.\n")
    return message


@pytest.fixture(scope="module")
def tls(pki: OpenSSLPKI, certs: CertMaker) -> ssl.SSLContext:
    return server_tls_context(pki, certs)


@pytest.fixture
def starttls_server(tls: ssl.SSLContext) -> Iterator[SmtpServer]:
    server = start_smtp("starttls", tls=tls, auth=True)
    yield server
    server.stop()


@pytest.fixture
def smtps_server(tls: ssl.SSLContext) -> Iterator[SmtpServer]:
    server = start_smtp("smtps", tls=tls, auth=True)
    yield server
    server.stop()


def test_starttls_with_auth_delivers_to_every_recipient(
    pki: OpenSSLPKI, starttls_server: SmtpServer
) -> None:
    mailer = SmtpMailer(
        starttls_server.url(query="starttls=require"), context=client_tls_context(pki)
    )
    mailer.send(a_message())
    [got] = starttls_server.received
    assert got.tls is True
    assert got.login == USER
    assert got.mail_from == "certdesk@platform.test"
    assert sorted(got.rcpt_tos) == ["noc@platform.test", "ops@platform.test"]
    assert got.message_id == "<test.1@certdesk>"
    assert got.message.get_content().splitlines() == ["Καλημέρα: two certificates expire soon."]


def test_starttls_is_used_when_offered_without_being_asked(
    pki: OpenSSLPKI, starttls_server: SmtpServer
) -> None:
    # The server refuses mail before STARTTLS (require_starttls), so "auto" must upgrade.
    SmtpMailer(starttls_server.url(), context=client_tls_context(pki)).send(a_message())
    [got] = starttls_server.received
    assert got.tls is True


def test_implicit_tls_with_auth(pki: OpenSSLPKI, smtps_server: SmtpServer) -> None:
    mailer = SmtpMailer(smtps_server.url(), context=client_tls_context(pki))
    assert mailer.implicit_tls
    mailer.send(a_message())
    [got] = smtps_server.received
    assert got.tls is True
    assert got.login == USER


def test_server_certificate_is_verified(
    starttls_server: SmtpServer, smtps_server: SmtpServer
) -> None:
    # The system's trust store does not know the openssl-made test CA: no mail goes out.
    for server in (starttls_server, smtps_server):
        with pytest.raises(SendError, match="CERTIFICATE_VERIFY_FAILED"):
            SmtpMailer(server.url()).send(a_message())
        assert server.received == []


def test_wrong_password_is_a_send_error_without_the_password(
    pki: OpenSSLPKI, starttls_server: SmtpServer
) -> None:
    url = starttls_server.url().replace("p%40ss", "wrong")
    with pytest.raises(SendError) as caught:
        SmtpMailer(url, context=client_tls_context(pki)).send(a_message())
    assert "535" in str(caught.value)
    assert "wrong" not in str(caught.value)
    assert starttls_server.received == []


def test_no_credentials_when_the_server_requires_auth(
    pki: OpenSSLPKI, starttls_server: SmtpServer
) -> None:
    with pytest.raises(SendError):
        SmtpMailer(starttls_server.url(auth=False), context=client_tls_context(pki)).send(
            a_message()
        )
    assert starttls_server.received == []


def test_starttls_required_but_not_offered(smtp: SmtpServer) -> None:
    with pytest.raises(SendError, match="does not offer STARTTLS"):
        SmtpMailer(smtp.url(auth=False, query="starttls=require")).send(a_message())
    assert smtp.received == []
    # Without insisting, a plain server gets the mail in the clear.
    SmtpMailer(smtp.url(auth=False)).send(a_message())
    [got] = smtp.received
    assert got.tls is False
    assert got.login is None


def test_a_451_answer_is_a_send_error(smtp: SmtpServer) -> None:
    smtp.recorder.failing = 1
    with pytest.raises(SendError, match="451"):
        SmtpMailer(smtp.url(auth=False)).send(a_message())
    assert smtp.received == []
    assert smtp.recorder.refused == 1
    SmtpMailer(smtp.url(auth=False)).send(a_message())
    assert len(smtp.received) == 1


def test_a_closed_port_is_a_send_error() -> None:
    port = free_port()
    with pytest.raises(SendError, match="refused"):
        SmtpMailer(f"smtp://127.0.0.1:{port}", timeout=5).send(a_message())


def test_describe_never_shows_the_password(pki: OpenSSLPKI, starttls_server: SmtpServer) -> None:
    mailer = SmtpMailer(starttls_server.url())
    assert mailer.describe() == f"smtp://{USER}@127.0.0.1:{starttls_server.port}"
    assert PASSWORD not in mailer.describe()
    assert mailer.username == USER
    assert mailer.password == PASSWORD  # percent-decoded from the URL


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.test", "smtp:// or smtps://"),
        ("smtp://", "no host"),
        ("smtp://mail.test?starttls=maybe", "starttls="),
        ("smtp://user:p%C3%A4ss@mail.test", "ASCII"),
    ],
)
def test_bad_smtp_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        SmtpMailer(url)


def test_default_ports() -> None:
    assert SmtpMailer("smtp://mail.test").port == 25
    assert SmtpMailer("smtps://mail.test").port == 465
    assert SmtpMailer("smtp://mail.test:587").port == 587


def test_mailer_for_chooses_smtp_or_the_outbox(tmp_path: Path) -> None:
    assert isinstance(mailer_for("smtp://mail.test:587", tmp_path), SmtpMailer)
    outbox = mailer_for(None, tmp_path / "outbox")
    assert isinstance(outbox, OutboxMailer)
    assert outbox.folder == tmp_path / "outbox"


def test_outbox_writes_one_eml_per_message_id(tmp_path: Path) -> None:
    outbox = OutboxMailer(tmp_path / "outbox")
    outbox.send(a_message("<one@certdesk>"))
    outbox.send(a_message("<one@certdesk>"))  # the same report again: still one file
    outbox.send(a_message("<two@certdesk>"))
    files = sorted((tmp_path / "outbox").iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"]
    ids = sorted(
        str(BytesParser(policy=policy.default).parsebytes(f.read_bytes())["Message-ID"])
        for f in files
    )
    assert ids == ["<one@certdesk>", "<two@certdesk>"]
    assert (tmp_path / "outbox").stat().st_mode & 0o777 == 0o700


def test_outbox_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask: files 0644 unless certdesk says otherwise
    try:
        OutboxMailer(tmp_path / "outbox").send(a_message("<one@certdesk>"))
        OutboxMailer(tmp_path / "outbox").send(a_message("<one@certdesk>"))  # replaced
    finally:
        os.umask(old)
    [eml] = (tmp_path / "outbox").iterdir()
    assert eml.stat().st_mode & 0o777 == 0o600


def test_outbox_that_cannot_be_written_is_a_send_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the outbox should be")
    with pytest.raises(SendError):
        OutboxMailer(blocker).send(a_message())
