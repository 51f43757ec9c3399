"""desk.requests_page, desk.audit_page and desk.search_domains on SQLite and PostgreSQL:
one page at a time with the total the filters keep, newest first, every filter, text
taken literally (``%`` and ``_``), bad filters refused with their field, and another
tenant's rows never listed nor counted."""

from __future__ import annotations

import pytest

from certdesk import desk as d
from certdesk.desk import Actor, Desk
from certdesk.desk.records import advance, open_request
from certdesk.errors import InvalidArgument
from tests.database import unchanged
from tests.flows import new_tenant

KINDS = ("submit", "csr", "renew")


def _requests(desk: Desk, operator: Actor, tenant_id: int, prefix: str, n: int) -> None:
    """``n`` requests of ``tenant_id``: kinds in turn, every third completed, summaries
    ``{prefix} request {i}`` (and one with ``100%_done`` in it)."""
    with desk.context(operator) as ctx:
        for i in range(n):
            summary = f"{prefix} request {i}" + (" 100%_done" if i == 7 else "")
            made = open_request(ctx, tenant_id, KINDS[i % 3], summary)
            if i % 3 == 0:
                advance(ctx, made, "completed", "done")


def test_requests_come_a_page_at_a_time_with_filters(desk: Desk, operator: Actor) -> None:
    acme = new_tenant(desk, operator, "Acme Hosting")
    beta = new_tenant(desk, operator, "Beta Cloud")
    _requests(desk, operator, acme, "acme", 120)
    _requests(desk, operator, beta, "beta", 30)
    reseller = Actor("acme-user", acme)

    first = desk.run(reseller, d.requests_page, limit=50)
    assert first.total == 120
    assert [r.summary.split(" 100%")[0] for r in first.rows] == [
        f"acme request {i}" for i in range(119, 69, -1)
    ]
    assert first.rows[0].timeline[0][1] == "received"
    last = desk.run(reseller, d.requests_page, limit=50, offset=100)
    assert [r.summary.split(" 100%")[0] for r in last.rows] == [
        f"acme request {i}" for i in range(19, -1, -1)
    ]
    past = desk.run(reseller, d.requests_page, limit=50, offset=150)
    assert past.rows == []
    assert past.total == 120

    completed = desk.run(reseller, d.requests_page, status="completed", limit=500)
    assert completed.total == 40
    assert {r.status for r in completed.rows} == {"completed"}
    renewals = desk.run(reseller, d.requests_page, kind="renew", status="received", limit=500)
    assert renewals.total == 40
    assert {(r.kind, r.status) for r in renewals.rows} == {("renew", "received")}
    words = desk.run(reseller, d.requests_page, search="  ACME REQUEST 11", limit=500)
    assert sorted(r.summary for r in words.rows) == [
        "acme request 11",
        "acme request 110",
        "acme request 111",
        "acme request 112",
        "acme request 113",
        "acme request 114",
        "acme request 115",
        "acme request 116",
        "acme request 117",
        "acme request 118",
        "acme request 119",
    ]
    literal = desk.run(reseller, d.requests_page, search="0%_d", limit=500)
    assert [r.summary for r in literal.rows] == ["acme request 7 100%_done"]
    assert desk.run(reseller, d.requests_page, search="%", limit=500).total == 1

    everyone = desk.run(operator, d.requests_page, limit=10)
    assert everyone.total == 150
    beta_only = desk.run(operator, d.requests_page, tenant="Beta Cloud", limit=500)
    assert beta_only.total == 30
    assert {r.tenant for r in beta_only.rows} == {"Beta Cloud"}
    # A reseller never sees nor counts another tenant's: searching its words finds nothing.
    assert desk.run(reseller, d.requests_page, search="beta").total == 0
    with unchanged(desk), pytest.raises(d.NotFound):
        desk.run(reseller, d.requests_page, tenant="Beta Cloud")


