"""The served-state page (``/domains``, desk.served_overview): each URL's installed and
served expiry, its latest probe and drift, coloured by the urgency of the expiry that
counts — certificates installed through the real ``.pfx`` intake, served by a real TLS
server on loopback and probed for real; one page at a time, filters kept in the pager."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from certdesk import desk as d
from certdesk.desk import Desk
from tests.monitor.conftest import TLSServer, server_context
from tests.notify.smtpd import free_port
from tests.openssl_pki import OpenSSLPKI
from tests.reports.certs import CertMaker, certs
from tests.reports.world import (
    DAY,
    OPERATOR,
    first_of_month,
    install,
    local,
    point_at,
    probe_and_record,
)
from tests.web.conftest import TENANT_A, TENANT_B

__all__ = ["certs"]

Login = Callable[[str], tuple[httpx.Client, str]]


def table(html: str) -> dict[str, dict[str, str]]:
    """URL -> its cells (text, tags removed) and ``urgency``, the row's class."""
    out: dict[str, dict[str, str]] = {}
    for chunk in html.split('<tr class="u-')[1:]:
        row = chunk.split("</tr>", 1)[0]
        cells = {
            label: re.sub(r"<[^>]+>", "", text).strip()
            for label, text in re.findall(r'<td data-label="([^"]+)">(.*?)</td>', row, re.S)
        }
        url = cells["URL"].split(" ", 1)[0]
        out[url] = {"urgency": row.split('"', 1)[0], **cells}
    return out


@pytest.fixture
def at(pki: OpenSSLPKI, web_desk: Desk, app: FastAPI) -> datetime:
    """The portal's instant: 10:00 on the 1st of a coming month (the test CAs valid)."""
    moment = local(first_of_month(pki), 10)
    web_desk.now = app.state.desk.now = lambda: moment
    return moment


@pytest.fixture
def served_world(
    web_desk: Desk, pki: OpenSSLPKI, certs: CertMaker, at: datetime, tmp_path: Path
) -> datetime:
    """Tenant A: expired, expiring, drift (serves another certificate), failing (its probe
    cannot connect), removed; tenant B: beta. Returns the instant of the probes."""
    installed = {
        "expired.test.com": at - 2 * DAY,
        "soon.test.com": at + 2 * DAY,
        "drift.test.com": at + 100 * DAY,
        "failing.test.com": at + 60 * DAY,
        "removed.test.com": at + 10 * DAY,
    }
    for host, not_after in installed.items():
        install(web_desk, certs, tenant=TENANT_A, host=host, not_after=not_after)
    install(web_desk, certs, tenant=TENANT_B, host="beta.test.com", not_after=at + 5 * DAY)
    other = certs.issue("drift.test.com", not_before=at - 70 * DAY, not_after=at + 20 * DAY)
    server = TLSServer(
        default=server_context(pki.leaf_crt, pki.leaf_key, pki.int_crt, folder=tmp_path),
        by_name={
            "drift.test.com": server_context(other.crt, other.key, pki.int_crt, folder=tmp_path)
        },
    )
    try:
        point_at(web_desk, ["drift.test.com"], server.port)
        point_at(web_desk, ["failing.test.com"], free_port())
        probed = at - timedelta(hours=1)
        probe_and_record(
            web_desk, pki, probed, urls=["https://drift.test.com", "https://failing.test.com"]
        )
    finally:
        server.close()
    web_desk.run(OPERATOR, d.remove_domain, url="https://removed.test.com")
    return probed


def test_each_state_as_the_reseller_sees_it(login: Login, served_world: datetime) -> None:
    client, _ = login("alice")
    page = client.get("/domains")
    assert page.status_code == 200
    rows = table(page.text)
    # Removed domains and the other tenant's are not listed; soonest installed expiry first.
    assert list(rows) == [
        "https://expired.test.com",
        "https://soon.test.com",
        "https://failing.test.com",
        "https://drift.test.com",
    ]
    assert "beta.test.com" not in page.text
    assert TENANT_B not in page.text
    expired = rows["https://expired.test.com"]
    assert expired["urgency"] == "expired"
    assert (expired["Source"], expired["Last probe"], expired["Drift"]) == (
        "installed",
        "never probed",
        "—",
    )
    assert rows["https://soon.test.com"]["urgency"] == "critical"
    drift = rows["https://drift.test.com"]
    # Served: another certificate, expiring in 20 days — that is the date that counts.
    assert drift["urgency"] == "warning"
    assert drift["Source"] == "served"
    assert drift["Drift"] == "yes"
    assert drift["Last probe"].endswith("· ok")
    assert drift["Served expiry"] != drift["Installed expiry"]
    failing = rows["https://failing.test.com"]
    assert failing["urgency"] == "ok"
    assert failing["Source"] == "installed"
    assert "· failed: " in failing["Last probe"]
    assert failing["Drift"] == "—"


