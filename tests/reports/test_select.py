"""Which URLs a report lists, through a real store (SQLite and PostgreSQL): certificates
installed through the .pfx intake expire at chosen seconds around the windows; what
URLs serve is found by real probes of a TLS server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from certdesk import desk as d
from certdesk.desk import Actor, Desk
from certdesk.reports import Report, ReportKind, build_report, daily_kind, monthly_kind
from tests.monitor.conftest import TLSServer, server_context
from tests.notify.smtpd import free_port
from tests.openssl_pki import OpenSSLPKI, openssl_date, openssl_fingerprint, openssl_x509
from tests.reports.certs import CertMaker
from tests.reports.world import (
    DAY,
    OPERATOR,
    PLUS2,
    S,
    add_tenant,
    boundary_hosts,
    first_of_month,
    install,
    install_all,
    local,
    point_at,
    probe_and_record,
)


@pytest.fixture
def at(pki: OpenSSLPKI) -> datetime:
    """A daily report's instant: 10:00 report time on the 1st of a coming month."""
    return local(first_of_month(pki), 10)


def kind_of(name: str, **window: int) -> ReportKind:
    """The report kind ``name`` (daily or monthly), its window changed by ``window``."""
    return daily_kind(PLUS2, **window) if name == "daily" else monthly_kind(PLUS2, **window)


def report(
    desk: Desk, kind: str, at: datetime, *, tenant_id: int | None = None, **window: int
) -> Report:
    with desk.context(OPERATOR, at=at) as ctx:
        return build_report(ctx, kind_of(kind, **window), at, PLUS2, tenant_id=tenant_id)


def urls(rows: object) -> list[str]:
    return [r.url for r in rows]  # type: ignore[attr-defined]


def test_boundaries_to_the_second(desk: Desk, certs: CertMaker, at: datetime) -> None:
    add_tenant(desk, "Acme Hosting", ["ops@acme.test"])
    hosts = boundary_hosts(at)
    install_all(desk, certs, "Acme Hosting", hosts)
    # The certificates really expire at those instants (as openssl reads them).
    for host, not_after in hosts.items():
        crt = certs.issue(host, not_before=not_after - 90 * DAY, not_after=not_after).crt
        assert openssl_date(openssl_x509(crt, "-enddate")) == not_after

    daily = report(desk, "daily", at)
    assert urls(daily.expired) == ["https://past.test.com", "https://at.test.com"]
    assert urls(daily.expiring) == ["https://plus1s.test.com", "https://d3.test.com"]
    assert all(r.source == "installed" for r in daily.rows)
    assert [r.not_after for r in daily.rows] == [
        hosts["past.test.com"],
        at,
        at + S,
        at + 3 * DAY,
    ]

    monthly = report(desk, "monthly", at)
    assert urls(monthly.expired) == ["https://past.test.com", "https://at.test.com"]
    assert urls(monthly.expiring) == ["https://m30.test.com", "https://m60.test.com"]

    # One second earlier, "at" has not expired yet and is in the daily window; the +30 d
    # certificate one second short of it enters the monthly window.
    before = report(desk, "daily", at - S)
    assert urls(before.expired) == ["https://past.test.com"]
    assert urls(before.expiring) == ["https://at.test.com", "https://plus1s.test.com"]
    assert "https://d3.test.com" not in urls(before.rows)  # 3 days and 1 second away
    monthly_before = report(desk, "monthly", at - S)
    assert urls(monthly_before.expiring) == [
        "https://m30-minus1s.test.com",
        "https://m30.test.com",
    ]
    # One second later, d3+1s and m60+1s are in.
    after = report(desk, "daily", at + S)
    assert urls(after.expired) == [
        "https://past.test.com",
        "https://at.test.com",
        "https://plus1s.test.com",
    ]
    assert urls(after.expiring) == ["https://d3.test.com", "https://d3-plus1s.test.com"]
    monthly_after = report(desk, "monthly", at + S)
    assert urls(monthly_after.expiring) == ["https://m60.test.com", "https://m60-plus1s.test.com"]


