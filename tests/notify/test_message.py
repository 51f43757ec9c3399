"""The Message-IDs of certdesk's mails: stable for the same mail (a resend is recognised as
one) and labelled with what the mail is."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

from certdesk.notify import message_id
from certdesk.notify.message import install_message

ROW = ("https://bss.acme.test", "bss.acme.test", "ab" * 32, "2027-06-01")


def _install_id(tenant: str, request_id: int) -> str:
    message = install_message(
        sender="certdesk@platform.test",
        to=["ops@acme.test"],
        tenant=tenant,
        request_id=request_id,
        installed=[ROW],
    )
    parsed = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
    return str(parsed["Message-ID"])


def test_the_install_notice_is_labelled_install_not_report() -> None:
    first = _install_id("Acme Hosting", 7)
    assert first.startswith("<install.7.")
    assert first.endswith("@certdesk>")
    assert "report" not in first
    assert _install_id("Acme Hosting", 7) == first
    assert _install_id("Acme Hosting", 8) != first
    assert _install_id("Other Hosting", 7) != first


def test_a_report_keeps_its_message_id() -> None:
    # Deliveries already sent recorded these ids: the same report still gets the same one.
    same = message_id("daily", "2027-03-10", "ops@acme.test")
    assert same == message_id("daily", "2027-03-10", "ops@acme.test")
    assert same.startswith("<report.daily.2027-03-10.")
    assert same != message_id("daily", "2027-03-11", "ops@acme.test")
    assert same != message_id("daily", "2027-03-10", "noc@acme.test")
