"""The portal's ownership claims, between tenants: another tenant's pending claim is the
404 page on every route that reaches it ("Check now" included), and is on nobody's Claims
page but its own tenant's and the operators'."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import httpx

from certdesk import desk as d
from certdesk.desk import Actor, Desk
from tests.database import unchanged
from tests.web.conftest import TENANT_B

Login = Callable[[str], tuple[httpx.Client, str]]
URL = "https://claimed.test.com"


def _claim_of_b(web_desk: Desk) -> d.DomainView:
    """Bob's pending claim, made as a reseller's claim is where domain verification is on."""
    verifying = dataclasses.replace(
        web_desk, policy=dataclasses.replace(web_desk.policy, claims=True)
    )
    [bob] = [t for t in web_desk.run(Actor("test"), d.list_tenants) if t.name == TENANT_B]
    view = verifying.run(Actor("bob", bob.id), d.add_domain, url=URL, tenant=TENANT_B)
    assert view.claim == "pending"
    return view


def test_another_tenants_claim_is_not_found_anywhere(login: Login, web_desk: Desk) -> None:
    claim = _claim_of_b(web_desk)
    token = claim.claim_token
    assert token
    alice, csrf = login("alice")
    with unchanged(web_desk):
        page = alice.get("/domain", params={"url": URL})
        assert page.status_code == 404
        checked = alice.post("/domain/verify", data={"csrf_token": csrf, "url": URL})
        assert checked.status_code == 404
        assert "<code>not-found</code>" in checked.text
        claims = alice.get("/claims")
        assert claims.status_code == 200
        assert "claimed.test.com" not in claims.text
        assert token not in claims.text
        assert 'id="no-claims"' in claims.text
    bob, _ = login("bob")
    mine = bob.get("/claims").text
    assert "claimed.test.com" in mine
    assert token in mine
    domain = bob.get("/domain", params={"url": URL}).text
    assert 'id="claim-token">' + token in domain
    admin, _ = login("admin")
    everyone = admin.get("/claims").text
    assert "claimed.test.com" in everyone
    assert TENANT_B in everyone


def test_check_now_needs_the_forms_token(login: Login, web_desk: Desk) -> None:
    _claim_of_b(web_desk)
    bob, _ = login("bob")
    with unchanged(web_desk):
        refused = bob.post("/domain/verify", data={"csrf_token": "wrong", "url": URL})
        assert refused.status_code == 403