@pytest.mark.parametrize(
    ("filters", "field"),
    [({"status": "done"}, "status"), ({"kind": "install"}, "kind")],
)
def test_a_bad_request_filter_is_refused_with_its_field(
    desk: Desk, operator: Actor, filters: dict[str, str], field: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        desk.run(operator, d.requests_page, **filters)
    assert caught.value.field == field
    assert caught.value.hint is not None
    assert "choose one of" in caught.value.hint


def test_a_request_older_than_any_listing_is_still_found(desk: Desk, operator: Actor) -> None:
    acme = new_tenant(desk, operator, "Acme Hosting")
    _requests(desk, operator, acme, "acme", 520)
    oldest = desk.run(operator, d.requests_page, limit=1, offset=519).rows[0]
    assert oldest.summary == "acme request 0"
    assert desk.run(Actor("acme-user", acme), d.get_request, request_id=oldest.id) == oldest


def test_the_audit_log_comes_a_page_at_a_time_with_filters(desk: Desk, operator: Actor) -> None:
    acme = new_tenant(desk, operator, "Acme Hosting")
    beta = new_tenant(desk, operator, "Beta Cloud")
    for n in range(60):
        desk.run(operator, d.add_domain, url=f"https://a{n:02d}.test.com", tenant="Acme Hosting")
    desk.run(operator, d.add_domain, url="https://b.test.com", tenant="Beta Cloud")
    reseller = Actor("user:alice", acme)
    desk.run(reseller, d.change_tenant, name="Acme Hosting", emails=["ops@acme.test"])

    mine = desk.run(reseller, d.audit_page, limit=50)
    assert mine.total == 62  # the tenant, its 60 domains, its e-mails
    assert {a.tenant for a in mine.rows} == {"Acme Hosting"}
    assert mine.rows[0].action == "tenant.change"
    ids = [a.id for a in mine.rows]
    assert ids == sorted(ids, reverse=True)
    rest = desk.run(reseller, d.audit_page, limit=50, offset=50)
    assert len(rest.rows) == 12
    assert rest.rows[-1].action == "tenant.add"

    tenants = desk.run(reseller, d.audit_page, action="tenant.")
    assert [a.action for a in tenants.rows] == ["tenant.change", "tenant.add"]
    by_alice = desk.run(reseller, d.audit_page, actor="ALICE")
    assert [a.action for a in by_alice.rows] == ["tenant.change"]
    assert desk.run(reseller, d.audit_page, action="tenant%").total == 0

    assert desk.run(operator, d.audit_page).total == 64
    assert desk.run(operator, d.audit_page, tenant="Beta Cloud").total == 2
    assert desk.run(Actor("beta-user", beta), d.audit_page, action="domain.").total == 1
    with pytest.raises(d.NotFound):
        desk.run(reseller, d.audit_page, tenant="Beta Cloud")


def test_a_search_finds_a_few_of_the_actors_urls(desk: Desk, operator: Actor) -> None:
    acme = new_tenant(desk, operator, "Acme Hosting")
    new_tenant(desk, operator, "Beta Cloud")
    for n in range(30):
        desk.run(operator, d.add_domain, url=f"https://shop{n:02d}.test.com", tenant="Acme Hosting")
    desk.run(operator, d.add_domain, url="https://shop_x.test.com", tenant="Acme Hosting")
    desk.run(operator, d.add_domain, url="https://shop-beta.test.com", tenant="Beta Cloud")
    reseller = Actor("acme-user", acme)

    found = desk.run(reseller, d.search_domains, text="SHOP1", limit=5)
    assert [v.url for v in found] == [f"https://shop1{n}.test.com" for n in range(5)]
    assert [v.url for v in desk.run(reseller, d.search_domains, text="p_x")] == [
        "https://shop_x.test.com"
    ]
    assert desk.run(reseller, d.search_domains, text="beta") == []
    assert [v.url for v in desk.run(operator, d.search_domains, text="beta")] == [
        "https://shop-beta.test.com"
    ]
    assert desk.run(reseller, d.search_domains, text="shop", installed=True) == []
