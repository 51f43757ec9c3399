"""The domain page of a platform-managed domain: its state in words, what to set in DNS,
the CA's problem when it failed, when it is tried again; nothing of it for another
tenant, and no such section for a customer's certificate."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from certdesk import desk as d
from certdesk.desk import Desk
from certdesk.desk.managed import record_failure, record_waiting
from tests.web.conftest import OPERATOR, TENANT_A

Login = Callable[[str], tuple[httpx.Client, str]]
URL = "https://shop.test.com"
WAITING = "shop.test.com has CNAME shop.oldhost.test; set CNAME edge.platform.test"


def test_the_domain_page_shows_where_a_managed_certificate_stands(
    login: Login, web_desk: Desk
) -> None:
    domain = web_desk.run(OPERATOR, d.add_domain, url=URL, tenant=TENANT_A, managed="acme").id
    web_desk.run(OPERATOR, d.add_domain, url="https://own.test.com", tenant=TENANT_A)
    with web_desk.context(OPERATOR) as ctx:
        record_waiting(ctx, domain_id=domain, message=WAITING)
    alice, _ = login("alice")

    page = alice.get("/domain", params={"url": URL})
    assert page.status_code == 200
    assert 'id="managed-state">Waiting for DNS</span>' in page.text
    assert WAITING in page.text
    assert "certdesk " not in page.text.split('id="managed"')[1].split("</section>")[0]

    with web_desk.context(OPERATOR) as ctx:
        record_failure(
            ctx,
            domain_id=domain,
            message="the certificate authority refused: too many certificates",
            problem={
                "type": "urn:ietf:params:acme:error:rateLimited",
                "detail": "too many certificates already issued for test.com",
            },
        )
    failed = alice.get("/domain", params={"url": URL}).text
    assert 'id="managed-state">Failed</span>' in failed
    assert "urn:ietf:params:acme:error:rateLimited" in failed
    assert "too many certificates already issued for test.com" in failed
    assert "Next try" in failed

    # A customer's certificate has no such section; another tenant sees nothing at all.
    assert 'id="managed"' not in alice.get("/domain", params={"url": "https://own.test.com"}).text
    bob, _ = login("bob")
    theirs = bob.get("/domain", params={"url": URL})
    assert theirs.status_code == 404
    assert "shop.oldhost.test" not in theirs.text
