"""Flow 6: tenants and domains — add, list, change, stop monitoring, remove (history kept)."""

from __future__ import annotations

from sqlalchemy import select

from certdesk import desk as d
from certdesk.desk import Actor, Desk
from certdesk.store.models import Binding, Domain
from tests.flows import LEAF_URLS, new_tenant, submit_leaf
from tests.openssl_pki import OpenSSLPKI


def test_tenants_add_list_change(desk: Desk, operator: Actor) -> None:
    added = desk.run(
        operator,
        d.add_tenant,
        name="  Zeta Reseller ",
        emails=["ops@zeta.example", "OPS@zeta.example", "billing@zeta.example"],
    )
    assert (added.name, added.emails, added.domains) == (
        "Zeta Reseller",
        ("ops@zeta.example", "billing@zeta.example"),
        0,
    )
    new_tenant(desk, operator, "Acme Hosting")
    desk.run(operator, d.add_domain, url="shop.zeta.example", tenant="Zeta Reseller")
    listed = desk.run(operator, d.list_tenants)
    assert [(t.name, t.domains) for t in listed] == [("Acme Hosting", 0), ("Zeta Reseller", 1)]
    changed = desk.run(
        operator, d.change_tenant, name="Zeta Reseller", new_name="Zeta", emails=["a@zeta.example"]
    )
    assert (changed.id, changed.name, changed.emails, changed.domains) == (
        added.id,
        "Zeta",
        ("a@zeta.example",),
        1,
    )
    event = desk.run(operator, d.list_audit)[0]
    assert event.action == "tenant.change"
    assert event.detail["before"]["name"] == "Zeta Reseller"
    assert event.detail["after"] == {"name": "Zeta", "emails": ["a@zeta.example"]}
    assert [t.name for t in desk.run(operator, d.list_tenants)] == ["Acme Hosting", "Zeta"]


def test_domains_add_list_change_unmonitor_remove(
    desk: Desk, operator: Actor, pki: OpenSSLPKI
) -> None:
    new_tenant(desk, operator, "Acme Hosting")
    new_tenant(desk, operator, "Beta Cloud")
    added = desk.run(
        operator,
        d.add_domain,
        url="HTTPS://Store.Test.com:443/",
        tenant="Acme Hosting",
        portal="bss",
        connect_to="10.0.0.5:8443",
    )
    assert (added.url, added.hostname, added.port, added.portal, added.connect_to) == (
        "https://store.test.com",
        "store.test.com",
        443,
        "bss",
        "10.0.0.5:8443",
    )
    assert (added.monitored, added.certificate_sha256) == (True, None)
    desk.run(operator, d.add_domain, url="beta.example.net:8443", tenant="Beta Cloud")
    submit_leaf(desk, operator, pki)  # also adds https://www.test.com/shop

    everyone = desk.run(operator, d.list_domains)
    assert [v.url for v in everyone] == [
        "https://beta.example.net:8443",
        "https://store.test.com",
        "https://www.test.com/shop",
    ]
    acme = desk.run(operator, d.list_domains, tenant="Acme Hosting")
    assert [v.url for v in acme] == list(LEAF_URLS)
    assert acme[0].portal == "bss"

    changed = desk.run(
        operator, d.change_domain, url="store.test.com", portal="storefront", connect_to="[::1]:443"
    )
    assert (changed.portal, changed.connect_to, changed.monitored) == (
        "storefront",
        "[::1]:443",
        True,
    )
    off = desk.run(operator, d.change_domain, url="https://store.test.com", monitored=False)
    assert off.monitored is False
    assert desk.run(operator, d.list_audit)[0].detail == {
        "url": "https://store.test.com",
        "monitored": False,
    }
    # Not monitored, still listed with its certificate.
    listed = {v.url: v for v in desk.run(operator, d.list_domains)}
    assert listed["https://store.test.com"].monitored is False
    assert listed["https://store.test.com"].certificate_sha256 is not None

    removed = desk.run(operator, d.remove_domain, url="https://www.test.com")
    assert removed.url == "https://www.test.com/shop"
    assert [v.url for v in desk.run(operator, d.list_domains, tenant="Acme Hosting")] == [
        "https://store.test.com"
    ]
    with desk.store.transaction() as session:  # history kept
        old = session.scalars(select(Domain).where(Domain.hostname == "www.test.com")).one()
        assert old.removed_at is not None
        assert old.monitored is False
        binding = session.scalars(select(Binding).where(Binding.domain_id == old.id)).one()
        assert binding.unbound_at == old.removed_at
    # The URL is free again, even for another tenant; the old row stays.
    again = desk.run(operator, d.add_domain, url="https://www.test.com", tenant="Beta Cloud")
    assert (again.tenant, again.certificate_sha256) == ("Beta Cloud", None)
    assert again.id != removed.id
    with desk.store.transaction() as session:
        rows = session.scalars(select(Domain).where(Domain.hostname == "www.test.com")).all()
        assert len(rows) == 2
    actions = [a.action for a in desk.run(operator, d.list_audit)]
    assert {"domain.add", "domain.change", "domain.remove"} <= set(actions)
