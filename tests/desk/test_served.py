"""desk.served_overview on SQLite and PostgreSQL: paging edges, the urgency of the expiry
that counts on each edge, the drift and failing filters, removed domains and another
tenant's never listed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from certdesk import desk as d
from certdesk.desk import Actor, Desk
from certdesk.errors import InvalidArgument
from certdesk.store.models import Domain
from certdesk.store.monitoring import DomainState
from tests.flows import new_tenant

AT = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
S = timedelta(seconds=1)
DAY = timedelta(days=1)
# URL -> (expiry that counts, latest probe ok, drift); on and around every urgency edge.
ACME: dict[str, tuple[datetime | None, bool | None, bool | None]] = {
    "https://a-expired-long.test.com": (AT - 400 * DAY, None, None),
    "https://a-expired-now.test.com": (AT, False, None),
    "https://a-critical-first.test.com": (AT + S, True, False),
    "https://a-critical-last.test.com": (AT + 4 * DAY - S, True, True),
    "https://a-warning-first.test.com": (AT + 4 * DAY, False, True),
    "https://a-warning-last.test.com": (AT + 31 * DAY - S, None, None),
    "https://a-ok.test.com": (AT + 31 * DAY, True, False),
    "https://a-none.test.com": (None, False, None),
}
URGENCY = {
    "https://a-expired-long.test.com": "expired",
    "https://a-expired-now.test.com": "expired",
    "https://a-critical-first.test.com": "critical",
    "https://a-critical-last.test.com": "critical",
    "https://a-warning-first.test.com": "warning",
    "https://a-warning-last.test.com": "warning",
    "https://a-ok.test.com": "ok",
    "https://a-none.test.com": "none",
}


@pytest.fixture
def at_desk(desk: Desk, operator: Actor) -> Desk:
    """Acme's domains as above, Beta's one (drifting, failing, expired), a removed one."""
    new_tenant(desk, operator, "Acme Hosting")
    new_tenant(desk, operator, "Beta Cloud")
    with desk.context(operator) as ctx:
        urls = {**dict.fromkeys(ACME, "Acme Hosting"), "https://b.test.com": "Beta Cloud"}
        urls["https://a-gone.test.com"] = "Acme Hosting"
        for url, tenant in urls.items():
            view = d.add_domain(ctx, url=url, tenant=tenant)
            expires, ok, drift = ACME.get(url, (AT - DAY, False, True))
            source = "served" if drift is not None else "installed"
            ctx.session.execute(
                update(Domain)
                .where(Domain.id == view.id)
                .values(expires_at=expires, expiry_source=source if expires else None)
            )
            if ok is not None:
                ctx.session.add(
                    DomainState(
                        domain_id=view.id,
                        last_probe_at=AT - DAY,
                        last_ok=ok,
                        last_error_kind=None if ok else "refused",
                        served_drift=drift,
                    )
                )
    desk.run(operator, d.remove_domain, url="https://a-gone.test.com")
    return dataclasses.replace(desk, now=lambda: AT)


def test_every_row_and_its_urgency(at_desk: Desk, operator: Actor) -> None:
    tenants = {t.name: t.id for t in at_desk.run(operator, d.list_tenants)}
    acme = Actor("alice", tenant_id=tenants["Acme Hosting"])
    page = at_desk.run(acme, d.served_overview, limit=100)
    assert page.total == len(ACME)
    assert page.at == AT
    by_url = {row.url: row for row in page.rows}
    assert set(by_url) == set(ACME)  # not Beta's, not the removed one
    assert {url: row.urgency for url, row in by_url.items()} == URGENCY
    assert by_url["https://a-expired-now.test.com"].last_error == "refused"
    assert by_url["https://a-ok.test.com"].last_error is None
    assert by_url["https://a-critical-last.test.com"].days_left == 3
    assert by_url["https://a-none.test.com"].source is None
    for label in set(URGENCY.values()):
        chosen = at_desk.run(acme, d.served_overview, urgency=label, limit=100)
        expected = {url for url, u in URGENCY.items() if u == label}
        assert {row.url for row in chosen.rows} == expected
        assert chosen.total == len(expected)
    drifting = at_desk.run(acme, d.served_overview, drift=True)
    assert {row.url for row in drifting.rows} == {
        "https://a-critical-last.test.com",
        "https://a-warning-first.test.com",
    }
    failing = at_desk.run(acme, d.served_overview, failing=True)
    assert {row.url for row in failing.rows} == {
        "https://a-expired-now.test.com",
        "https://a-warning-first.test.com",
        "https://a-none.test.com",
    }
    both = at_desk.run(acme, d.served_overview, drift=True, failing=True)
    assert [row.url for row in both.rows] == ["https://a-warning-first.test.com"]


def test_paging_edges(at_desk: Desk, operator: Actor) -> None:
    whole = at_desk.run(operator, d.served_overview, limit=100)
    assert whole.total == len(ACME) + 1
    order = [row.url for row in whole.rows]
    for size in (1, 3, len(order) - 1, len(order), len(order) + 1):
        paged: list[str] = []
        for offset in range(0, len(order) + size, size):
            page = at_desk.run(operator, d.served_overview, limit=size, offset=offset)
            assert page.total == len(order)
            paged += [row.url for row in page.rows]
        assert paged == order, size
    past = at_desk.run(operator, d.served_overview, limit=5, offset=len(order))
    assert (past.rows, past.total) == ([], len(order))
    assert at_desk.run(operator, d.served_overview, limit=0).rows == []


def test_two_tenants_isolated(at_desk: Desk, operator: Actor) -> None:
    tenants = {t.name: t.id for t in at_desk.run(operator, d.list_tenants)}
    beta = Actor("bob", tenant_id=tenants["Beta Cloud"])
    page = at_desk.run(beta, d.served_overview)
    assert [(row.url, row.tenant) for row in page.rows] == [("https://b.test.com", "Beta Cloud")]
    assert page.total == 1
    # Naming the other tenant answers as if it did not exist; filters never widen the scope.
    with pytest.raises(d.NotFound):
        at_desk.run(beta, d.served_overview, tenant="Acme Hosting")
    for filters in ({"drift": True}, {"failing": True}, {"urgency": "expired"}):
        found = at_desk.run(beta, d.served_overview, **filters)  # type: ignore[arg-type]
        assert [row.url for row in found.rows] == ["https://b.test.com"]
    only_acme = at_desk.run(operator, d.served_overview, tenant="Acme Hosting", limit=100)
    assert {row.url for row in only_acme.rows} == set(ACME)


def test_an_unknown_urgency_is_refused(at_desk: Desk, operator: Actor) -> None:
    with pytest.raises(InvalidArgument) as refused:
        at_desk.run(operator, d.served_overview, urgency="soon")
    assert "expired" in (refused.value.hint or "")
