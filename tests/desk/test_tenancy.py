"""Tenant isolation: a reseller sees only its own tenant's rows; another's answers not-found."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from certdesk import desk as d
from certdesk.desk import Actor, Desk
from certdesk.errors import CertdeskError
from certdesk.store.models import Domain
from tests.database import unchanged
from tests.flows import new_tenant, order, signed, submit_leaf
from tests.openssl_pki import OpenSSLPKI
from tests.signing import with_chain


def test_a_reseller_sees_only_its_own(
    desk: Desk, operator: Actor, pki: OpenSSLPKI, tmp_path: Path
) -> None:
    acme_id = new_tenant(desk, operator, "Acme Hosting")
    beta_id = new_tenant(desk, operator, "Beta Cloud")
    submit_leaf(desk, operator, pki)  # Acme: store.test.com, www.test.com/shop
    acme_order = order(desk, operator, cn="shop.example.org")
    desk.run(operator, d.add_domain, url="https://beta.example.net", tenant="Beta Cloud")
    beta = Actor("beta-user", beta_id)
    acme = Actor("acme-user", acme_id)
    beta_order = order(desk, beta, tenant="Beta Cloud", cn="beta.example.net")

    # Listings are scoped.
    assert [t.name for t in desk.run(beta, d.list_tenants)] == ["Beta Cloud"]
    assert [v.url for v in desk.run(beta, d.list_domains)] == ["https://beta.example.net"]
    assert [o.id for o in desk.run(beta, d.list_orders)] == [beta_order.id]
    assert {r.tenant for r in desk.run(beta, d.list_requests)} == {"Beta Cloud"}
    assert {a.tenant for a in desk.run(beta, d.list_audit)} == {"Beta Cloud"}
    assert {a.tenant for a in desk.run(acme, d.list_audit)} == {"Acme Hosting"}
    assert len(desk.run(operator, d.list_domains)) == 3
    acme_request = desk.run(acme, d.list_requests)[0].id

    # Everything of Acme's answers not-found to Beta, and nothing changes.
    attempts = {
        "tenant listing": lambda: desk.run(beta, d.list_domains, tenant="Acme Hosting"),
        "requests listing": lambda: desk.run(beta, d.list_requests, tenant="Acme Hosting"),
        "audit listing": lambda: desk.run(beta, d.list_audit, tenant="Acme Hosting"),
        "order listing": lambda: desk.run(beta, d.list_orders, tenant="Acme Hosting"),
        "show order": lambda: desk.run(beta, d.show_order, order_id=acme_order.id),
        "cancel order": lambda: desk.run(beta, d.cancel_order, order_id=acme_order.id),
        "request": lambda: desk.run(beta, d.get_request, request_id=acme_request),
        "change domain": lambda: desk.run(
            beta, d.change_domain, url="store.test.com", monitored=False
        ),
        "remove domain": lambda: desk.run(beta, d.remove_domain, url="store.test.com"),
        "renew": lambda: desk.run(beta, d.renew, url="store.test.com"),
        "export": lambda: desk.run(beta, d.export_certificate, url="store.test.com", to="pem"),
        "domain for Acme": lambda: desk.run(
            beta, d.add_domain, url="new.example.org", tenant="Acme Hosting"
        ),
        "order for Acme": lambda: order(desk, beta, tenant="Acme Hosting", cn="x.example.org"),
        "rename Acme": lambda: desk.run(beta, d.change_tenant, name="Acme Hosting", emails=[]),
    }
    for what, attempt in attempts.items():
        with unchanged(desk), pytest.raises(CertdeskError) as caught:
            attempt()
        assert caught.value.code == "not-found", what

    # The operators' own actions are refused outright, and change nothing either.
    for what, attempt in {
        "add a tenant": lambda: desk.run(beta, d.add_tenant, name="Gamma"),
        "rename itself": lambda: desk.run(beta, d.change_tenant, name="Beta Cloud", new_name="B"),
    }.items():
        with unchanged(desk), pytest.raises(CertdeskError) as caught:
            attempt()
        assert caught.value.code == "forbidden", what

    # Another tenant's row answers exactly as a row that does not exist: no oracle.
    def message(attempt: Callable[[], object]) -> str:
        with pytest.raises(CertdeskError) as caught:
            attempt()
        return caught.value.message

    missing = 10_000 + acme_order.id
    assert message(lambda: desk.run(beta, d.show_order, order_id=acme_order.id)) == message(
        lambda: desk.run(beta, d.show_order, order_id=missing)
    ).replace(str(missing), str(acme_order.id))
    assert message(lambda: desk.run(beta, d.renew, url="store.test.com")) == message(
        lambda: desk.run(beta, d.renew, url="nothing.test.com")
    ).replace("nothing.test.com", "store.test.com")

    # Acme's certificate is not Beta's to complete; Acme completes it.
    crt = with_chain(pki, signed(pki, acme_order, tmp_path), tmp_path / "acme.pem")
    with unchanged(desk), pytest.raises(d.Refused) as refused:
        desk.run(beta, d.complete_order, data=crt.read_bytes())
    assert [f.code for f in refused.value.findings] == ["no-matching-order"]
    done = desk.run(acme, d.complete_order, data=crt.read_bytes())
    assert done.order_id == acme_order.id
    assert desk.run(beta, d.show_order, order_id=beta_order.id).status == "pending"


def test_a_statement_built_once_needs_the_resellers_tenant_bound(
    desk: Desk, operator: Actor
) -> None:
    """Ctx.built_once: a reseller's statement carries its tenant only as a parameter, so
    one run without Ctx.bound fails rather than shows another tenant's rows."""
    acme = new_tenant(desk, operator, "Acme Hosting")
    beta = new_tenant(desk, operator, "Beta Cloud")
    desk.run(operator, d.add_domain, url="a.test.com", tenant="Acme Hosting")
    desk.run(operator, d.add_domain, url="b.test.com", tenant="Beta Cloud")

    def build(scope: Any) -> Any:
        return scope.scoped(select(func.count()).select_from(Domain), Domain.tenant_id)

    for tenant_id in (acme, beta):
        with desk.context(Actor("reseller", tenant_id=tenant_id), readonly=True) as ctx:
            stmt = ctx.built_once(("test-count",), build)
            assert ctx.session.scalar(stmt, ctx.bound({})) == 1
            with pytest.raises(Exception, match="certdesk_scope_tenant"):
                ctx.session.scalar(stmt, {})
    with desk.context(operator, readonly=True) as ctx:
        assert ctx.session.scalar(ctx.built_once(("test-count",), build), ctx.bound({})) == 2
