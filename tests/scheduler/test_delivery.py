"""A scheduler tick delivers the daily and monthly reports through a real SMTP server: who
gets what, what the mails say (text, HTML table, CSV attachment), over STARTTLS, implicit
TLS and AUTH; an empty report is not sent unless configured."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from certdesk.desk import Desk
from certdesk.notify import SmtpMailer, message_id
from certdesk.scheduler import tick
from certdesk.settings import Settings
from tests.notify.smtpd import (
    USER,
    SmtpServer,
    client_tls_context,
    server_tls_context,
    start_smtp,
)
from tests.openssl_pki import OpenSSLPKI
from tests.reports.certs import CertMaker
from tests.reports.world import PLUS2
from tests.scheduler.conftest import (
    OPERATORS,
    Platform,
    by_report,
    config_for,
    deliveries,
    once_each,
    read_mail,
)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_who_gets_what(
    desk: Desk, settings: Settings, platform: Platform, smtp: SmtpServer
) -> None:
    p = platform
    outcomes = tick(desk, config_for(settings), SmtpMailer(smtp.url(auth=False)), now=p.daily_at)
    key = p.day.isoformat()  # type: ignore[attr-defined]
    month = key[:7]
    acme, beta, delta = (p.tenant_ids[n] for n in ("Acme Hosting", "Beta Cloud", "Delta Web"))
    got = {(o.kind, o.period, o.recipient): (o.status, o.late, o.rows) for o in outcomes}
    assert got == {
        ("daily", key, "operators"): ("sent", False, 5),
        ("daily", key, f"tenant:{acme}"): ("sent", False, 2),
        ("daily", key, f"tenant:{beta}"): ("sent", False, 1),
        ("daily", key, f"tenant:{delta}"): ("empty", False, 0),
        # The monthly report was due at 00:00 and is sent now, at 10:00: late.
        ("monthly", month, "operators"): ("sent", True, 4),
        ("monthly", month, f"tenant:{acme}"): ("sent", True, 2),
        ("monthly", month, f"tenant:{beta}"): ("sent", True, 1),
        ("monthly", month, f"tenant:{delta}"): ("empty", True, 0),
    }
    mails = by_report(smtp.received)
    assert set(mails) == {
        (f"daily {key}", OPERATORS),
        (f"daily {key}", ("ops@acme.test",)),
        (f"daily {key}", ("a@beta.test", "b@beta.test")),
        (f"monthly {month}", OPERATORS),
        (f"monthly {month}", ("ops@acme.test",)),
        (f"monthly {month}", ("a@beta.test", "b@beta.test")),
    }

    def listed(kind: str, to: tuple[str, ...]) -> list[str]:
        return [r["url"] for r in read_mail(mails[(kind, to)].message).csv_rows]

    daily = f"daily {key}"
    assert listed(daily, OPERATORS) == [
        "https://gamma-old.test.com",
        "https://acme-old.test.com",
        "https://gamma-soon.test.com",
        "https://acme-soon.test.com",
        "https://beta-soon.test.com",
    ]
    assert listed(daily, ("ops@acme.test",)) == [
        "https://acme-old.test.com",
        "https://acme-soon.test.com",
    ]
    assert listed(daily, ("a@beta.test", "b@beta.test")) == ["https://beta-soon.test.com"]
    monthly = f"monthly {month}"
    assert listed(monthly, OPERATORS) == [
        "https://gamma-old.test.com",
        "https://acme-old.test.com",
        "https://beta-month.test.com",
        "https://acme-month.test.com",
    ]
    assert listed(monthly, ("ops@acme.test",)) == [
        "https://acme-old.test.com",
        "https://acme-month.test.com",
    ]
    assert listed(monthly, ("a@beta.test", "b@beta.test")) == ["https://beta-month.test.com"]

    # Every delivery is recorded with what was sent.
    rows = deliveries(desk)
    assert rows[("daily", key, "operators")].status == "sent"
    assert rows[("daily", key, "operators")].message_id == message_id("daily", key, "operators")
    assert rows[("daily", key, "operators")].rows == 5
    assert rows[("daily", key, f"tenant:{delta}")].status == "empty"
    assert rows[("monthly", month, "operators")].late is True
    assert rows[("daily", key, "operators")].late is False
    assert {r.sent_at for r in rows.values()} == {p.daily_at}


def test_the_mail_itself(
    desk: Desk, settings: Settings, platform: Platform, smtp: SmtpServer
) -> None:
    p = platform
    tick(desk, config_for(settings), SmtpMailer(smtp.url(auth=False)), now=p.daily_at)
    key = p.day.isoformat()  # type: ignore[attr-defined]
    received = by_report(smtp.received)[(f"daily {key}", OPERATORS)]
    message = received.message
    assert received.mail_from == "certdesk@platform.test"
    assert str(message["From"]) == "certdesk@platform.test"
    assert str(message["To"]) == "noc@platform.test, ops@platform.test"
    assert str(message["Subject"]) == (
        f"Daily SSL expiration report for the platform's operators, {key} 10:00 UTC+02:00"
    )
    assert str(message["Message-ID"]) == message_id("daily", key, "operators")
    assert message["Date"].datetime == p.daily_at
    mail = read_mail(message)

    # The CSV attachment: one row per URL, expired first, then by expiry.
    assert mail.csv_name == f"certdesk-daily-{key}.csv"
    rows = mail.csv_rows
    assert [r["url"] for r in rows] == [
        "https://gamma-old.test.com",
        "https://acme-old.test.com",
        "https://gamma-soon.test.com",
        "https://acme-soon.test.com",
        "https://beta-soon.test.com",
    ]
    assert [r["status"] for r in rows] == ["expired"] * 2 + ["expiring"] * 3
    assert [r["days_left"] for r in rows] == ["-10", "-2", "0", "1", "2"]
    assert [r["tenant"] for r in rows] == [
        "Gamma Net",
        "Acme Hosting",
        "Gamma Net",
        "Acme Hosting",
        "Beta Cloud",
    ]
    assert [r["portal"] for r in rows] == ["bss", "bss", "storefront", "storefront", "storefront"]
    for row in rows:
        host = row["url"].removeprefix("https://")
        assert instant(row["not_after_utc"]) == p.expiries[host]
        local = instant(row["not_after_report_time"])
        assert local == p.expiries[host]
        assert local.utcoffset() == timedelta(hours=2)
        assert row["common_name"] == host
        assert row["issuer"] == "certdesk Test Intermediate CA"
        assert row["source"] == "installed"
        assert row["last_probe_result"] == "never probed"
        assert row["last_probe_utc"] == ""
    assert list(rows[0]) == [
        "url",
        "tenant",
        "portal",
        "common_name",
        "issuer",
        "not_after_utc",
        "not_after_report_time",
        "days_left",
        "status",
        "source",
        "drift",
        "last_probe_utc",
        "last_probe_result",
    ]

    # The HTML table: the expired first, then those expiring, each sorted by expiry.
    assert mail.html_headings == [
        "Expired and still monitored (2)",
        "Certificates expiring in the next 3 days (3)",
    ]
    expired, expiring = mail.html_tables
    assert [r["URL"] for r in expired + expiring] == [r["url"] for r in rows]
    assert [r["Days left"] for r in expired + expiring] == ["-10", "-2", "0", "1", "2"]
    assert all(r["What to do"].startswith("renew now") for r in expired)
    assert all(r["What to do"].startswith("order the renewal") for r in expiring)
    soon_local = p.expiries["gamma-soon.test.com"].astimezone(PLUS2)
    assert expiring[0]["Expires (report time)"] == soon_local.strftime("%Y-%m-%d %H:%M UTC+02:00")
    assert "https://acme-old.test.com with the Renew (new CSR) button" in expired[1]["What to do"]
    assert not any("certdesk " in r["What to do"] for r in expired + expiring)  # no CLI here

    # The plain text: the same URLs, in the same order, in two sections.
    text = mail.text
    assert "Expired and still monitored (2)" in text
    assert "Certificates expiring in the next 3 days (3)" in text
    positions = [text.index(r["url"] + "  [") for r in rows]
    assert positions == sorted(positions)
    assert text.index("Expired and still monitored") < positions[0]
    assert positions[1] < text.index("Certificates expiring") < positions[2]
    # Time left in words: hours under two days, whole days beyond (never "1 days").
    assert "expired 2 days ago" in text  # acme-old, 48 hours before the report
    assert "expired 10 days ago" in text  # gamma-old
    assert ", in 3 hours;" in text  # gamma-soon
    assert ", in 24 hours;" in text  # acme-soon, one day after the report
    assert ", in 2 days;" in text  # beta-soon, 2 days 5 hours after
    assert "day(s)" not in text


def test_a_reseller_never_sees_another_tenants_urls(
    desk: Desk, settings: Settings, platform: Platform, smtp: SmtpServer
) -> None:
    tick(desk, config_for(settings), SmtpMailer(smtp.url(auth=False)), now=platform.daily_at)
    for received in smtp.received:
        mail = read_mail(received.message)
        tenants = {r["tenant"] for r in mail.csv_rows}
        if received.rcpt_tos == ["ops@acme.test"]:
            assert tenants == {"Acme Hosting"}
            assert "beta" not in mail.text
            assert "gamma" not in mail.html
        elif sorted(received.rcpt_tos) == ["a@beta.test", "b@beta.test"]:
            assert tenants == {"Beta Cloud"}
            assert "acme" not in mail.text
            assert "gamma" not in mail.html
        else:
            assert sorted(received.rcpt_tos) == list(OPERATORS)
            assert "Gamma Net" in tenants  # a tenant without e-mail is still watched
    assert not any("delta.test" in r for m in smtp.received for r in m.rcpt_tos)


def test_empty_reports_are_sent_when_configured(
    desk: Desk, settings: Settings, platform: Platform, smtp: SmtpServer
) -> None:
    config = config_for(settings, send_empty_reports=True)
    outcomes = tick(desk, config, SmtpMailer(smtp.url(auth=False)), now=platform.daily_at)
    delta = f"tenant:{platform.tenant_ids['Delta Web']}"
    assert {(o.kind, o.status) for o in outcomes if o.recipient == delta} == {
        ("daily", "sent"),
        ("monthly", "sent"),
    }
    to_delta = [r for r in smtp.received if r.rcpt_tos == ["hello@delta.test"]]
    assert len(to_delta) == 2
    for received in to_delta:
        mail = read_mail(received.message)
        assert mail.csv_rows == []
        assert mail.html_tables == []  # "None." in both sections
        assert mail.text.count("  none") == 2


def test_without_operators_only_resellers_get_reports(
    desk: Desk, settings: Settings, platform: Platform, smtp: SmtpServer
) -> None:
    config = config_for(settings, operator_emails=())
    outcomes = tick(desk, config, SmtpMailer(smtp.url(auth=False)), now=platform.daily_at)
    assert "operators" not in {o.recipient for o in outcomes}
    assert all(sorted(r.rcpt_tos) != list(OPERATORS) for r in smtp.received)
    assert len(smtp.received) == 4


@pytest.fixture(scope="module")
def tls(pki: OpenSSLPKI, certs: CertMaker) -> ssl.SSLContext:
    return server_tls_context(pki, certs)


@pytest.fixture(params=["starttls", "smtps"])
def secure_smtp(request: pytest.FixtureRequest, tls: ssl.SSLContext) -> Iterator[SmtpServer]:
    server = start_smtp(request.param, tls=tls, auth=True)
    yield server
    server.stop()


def test_delivery_over_tls_with_auth(
    desk: Desk,
    settings: Settings,
    platform: Platform,
    pki: OpenSSLPKI,
    secure_smtp: SmtpServer,
) -> None:
    mailer = SmtpMailer(secure_smtp.url(), context=client_tls_context(pki))
    outcomes = tick(desk, config_for(settings), mailer, now=platform.daily_at)
    sent = [o for o in outcomes if o.status == "sent"]
    assert len(sent) == 6
    received = once_each(secure_smtp.received)
    assert len(received) == 6
    assert all(r.tls and r.login == USER for r in received.values())
    for r in received.values():
        assert read_mail(r.message).csv_rows  # the attachment survived the trip