def test_windows_follow_the_settings(desk: Desk, certs: CertMaker, at: datetime) -> None:
    add_tenant(desk, "Acme Hosting")
    install_all(desk, certs, "Acme Hosting", boundary_hosts(at))
    wider = report(desk, "daily", at, days=30)
    assert urls(wider.expiring) == [
        "https://plus1s.test.com",
        "https://d3.test.com",
        "https://d3-plus1s.test.com",
        "https://m30-minus1s.test.com",
        "https://m30.test.com",
    ]
    assert wider.window_text == "expiring in the next 30 days"
    narrow = report(desk, "monthly", at, min_days=3, max_days=30)
    assert urls(narrow.expiring) == [
        "https://d3.test.com",
        "https://d3-plus1s.test.com",
        "https://m30-minus1s.test.com",
        "https://m30.test.com",
    ]


def test_one_tenant_only(desk: Desk, certs: CertMaker, at: datetime) -> None:
    acme = add_tenant(desk, "Acme Hosting")
    beta = add_tenant(desk, "Beta Cloud")
    install(desk, certs, tenant="Acme Hosting", host="acme-shop.test.com", not_after=at + DAY)
    install(desk, certs, tenant="Beta Cloud", host="beta-shop.test.com", not_after=at + 2 * DAY)
    install(desk, certs, tenant="Beta Cloud", host="beta-old.test.com", not_after=at - DAY)
    assert urls(report(desk, "daily", at).rows) == [
        "https://beta-old.test.com",
        "https://acme-shop.test.com",
        "https://beta-shop.test.com",
    ]
    assert urls(report(desk, "daily", at, tenant_id=acme).rows) == ["https://acme-shop.test.com"]
    assert urls(report(desk, "daily", at, tenant_id=beta).rows) == [
        "https://beta-old.test.com",
        "https://beta-shop.test.com",
    ]
    # A reseller acting for itself sees only its own rows, even without tenant_id.
    with desk.context(Actor("reseller", tenant_id=acme), at=at) as ctx:
        own = build_report(ctx, kind_of("daily"), at, PLUS2)
    assert urls(own.rows) == ["https://acme-shop.test.com"]
    rows = report(desk, "daily", at).rows
    assert [r.tenant for r in rows] == ["Beta Cloud", "Acme Hosting", "Beta Cloud"]


# --- the date that counts ---------------------------------------------------------------------


@pytest.fixture
def served(
    pki: OpenSSLPKI, certs: CertMaker, at: datetime, tmp_path: Path
) -> Iterator[tuple[TLSServer, dict[str, datetime]]]:
    """A TLS server serving, by SNI name, certificates that expire at these instants."""
    expiries = {
        "served-soon.test.com": at + 2 * DAY,
        "served-later.test.com": at + 200 * DAY,
        "served-expired.test.com": at - DAY,
        "was-served.test.com": at + 2 * DAY,
        "unmonitored.test.com": at + DAY,
        "removed.test.com": at + DAY,
    }
    by_name = {}
    for host, not_after in expiries.items():
        issued = certs.issue(host, not_before=not_after - 90 * DAY, not_after=not_after)
        by_name[host] = server_context(issued.crt, issued.key, pki.int_crt, folder=tmp_path)
    server = TLSServer(
        default=server_context(pki.leaf_crt, pki.leaf_key, pki.int_crt, folder=tmp_path),
        by_name=by_name,
    )
    try:
        yield server, expiries
    finally:
        server.close()


