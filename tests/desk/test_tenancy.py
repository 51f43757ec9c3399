"""Tenant isolation: a reseller sees only its own tenant's rows; another's answers not-found."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import DateTime, delete, func, select, update

from certdesk import desk as d
from certdesk.desk import Actor, Desk, tenancy
from certdesk.errors import CertdeskError
from certdesk.store.models import Base, Domain, Tenant, UTCDateTime
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


# Expiries (days after AT; None: unknown) of each tenant's domains: every urgency, week
# and cut the example parameters below can draw has rows of both tenants.
ACME_DAYS: list[int | None] = [-40, -2, 0, 1, 3, 8, 12, 20, 30, 45, 70, 100, 400, None, None]
BETA_DAYS: list[int | None] = [-30, -1, 2, 5, 9, 16, 24, 35, 60, 90, 200, None]
AT = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
CUT = timedelta(days=9)  # between two time parameters


def example_params(stmt: Any, viewer: int, other: int) -> list[dict[str, Any]]:
    """Values for a statement's parameters (the tenant left to the runner): times AT, AT +
    9 days… in the order of their names (``at``, then ``c0``, ``c1``…, or ``u1``, ``u2``…),
    pages of 1,000 from the start, and the ``owner`` as each tenant in turn."""
    compiled = stmt.compile()
    names = [n for n, b in compiled.binds.items() if b.required and n != tenancy.SCOPE_TENANT]
    times = sorted(
        (n for n in names if isinstance(compiled.binds[n].type, DateTime | UTCDateTime)),
        key=lambda n: (n.rstrip("0123456789"), int(n[len(n.rstrip("0123456789")) :] or -1)),
    )
    base: dict[str, Any] = {name: AT + k * CUT for k, name in enumerate(times)}
    known = {"limit": 1000, "offset": 0}
    for name in names:
        if name in times or name == "owner":
            continue
        if name not in known:
            pytest.fail(f"teach this test a value for the parameter :{name} of {stmt}")
        base[name] = known[name]
    if "owner" in names:
        return [{**base, "owner": viewer}, {**base, "owner": other}]
    return [base]


def run_all(desk: Desk, actor: Actor, runs: list[Run]) -> list[list[tuple[Any, ...]]]:
    with desk.context(actor, readonly=True) as ctx:
        return [[tuple(row) for row in c.execute(ctx, shape, params)] for c, shape, params in runs]


Run = tuple[tenancy.Cached[Any], tenancy.Shape, dict[str, Any]]


@pytest.mark.parametrize("erased", ["Acme Hosting", "Beta Cloud"])
def test_every_cached_statement_sees_only_its_resellers_rows(
    desk: Desk, operator: Actor, erased: str
) -> None:
    """Each statement the desk builds once, in each of its example shapes, run as a reseller
    answers the same before and after every row of the other tenant is erased; run as the
    operator, the same parameters reach the other tenant's rows (so the data can tell)."""
    statements = tenancy.registered()
    assert statements, "the desk registers its cached statements when it is imported"
    tenants = {name: new_tenant(desk, operator, name) for name in ("Acme Hosting", "Beta Cloud")}
    with desk.context(operator) as ctx:
        for name, prefix, days in (
            ("Acme Hosting", "a", ACME_DAYS),
            ("Beta Cloud", "b", BETA_DAYS),
        ):
            for n, day in enumerate(days):
                view = d.add_domain(ctx, url=f"{prefix}{n:02d}.test.com", tenant=name)
                expires = None if day is None else AT + timedelta(days=day)
                ctx.session.execute(
                    update(Domain).where(Domain.id == view.id).values(expires_at=expires)
                )
    (viewer_name,) = set(tenants) - {erased}
    viewer, other = tenants[viewer_name], tenants[erased]
    reseller = Actor("reseller", tenant_id=viewer)
    runs: list[Run] = []
    for statement in statements:
        if statement.by_credential:  # finds a caller before anyone acts: never a reseller's
            for shape in statement.examples:
                with (
                    desk.context(reseller, readonly=True) as ctx,
                    pytest.raises(ValueError, match="runs before a reseller acts"),
                ):
                    statement.execute(ctx, shape, {})
            continue
        for shape in statement.examples:
            stmt = statement.statement(tenancy.RESELLER, shape)
            runs += [(statement, shape, p) for p in example_params(stmt, viewer, other)]
    before = run_all(desk, reseller, runs)
    everyone = run_all(desk, operator, runs)
    for statement in statements:
        for shape in statement.examples if not statement.by_credential else ():
            mine = [n for n, (c, s, _) in enumerate(runs) if c is statement and s == shape]
            assert any(before[n] != everyone[n] for n in mine), (
                f"{statement.name}{shape}: the operator sees what the reseller sees, so the "
                "test data cannot tell the tenants apart"
            )

    # Every row of the other tenant is erased (children first).
    with desk.context(operator) as ctx:
        for table in reversed(Base.metadata.sorted_tables):
            if "tenant_id" in table.c:
                ctx.session.execute(delete(table).where(table.c.tenant_id == other))
        ctx.session.execute(delete(Tenant).where(Tenant.id == other))
    after = run_all(desk, reseller, runs)
    for n, (statement, shape, params) in enumerate(runs):
        assert after[n] == before[n], f"{statement.name}{shape} {params} sees {erased}'s rows"


