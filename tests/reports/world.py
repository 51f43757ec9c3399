"""A platform to report on: tenants, domains with certificates installed through the real
``.pfx`` intake, and what the domains serve, found by real probes of a TLS server on
loopback. Times are chosen to the second.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone

from certdesk import desk as d
from certdesk.desk import Actor, Desk
from certdesk.desk.monitoring import probe_targets, record_probes
from certdesk.monitor import ProbeResult, probe_all
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI
from tests.reports.certs import CertMaker, Issued

PLUS2 = timezone(timedelta(hours=2))  # the seed's report time
OPERATOR = Actor(name="test-operator")


def first_of_month(pki: OpenSSLPKI, *, months_ahead: int = 2) -> date:
    """The 1st of a month a little after the test PKI was made (so that its CAs are valid
    at every instant the tests use)."""
    day = pki.made_at.date()
    year, month = day.year, day.month + months_ahead
    while month > 12:
        year, month = year + 1, month - 12
    return date(year, month, 1)


def local(day: date, hh: int, mm: int = 0, ss: int = 0, tz: timezone = PLUS2) -> datetime:
    """``day hh:mm:ss`` in report time, as a UTC instant."""
    return datetime.combine(day, time(hh, mm, ss), tzinfo=tz).astimezone(UTC)


def add_tenant(desk: Desk, name: str, emails: Sequence[str] = ()) -> int:
    return desk.run(OPERATOR, d.add_tenant, name=name, emails=list(emails)).id


def install(
    desk: Desk,
    certs: CertMaker,
    *,
    tenant: str,
    host: str,
    not_after: datetime,
    portal: str = "other",
) -> Issued:
    """Issue a certificate for ``host`` expiring at ``not_after`` and submit it as a .pfx
    for ``https://host``, at an instant it was valid (50 days before it expires)."""
    issued = certs.issue(host, not_before=not_after - timedelta(days=90), not_after=not_after)
    then = not_after - timedelta(days=50)
    dataclasses.replace(desk, now=lambda: then).run(
        OPERATOR,
        d.submit_pfx,
        tenant=tenant,
        data=issued.pfx.read_bytes(),
        password=PFX_PASSWORD.encode(),
        common_name=host,
        urls=[f"https://{host}"],
        portal=portal,
    )
    return issued


def point_at(desk: Desk, hosts: Sequence[str], port: int) -> None:
    """Reach each host's URL at 127.0.0.1:``port`` (the platform's terminator)."""
    for host in hosts:
        desk.run(OPERATOR, d.change_domain, url=f"https://{host}", connect_to=f"127.0.0.1:{port}")


def probe_and_record(
    desk: Desk, pki: OpenSSLPKI, at: datetime, urls: Sequence[str] = ()
) -> list[ProbeResult]:
    """Probe the monitored domains (or ``urls``) for real, as of ``at``, and keep the results."""
    with desk.context(OPERATOR, at=at) as ctx:
        targets = probe_targets(ctx, urls=list(urls))
    results = probe_all(
        [t.target for t in targets],
        roots=pki.roots,
        now=at,
        concurrency=20,
        timeout=5.0,
        allow_private=True,
    )
    with desk.context(OPERATOR, at=at) as ctx:
        record_probes(ctx, [(t.domain_id, r) for t, r in zip(targets, results, strict=True)])
    return results


S = timedelta(seconds=1)
DAY = timedelta(days=1)


def boundary_hosts(at: datetime) -> dict[str, datetime]:
    """Hosts whose certificates expire around the report windows of ``at``, to the second."""
    return {
        "past.test.com": at - 5 * DAY,
        "at.test.com": at,  # expired: expiry exactly at the report's instant
        "plus1s.test.com": at + S,
        "d3.test.com": at + 3 * DAY,  # the last second of the daily window
        "d3-plus1s.test.com": at + 3 * DAY + S,
        "m30-minus1s.test.com": at + 30 * DAY - S,
        "m30.test.com": at + 30 * DAY,  # the first second of the monthly window
        "m60.test.com": at + 60 * DAY,  # its last second
        "m60-plus1s.test.com": at + 60 * DAY + S,
    }


def install_all(
    desk: Desk, certs: CertMaker, tenant: str, hosts: dict[str, datetime], portal: str = "bss"
) -> None:
    for host, not_after in hosts.items():
        install(desk, certs, tenant=tenant, host=host, not_after=not_after, portal=portal)
