"""When a managed domain is looked at again: the backoff of DNS waits and failures, the
CA's Retry-After and rateLimited honoured, and no hot loop after a renewal stalls. The
desk's own steps, on SQLite and PostgreSQL (no CA needed: the outcomes are given)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from certdesk import desk as d
from certdesk.acme.client import _when
from certdesk.desk import Actor, Desk
from certdesk.desk.managed import (
    FAILURE_BACKOFF,
    RATE_LIMITED_WAIT,
    due_units,
    record_failure,
    record_waiting,
    start_order,
    take_unit,
)
from certdesk.store.acme import ManagedCertificate
from tests.flows import new_tenant

URL = "https://late.acme.test"
T0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
RATE_LIMITED = {
    "type": "urn:ietf:params:acme:error:rateLimited",
    "detail": "too many certificates already issued for acme.test",
}


def _managed(desk: Desk, operator: Actor) -> int:
    new_tenant(desk, operator)
    return desk.run(operator, d.add_domain, url=URL, tenant="Acme Hosting", managed="acme").id


def _due(desk: Desk, operator: Actor, at: datetime) -> list[str]:
    with desk.context(operator, at=at, readonly=True) as ctx:
        return due_units(ctx)


def test_rate_limited_waits_an_hour_and_retry_after_longer(desk: Desk, operator: Actor) -> None:
    domain = _managed(desk, operator)
    with desk.context(operator, at=T0) as ctx:
        record_failure(ctx, domain_id=domain, message="refused", problem=RATE_LIMITED)
    view = desk.run(operator, d.managed_status, url=URL)
    assert view.next_try_at == T0 + RATE_LIMITED_WAIT
    assert view.problem == RATE_LIMITED
    assert _due(desk, operator, T0 + RATE_LIMITED_WAIT - timedelta(seconds=1)) == []
    # The CA's Retry-After, when later than the backoff, is when the next try is.
    later = T0 + timedelta(hours=6)
    with desk.context(operator, at=T0) as ctx:
        record_failure(
            ctx, domain_id=domain, message="refused", problem=RATE_LIMITED, retry_after=later
        )
    assert desk.run(operator, d.managed_status, url=URL).next_try_at == later
    # A Retry-After sooner than the backoff does not make certdesk come back sooner.
    with desk.context(operator, at=T0) as ctx:
        record_failure(
            ctx,
            domain_id=domain,
            message="refused",
            problem={"type": "urn:ietf:params:acme:error:serverInternal", "detail": "oops"},
            retry_after=T0 + timedelta(seconds=5),
        )
    assert desk.run(operator, d.managed_status, url=URL).next_try_at == T0 + 4 * FAILURE_BACKOFF[0]


def test_backoff_stops_growing_at_its_longest(desk: Desk, operator: Actor) -> None:
    domain = _managed(desk, operator)
    for _ in range(20):
        with desk.context(operator, at=T0) as ctx:
            record_failure(ctx, domain_id=domain, message="down", problem=None)
    assert desk.run(operator, d.managed_status, url=URL).next_try_at == T0 + FAILURE_BACKOFF[1]


def test_a_renewal_waiting_for_dns_is_not_due_at_every_tick(desk: Desk, operator: Actor) -> None:
    domain = _managed(desk, operator)
    with desk.context(operator, at=T0) as ctx:
        # Issued long ago: its renewal date has passed (as record_issued would have set it).
        row = ctx.session.scalars(
            select(ManagedCertificate).where(ManagedCertificate.domain_id == domain)
        ).one()
        row.state, row.renew_at, row.next_try_at = "issued", T0 - timedelta(days=1), None
    assert _due(desk, operator, T0) == [URL]
    # The renewal finds the name moved away: it waits, and the old date no longer counts.
    with desk.context(operator, at=T0) as ctx:
        assert take_unit(ctx, url=URL) is not None
        record_waiting(ctx, domain_id=domain, message="elsewhere")
    assert _due(desk, operator, T0 + timedelta(seconds=59)) == []
    assert _due(desk, operator, T0 + timedelta(minutes=1)) == [URL]


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    now = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    assert _when("120", now) == now + timedelta(seconds=120)
    assert _when("Mon, 01 Mar 2027 13:00:00 GMT", now) == datetime(2027, 3, 1, 13, tzinfo=UTC)
    assert _when("soon", now) is None
    assert _when(None, now) is None


def test_back_to_the_customer_drops_the_platforms_waiting_order(
    desk: Desk, operator: Actor
) -> None:
    _managed(desk, operator)
    with desk.context(operator, at=T0) as ctx:
        unit = take_unit(ctx, url=URL, force=True)
        assert unit is not None
        start_order(ctx, unit=unit, key_kind="p256")
    [order] = desk.run(operator, d.list_orders)
    assert order.status == "pending"

    desk.run(operator, d.change_domain, url=URL, managed="customer")

    assert [o.status for o in desk.run(operator, d.list_orders)] == ["cancelled"]
    [request] = desk.run(operator, d.list_requests)
    assert request.status == "rejected"
    assert desk.run(operator, d.list_managed) == []