def _count_all(scope: tenancy.Scope) -> Any:
    return scope.scoped(select(func.count()).select_from(Domain), Domain.tenant_id)


def test_a_cached_statement_binds_the_tenant_from_the_actor_only(
    desk: Desk, operator: Actor
) -> None:
    """The runner binds the reseller's tenant itself: a caller cannot pass one, and the
    reseller's statement run without it fails rather than shows another tenant's rows."""
    acme = new_tenant(desk, operator, "Acme Hosting")
    beta = new_tenant(desk, operator, "Beta Cloud")
    desk.run(operator, d.add_domain, url="a.test.com", tenant="Acme Hosting")
    desk.run(operator, d.add_domain, url="b.test.com", tenant="Beta Cloud")
    desk.run(operator, d.add_domain, url="c.test.com", tenant="Beta Cloud")
    counting = tenancy.Cached(_count_all, [()])

    for tenant_id, count in ((acme, 1), (beta, 2)):
        with desk.context(Actor("reseller", tenant_id=tenant_id), readonly=True) as ctx:
            assert counting.execute(ctx, (), {}).scalar() == count
            with pytest.raises(ValueError, match="bound from the actor"):
                counting.execute(ctx, (), {tenancy.SCOPE_TENANT: acme})
            raw = counting.statement(tenancy.RESELLER, ())
            with pytest.raises(Exception, match="certdesk_scope_tenant"):
                ctx.session.scalar(raw, {})
    with desk.context(operator, readonly=True) as ctx:
        assert counting.execute(ctx, (), {}).scalar() == 3


def test_a_builder_that_could_bake_a_tenant_in_is_refused() -> None:
    tenant_id = 7

    def closes_over(scope: tenancy.Scope) -> Any:
        return select(Domain.id).where(Domain.tenant_id == tenant_id)

    with pytest.raises(TypeError, match="must not close over anything"):
        tenancy.Cached(closes_over, [()])

    unscoped = tenancy.Cached(_unscoped, [()])
    assert unscoped.statement(tenancy.OPERATOR, ()) is not None  # an operator's sees all
    with pytest.raises(TypeError, match=r"must be limited with Scope\.scoped"):
        unscoped.statement(tenancy.RESELLER, ())

    by_id = tenancy.Cached(_by_tenant, [(1,)])
    with pytest.raises(TypeError, match="only flags and words"):
        by_id.statement(tenancy.RESELLER, (tenant_id,))


def _unscoped(scope: tenancy.Scope) -> Any:
    return select(Domain.id)


def _by_tenant(scope: tenancy.Scope, tenant_id: int) -> Any:
    return scope.scoped(select(Domain.id).where(Domain.tenant_id == tenant_id), Domain.tenant_id)