def test_the_date_that_counts(
    desk: Desk,
    pki: OpenSSLPKI,
    certs: CertMaker,
    at: datetime,
    served: tuple[TLSServer, dict[str, datetime]],
) -> None:
    server, serves = served
    add_tenant(desk, "Acme Hosting")
    installed = {
        "served-soon.test.com": at + 50 * DAY,  # installed: far; served: in 2 days
        "served-later.test.com": at + 2 * DAY,  # installed: soon; served: far
        "served-expired.test.com": at + 100 * DAY,  # served: expired yesterday
        "was-served.test.com": at + 100 * DAY,  # served once; the latest probe failed
        "never-served.test.com": at + DAY,  # probed, never reached: installed counts
        "unprobed.test.com": at + 3 * DAY,  # never probed: installed counts
        "unmonitored.test.com": at + 2 * DAY,
        "removed.test.com": at + 2 * DAY,
    }
    for host, not_after in installed.items():
        install(desk, certs, tenant="Acme Hosting", host=host, not_after=not_after)
    desk.run(OPERATOR, d.add_domain, url="https://no-certificate.test.com", tenant="Acme Hosting")
    reachable = [h for h in serves if h in installed]
    point_at(desk, reachable, server.port)
    point_at(desk, ["never-served.test.com"], free_port())
    first = at - 2 * timedelta(hours=1)
    results = probe_and_record(
        desk,
        pki,
        first,
        urls=[f"https://{h}" for h in [*reachable, "never-served.test.com"]],
    )
    by_url = {r.target.url: r for r in results}
    assert by_url["https://served-soon.test.com"].ok
    assert by_url["https://served-expired.test.com"].chain  # handshake done, not trusted
    assert not by_url["https://served-expired.test.com"].ok
    assert not by_url["https://never-served.test.com"].chain
    # A later probe of was-served fails: what it served last time still counts.
    point_at(desk, ["was-served.test.com"], free_port())
    later = at - timedelta(hours=1)
    [failed] = probe_and_record(desk, pki, later, urls=["https://was-served.test.com"])
    assert not failed.ok
    assert failed.error is not None

    desk.run(OPERATOR, d.change_domain, url="https://unmonitored.test.com", monitored=False)
    with desk.context(OPERATOR, at=at - timedelta(minutes=30)) as ctx:
        d.remove_domain(ctx, url="https://removed.test.com")

    daily = report(desk, "daily", at)
    rows = {r.url: r for r in daily.rows}
    assert urls(daily.expired) == ["https://served-expired.test.com"]
    assert urls(daily.expiring) == [
        "https://never-served.test.com",
        "https://served-soon.test.com",
        "https://was-served.test.com",
        "https://unprobed.test.com",
    ]
    soon = rows["https://served-soon.test.com"]
    assert (soon.source, soon.not_after, soon.drift) == ("served", serves[soon.url[8:]], True)
    assert soon.last_probe_at == first
    assert soon.last_probe_ok is True
    assert soon.common_name == "served-soon.test.com"
    assert soon.issuer == "certdesk Test Intermediate CA"
    was = rows["https://was-served.test.com"]
    assert (was.source, was.not_after) == ("served", at + 2 * DAY)
    assert (was.last_probe_at, was.last_probe_ok) == (later, False)
    assert was.last_error == failed.error.value
    never = rows["https://never-served.test.com"]
    assert (never.source, never.not_after, never.drift) == ("installed", at + DAY, None)
    assert never.last_probe_ok is False
    unprobed = rows["https://unprobed.test.com"]
    assert (unprobed.source, unprobed.last_probe_at) == ("installed", None)
    assert unprobed.common_name == "unprobed.test.com"
    assert unprobed.issuer == "certdesk Test Intermediate CA"
    gone = rows["https://served-expired.test.com"]
    assert (gone.source, gone.not_after) == ("served", at - DAY)
    served_crt = certs.issue(
        "served-expired.test.com", not_before=at - 91 * DAY, not_after=at - DAY
    ).crt
    assert by_url[gone.url].chain[0].sha256 == openssl_fingerprint(served_crt)

    # The expired, still monitored URL is in the monthly report too; "served-later"
    # (installed in 2 days, served in 200) is in neither.
    monthly = report(desk, "monthly", at)
    assert urls(monthly.expired) == ["https://served-expired.test.com"]
    assert monthly.expiring == ()
    assert "https://served-later.test.com" not in urls(daily.rows)
