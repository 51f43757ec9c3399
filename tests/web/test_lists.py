"""The Requests page a page at a time with its filters, and the export form's URL search:
what the portal shows comes from one page of the desk, a reseller's never holds another
tenant's rows, and a filter's value survives the page links."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from certdesk import desk
from certdesk.desk import Desk
from certdesk.desk.records import advance, open_request
from tests.flows import submit_leaf
from tests.openssl_pki import OpenSSLPKI
from tests.web.conftest import OPERATOR, TENANT_A, TENANT_B

Login = Callable[[str], tuple[httpx.Client, str]]
OFFERED = re.compile(r'<li><a href="/export\?url=[^"]*"[^>]*>([^<]*)</a></li>')
SHOWN = re.compile(r'<a href="/requests/(\d+)">#\d+</a> ([^<]*)</h2>')


def _tenant_id(web_desk: Desk, name: str) -> int:
    return next(t.id for t in web_desk.run(OPERATOR, desk.list_tenants) if t.name == name)


def _requests(web_desk: Desk, tenant: str, n: int) -> None:
    tenant_id = _tenant_id(web_desk, tenant)
    with web_desk.context(OPERATOR) as ctx:
        for i in range(n):
            made = open_request(ctx, tenant_id, ("submit", "csr")[i % 2], f"{tenant} #{i}")
            if i % 2:
                advance(ctx, made, "rejected", "refused")


def test_the_requests_page_pages_and_filters(login: Login, web_desk: Desk) -> None:
    _requests(web_desk, TENANT_A, 120)
    _requests(web_desk, TENANT_B, 5)
    alice, _ = login("alice")
    first = alice.get("/requests")
    assert first.status_code == 200
    shown = SHOWN.findall(first.text)
    assert [s for _, s in shown] == [f"{TENANT_A} #{i}" for i in range(119, 69, -1)]
    assert "120 requests." in first.text
    assert 'href="/requests?page=2" rel="next"' in first.text
    assert TENANT_B not in first.text
    last = alice.get("/requests?page=3")
    assert [s for _, s in SHOWN.findall(last.text)] == [
        f"{TENANT_A} #{i}" for i in range(19, -1, -1)
    ]
    assert 'rel="next"' not in last.text
    assert 'href="/requests?page=2" rel="prev"' in last.text
    past = alice.get("/requests?page=9")  # past the end: the last page
    assert SHOWN.findall(past.text) == SHOWN.findall(last.text)

    rejected = alice.get("/requests", params={"status": "rejected", "kind": "csr"})
    assert [s for _, s in SHOWN.findall(rejected.text)] == [
        f"{TENANT_A} #{i}" for i in range(119, 19, -2)
    ]
    assert "60 requests match these filters." in rejected.text
    assert 'href="/requests?status=rejected&amp;kind=csr&amp;page=2"' in rejected.text
    assert '<option value="rejected" selected>' in rejected.text
    rest = alice.get("/requests", params={"status": "rejected", "kind": "csr", "page": "2"})
    assert [s for _, s in SHOWN.findall(rest.text)] == [
        f"{TENANT_A} #{i}" for i in range(19, 0, -2)
    ]
    words = alice.get("/requests", params={"q": "#11"})
    assert sorted(s for _, s in SHOWN.findall(words.text)) == sorted(
        f"{TENANT_A} #{i}" for i in (11, *range(110, 120))
    )
    # A reseller's tenant filter is ignored, never another tenant's rows; unknown values
    # of a filter show everything rather than fail.
    forged = alice.get("/requests", params={"tenant": TENANT_B, "status": "bogus"})
    assert forged.status_code == 200
    assert TENANT_B not in forged.text
    assert "120 requests." in forged.text
    assert 'id="f-tenant"' not in forged.text

    admin, _ = login("admin")
    everyone = admin.get("/requests")
    assert "125 requests." in everyone.text
    beta = admin.get("/requests", params={"tenant": TENANT_B})
    assert [s for _, s in SHOWN.findall(beta.text)] == [
        f"{TENANT_B} #{i}" for i in range(4, -1, -1)
    ]


def test_the_export_form_finds_urls_by_search(
    login: Login, web_desk: Desk, pki: OpenSSLPKI
) -> None:
    """Only the viewer's URLs with a certificate are offered, 20 at most, found by part of
    their address; the form takes a URL typed or chosen (no list of every domain)."""
    alice, _ = login("alice")
    empty = alice.get("/export")
    assert "No certificate is installed on any of your URLs yet." in empty.text
    assert 'name="url"' in empty.text
    assert "<select" not in empty.text

    ports = [f"https://store.test.com:{8000 + n}" for n in range(25)]
    submit_leaf(web_desk, OPERATOR, pki, tenant=TENANT_A, urls=[*ports, "https://www.test.com"])
    submit_leaf(web_desk, OPERATOR, pki, tenant=TENANT_B, urls=["https://store.test.com:9443"])
    web_desk.run(OPERATOR, desk.add_domain, url="https://store-bare.test.com", tenant=TENANT_A)

    listed = alice.get("/export")
    offered = OFFERED.findall(listed.text)
    assert len(offered) == 20
    assert "More URLs match" in listed.text
    found = alice.get("/export", params={"q": "WWW"})
    assert OFFERED.findall(found.text) == ["https://www.test.com"]
    assert "More URLs match" not in found.text
    narrowed = alice.get("/export", params={"q": ":801"})
    assert OFFERED.findall(narrowed.text) == [
        f"https://store.test.com:{p}" for p in range(8010, 8020)
    ]
    assert alice.get("/export", params={"q": "9443"}).text.count("store.test.com:9443") == 0
    assert OFFERED.findall(alice.get("/export", params={"q": "bare"}).text) == []
    chosen = alice.get("/export", params={"url": "https://www.test.com", "q": "www"})
    assert 'id="f-url" name="url" type="text" value="https://www.test.com"' in chosen.text
    assert 'aria-current="true">https://www.test.com</a>' in chosen.text
