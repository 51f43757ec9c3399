"""The domain page of a platform-managed domain: its state in words, what to set in DNS,
the CA's problem when it failed, when it is tried again; nothing of it for another
tenant, and no such section for a customer's certificate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from certdesk import desk as d
from certdesk.desk import Desk
from certdesk.desk.managed import record_failure, record_renewal_info, record_waiting
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
    assert "renewal window" not in failed  # no renewal information asked for

    # A CA with renewal information: when it renews, when the CA is asked again.
    with web_desk.context(OPERATOR) as ctx:
        record_renewal_info(
            ctx,
            domain_id=domain,
            renew_at=datetime(2031, 5, 4, 3, 2, tzinfo=UTC),
            next_check=datetime(2030, 1, 2, 9, 30, tzinfo=UTC),
        )
    advised = alice.get("/domain", params={"url": URL}).text
    assert "<dt>Renews</dt><dd>2031-05-04 03:02 UTC</dd>" in advised
    assert "renewal window</dt><dd>2030-01-02 09:30 UTC</dd>" in advised

    # A customer's certificate has no such section; another tenant sees nothing at all.
    assert 'id="managed"' not in alice.get("/domain", params={"url": "https://own.test.com"}).text
    bob, _ = login("bob")
    theirs = bob.get("/domain", params={"url": URL})
    assert theirs.status_code == 404
    assert "shop.oldhost.test" not in theirs.text
