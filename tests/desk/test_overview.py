"""The dashboard's figures (desk.domain_overview) against a plain-Python count of the same
expiries: urgency counts, the weekly chart, and paging soonest-first, with domains that sit
exactly on every edge, with no expiry, removed, or another tenant's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from certdesk import desk as d
from certdesk.desk import Actor, Desk
from certdesk.store.models import Domain
from tests.flows import new_tenant

AT = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
Buckets = tuple[tuple[str, timedelta], ...]
BUCKETS: Buckets = (("critical", timedelta(days=4)), ("warning", timedelta(days=31)))
# Edges on a week's start, on the chart's end and past it.
OTHER_BUCKETS: Buckets = (
    ("week", timedelta(days=7)),
    ("quarter", timedelta(days=90)),
    ("later", timedelta(days=120)),
)
CHART_DAYS = 90
S = timedelta(seconds=1)
DAY = timedelta(days=1)

# Offsets from AT on and around every edge of the urgencies and of the chart's weeks.
OFFSETS: list[timedelta | None] = [
    -400 * DAY,
    -S,
    timedelta(0),
    S,
    4 * DAY - S,
    4 * DAY,
    7 * DAY - S,
    7 * DAY,
    7 * DAY + S,
    31 * DAY - S,
    31 * DAY,
    84 * DAY,
    90 * DAY - S,
    90 * DAY,
    90 * DAY + S,
    120 * DAY - S,
    120 * DAY,
    400 * DAY,
    None,
    None,
    4 * DAY,  # a tie with another domain: the URL breaks it
]


def urgency(expires: datetime | None, buckets: Buckets = BUCKETS) -> str:
    if expires is None:
        return "none"
    if expires <= AT:
        return "expired"
    for label, delta in buckets:
        if expires < AT + delta:
            return label
    return "ok"


def week(expires: datetime | None) -> int | None:
    if expires is None or not AT < expires <= AT + timedelta(days=CHART_DAYS):
        return None
    return min(int((expires - AT) / timedelta(days=7)), -(-CHART_DAYS // 7) - 1)


def expected_order(domains: dict[str, datetime | None]) -> list[str]:
    return sorted(domains, key=lambda url: (domains[url] is None, domains[url] or AT, url))


@pytest.fixture
def fleet(desk: Desk, operator: Actor) -> dict[str, dict[str, datetime | None]]:
    """URL -> expiry of the active domains of two tenants (plus removed ones, not listed)."""
    new_tenant(desk, operator, "Acme Hosting")
    new_tenant(desk, operator, "Beta Cloud")
    fleet: dict[str, dict[str, datetime | None]] = {"Acme Hosting": {}, "Beta Cloud": {}}
    with desk.context(operator) as ctx:
        for tenant, prefix in (("Acme Hosting", "a"), ("Beta Cloud", "b")):
            for n, offset in enumerate(OFFSETS):
                # Beta's expiries are shifted by a day, so the two tenants' figures differ.
                shift = DAY if tenant == "Beta Cloud" else timedelta(0)
                expires = None if offset is None else AT + offset + shift
                view = d.add_domain(ctx, url=f"{prefix}{n:02d}.test.com", tenant=tenant)
                ctx.session.execute(
                    update(Domain).where(Domain.id == view.id).values(expires_at=expires)
                )
                fleet[tenant][view.url] = expires
        gone = d.add_domain(ctx, url="gone.test.com", tenant="Acme Hosting")
        ctx.session.execute(update(Domain).where(Domain.id == gone.id).values(expires_at=AT + S))
    desk.run(operator, d.remove_domain, url="gone.test.com")
    return fleet


def check(
    desk: Desk, actor: Actor, domains: dict[str, datetime | None], buckets: Buckets = BUCKETS
) -> None:
    overview = desk.run(actor, d.domain_overview, at=AT, buckets=buckets, limit=1000)
    expected_counts = dict.fromkeys(["none", "expired", *(b for b, _ in buckets), "ok"], 0)
    for expires in domains.values():
        expected_counts[urgency(expires, buckets)] += 1
    assert overview.counts == expected_counts
    assert overview.total == len(domains)
    expected_weeks = [0] * 13
    for expires in domains.values():
        if (n := week(expires)) is not None:
            expected_weeks[n] += 1
    assert overview.weeks == expected_weeks
    order = expected_order(domains)
    assert [row.url for row in overview.rows] == order
    assert [row.not_after for row in overview.rows] == [domains[url] for url in order]
    # Paged by 3: the pages put together are the whole order, across the dated/undated edge.
    paged: list[str] = []
    for offset in range(0, len(domains) + 3, 3):
        page = desk.run(actor, d.domain_overview, at=AT, buckets=buckets, limit=3, offset=offset)
        paged += [row.url for row in page.rows]
    assert paged == order
    # One urgency at a time: its rows, in order, and its count as the total.
    for label, count in expected_counts.items():
        chosen = desk.run(actor, d.domain_overview, at=AT, buckets=buckets, show=label, limit=1000)
        assert chosen.total == count
        assert [row.url for row in chosen.rows] == [
            url for url in order if urgency(domains[url], buckets) == label
        ]


def test_operator_sees_every_tenant(desk: Desk, operator: Actor, fleet: dict) -> None:
    check(desk, operator, {**fleet["Acme Hosting"], **fleet["Beta Cloud"]})


def test_other_buckets(desk: Desk, operator: Actor, fleet: dict) -> None:
    check(desk, operator, {**fleet["Acme Hosting"], **fleet["Beta Cloud"]}, OTHER_BUCKETS)


def test_no_buckets_and_no_chart(desk: Desk, operator: Actor, fleet: dict) -> None:
    domains = {**fleet["Acme Hosting"], **fleet["Beta Cloud"]}
    overview = desk.run(operator, d.domain_overview, at=AT, buckets=(), chart_days=0, limit=1000)
    assert overview.weeks == []
    assert overview.counts == {
        "none": sum(1 for e in domains.values() if e is None),
        "expired": sum(1 for e in domains.values() if e is not None and e <= AT),
        "ok": sum(1 for e in domains.values() if e is not None and e > AT),
    }
    for label, count in overview.counts.items():
        shown = desk.run(operator, d.domain_overview, at=AT, buckets=(), show=label, limit=1000)
        assert (shown.total, len(shown.rows)) == (count, count)


def test_reseller_sees_its_own(desk: Desk, operator: Actor, fleet: dict) -> None:
    for tenant in fleet:
        tenant_id = next(t.id for t in desk.run(operator, d.list_tenants) if t.name == tenant)
        check(desk, Actor(f"user:{tenant}", tenant_id=tenant_id), fleet[tenant])


def test_buckets_must_grow(desk: Desk, operator: Actor) -> None:
    with pytest.raises(ValueError, match="growing"):
        desk.run(
            operator,
            d.domain_overview,
            at=AT,
            buckets=(("late", timedelta(days=30)), ("soon", timedelta(days=3))),
        )