def test_filters(login: Login, served_world: datetime) -> None:
    client, _ = login("alice")
    assert list(table(client.get("/domains?show=expired").text)) == ["https://expired.test.com"]
    assert list(table(client.get("/domains?show=warning").text)) == ["https://drift.test.com"]
    assert list(table(client.get("/domains?drift=1").text)) == ["https://drift.test.com"]
    assert list(table(client.get("/domains?failing=1").text)) == ["https://failing.test.com"]
    none = client.get("/domains?show=none")
    assert table(none.text) == {}
    assert "<p>None.</p>" in none.text


def test_operator_sees_every_tenant(login: Login, served_world: datetime) -> None:
    client, _ = login("admin")
    rows = table(client.get("/domains").text)
    assert "https://beta.test.com" in rows
    assert rows["https://beta.test.com"]["Tenant"] == TENANT_B
    assert "https://removed.test.com" not in rows
    bob, _ = login("bob")
    assert list(table(bob.get("/domains").text)) == ["https://beta.test.com"]


def test_paging_keeps_the_filter(login: Login, web_desk: Desk, at: datetime) -> None:
    client, _ = login("alice")
    assert "No domains." in client.get("/domains").text
    for n in range(51):
        web_desk.run(OPERATOR, d.add_domain, url=f"https://p{n:02d}.test.com", tenant=TENANT_A)
    first = client.get("/domains?show=none")
    assert list(table(first.text)) == [f"https://p{n:02d}.test.com" for n in range(50)]
    assert "Page 1 of 2 (51 URLs)" in first.text
    assert 'href="/domains?show=none&amp;page=2" rel="next"' in first.text
    second = client.get("/domains?show=none&page=2")
    assert list(table(second.text)) == ["https://p50.test.com"]
    assert 'href="/domains?show=none&amp;page=1" rel="prev"' in second.text
    # Past the end: the last page.
    assert list(table(client.get("/domains?page=99").text)) == ["https://p50.test.com"]


def test_metrics_tell_the_same_state(
    login: Login, served_world: datetime, at: datetime, web_desk: Desk
) -> None:
    """``/metrics`` (the desk's snapshot, formatted): the expiry that counts and its source,
    the latest probe's outcome and drift, for every monitored, active URL."""
    client, _ = login("admin")
    served = {row.url: row for row in web_desk.run(OPERATOR, d.served_overview, limit=100).rows}
    web_desk.run(OPERATOR, d.change_domain, url="https://soon.test.com", monitored=False)
    text = client.get("/metrics").text
    lines = set(text.splitlines())

    def expiry(url: str) -> int:
        not_after = served[url].not_after
        assert not_after is not None
        return int(not_after.timestamp())

    a = f'tenant="{TENANT_A}"'
    drift = 'url="https://drift.test.com",' + a
    failing = 'url="https://failing.test.com",' + a
    assert {
        "certdesk_certificate_expiry_timestamp_seconds{"
        f'{drift},source="served"}} {expiry("https://drift.test.com")}',
        "certdesk_certificate_expiry_timestamp_seconds{"
        f'{failing},source="installed"}} {expiry("https://failing.test.com")}',
        f"certdesk_probe_success{{{drift}}} 1",
        f"certdesk_probe_success{{{failing}}} 0",
        f"certdesk_certificate_drift{{{drift}}} 1",
    } <= lines
    assert expiry("https://drift.test.com") == int((at + 20 * DAY).timestamp())
    assert "https://removed.test.com" not in text
    assert "https://soon.test.com" not in text  # not monitored
    assert f'certdesk_probe_success{{url="https://beta.test.com",tenant="{TENANT_B}"}}' not in text
    assert 'certdesk_certificate_drift{url="https://failing.test.com"' not in text
    reseller, _ = login("alice")
    assert reseller.get("/metrics").status_code == 403


def test_the_api_serves_the_same_pages(login: Login, served_world: datetime) -> None:
    client, _ = login("alice")
    whole = client.get("/api/domains/served")
    assert whole.status_code == 200
    assert whole.headers["x-total-count"] == "4"
    assert [r["url"] for r in whole.json()] == list(table(client.get("/domains").text))
    [drift] = client.get("/api/domains/served", params={"drift": "true"}).json()
    assert drift["url"] == "https://drift.test.com"
    assert (drift["source"], drift["drift"], drift["urgency"]) == ("served", True, "warning")
    assert drift["last_probe_ok"] is True
    assert drift["not_after"].endswith("Z")
    [failing] = client.get("/api/domains/served", params={"failing": "true"}).json()
    assert (failing["url"], failing["last_probe_ok"]) == ("https://failing.test.com", False)
    assert failing["last_error"]
    middle = client.get("/api/domains/served", params={"limit": 2, "offset": 1})
    assert [r["url"] for r in middle.json()] == [r["url"] for r in whole.json()][1:3]
    assert middle.headers["x-total-count"] == "4"
    assert client.get("/api/domains/served", params={"offset": 4}).json() == []
    expired = client.get("/api/domains/served", params={"urgency": "expired"})
    assert [r["url"] for r in expired.json()] == ["https://expired.test.com"]
    assert expired.headers["x-total-count"] == "1"
    assert client.get("/api/domains/served", params={"urgency": "soon"}).status_code == 400
    assert client.get("/api/domains/served", params={"tenant": TENANT_B}).status_code == 404
