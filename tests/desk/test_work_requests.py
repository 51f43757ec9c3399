"""The on-demand queue (``desk.work_requests``), on SQLite and PostgreSQL: installs are
deduplicated per tenant, kinds and tenants do not wait on each other, a claim is leased
(renewed while its worker works; taken over by another worker once it has passed, at most
so many times), a worker that lost its claim records nothing, and each tenant sees only
its own requests."""

from __future__ import annotations

from datetime import timedelta

import pytest

from certdesk import desk as d
from certdesk.desk import Actor, Desk, NotFound
from certdesk.desk import work_requests as queue
from certdesk.desk.work_requests import WorkKind
from tests.database import unchanged

A, B = "Alpha Hosting", "Beta Hosting"
STORE, SHOP, BETA = "https://store.test.com", "https://shop.test.com", "https://beta.test.com"


@pytest.fixture
def resellers(desk: Desk, operator: Actor) -> tuple[Actor, Actor]:
    ids = {name: desk.run(operator, d.add_tenant, name=name).id for name in (A, B)}
    for url, tenant in ((STORE, A), (SHOP, A), (BETA, B)):
        desk.run(operator, d.add_domain, url=url, tenant=tenant)
    return Actor(name="user:alpha", tenant_id=ids[A]), Actor(name="user:beta", tenant_id=ids[B])


def test_installs_are_deduplicated_while_queued(
    desk: Desk, operator: Actor, resellers: tuple[Actor, Actor]
) -> None:
    alpha, beta = resellers
    first = desk.run(alpha, queue.request_install, urls=[STORE, SHOP])
    assert (first.kind, first.status, first.urls) == ("install", "queued", (SHOP, STORE))
    again = desk.run(alpha, queue.request_install, urls=[SHOP, STORE, STORE])
    assert (again.id, again.deduplicated) == (first.id, True)
    # A probe of the same URLs is another kind: not the same request.
    probe = desk.run(alpha, queue.request_probe, urls=[STORE, SHOP])
    assert probe.id != first.id
    # Once it runs, the same install asked again is a new request (a new certificate
    # may have been stored meanwhile), and that one is deduplicated in turn.
    with desk.context(operator) as ctx:
        claimed = queue.claim_work(ctx, worker="w", kinds=(WorkKind.INSTALL,))
    assert claimed is not None
    assert (claimed.id, claimed.kind, claimed.attempt) == (first.id, WorkKind.INSTALL, 1)
    later = desk.run(alpha, queue.request_install, urls=[STORE, SHOP])
    assert later.id != first.id
    assert desk.run(alpha, queue.request_install, urls=[SHOP, STORE]).id == later.id
    # Another tenant's URL is not found, and queues nothing.
    with unchanged(desk), pytest.raises(NotFound):
        desk.run(beta, queue.request_install, urls=[STORE])


def test_a_tenant_sees_only_its_own_requests(
    desk: Desk, operator: Actor, resellers: tuple[Actor, Actor]
) -> None:
    alpha, beta = resellers
    mine = desk.run(alpha, queue.request_install, urls=[STORE])
    assert desk.run(alpha, queue.get_work_request, request_id=mine.id).urls == (STORE,)
    assert desk.run(operator, queue.get_work_request, request_id=mine.id).id == mine.id
    with pytest.raises(NotFound):
        desk.run(beta, queue.get_work_request, request_id=mine.id)
    # An install is not a probe request: the probe address does not show it.
    with pytest.raises(NotFound):
        desk.run(alpha, queue.get_probe_request, request_id=mine.id)


def test_kinds_and_tenants_do_not_wait_on_each_other(
    desk: Desk, operator: Actor, resellers: tuple[Actor, Actor]
) -> None:
    alpha, beta = resellers
    probe = desk.run(alpha, queue.request_probe).id
    install_a = desk.run(alpha, queue.request_install, urls=[STORE]).id
    install_a2 = desk.run(alpha, queue.request_install, urls=[SHOP]).id
    install_b = desk.run(beta, queue.request_install, urls=[BETA]).id

    def claim(worker: str, *kinds: WorkKind) -> int | None:
        with desk.context(operator) as ctx:
            found = queue.claim_work(ctx, worker=worker, kinds=kinds or tuple(WorkKind))
        return found.id if found else None

    assert claim("p1", WorkKind.PROBE) == probe
    # Alpha's probe runs; its install does not wait for it, but its second install waits
    # for its first while Beta's goes ahead.
    assert claim("i1", WorkKind.INSTALL) == install_a
    assert claim("i2", WorkKind.INSTALL) == install_b
    assert claim("i3", WorkKind.INSTALL) is None
    with desk.context(operator) as ctx:
        assert queue.finish_work(ctx, request_id=install_a, worker="i1", results=[{"ok": True}])
    assert claim("i1", WorkKind.INSTALL) == install_a2
    done = desk.run(alpha, queue.get_work_request, request_id=install_a)
    assert (done.status, done.targets, done.ok, done.finished) == ("done", 1, 1, True)


def test_a_lease_that_passed_is_taken_over(
    desk: Desk, operator: Actor, resellers: tuple[Actor, Actor]
) -> None:
    """Worker 1 claims and then stops renewing (its process died); until the lease has
    passed nobody else may take the request; then worker 2 takes it over, and worker 1,
    should it come back, records nothing."""
    alpha, _beta = resellers
    asked = desk.run(alpha, queue.request_install, urls=[STORE]).id
    lease = timedelta(seconds=60)
    start = desk.now()
    with desk.context(operator, at=start) as ctx:
        first = queue.claim_work(ctx, worker="w1", lease=lease)
    assert first is not None
    assert (first.id, first.attempt) == (asked, 1)
    with desk.context(operator, at=start + timedelta(seconds=59)) as ctx:
        assert queue.claim_work(ctx, worker="w2", lease=lease) is None
    with desk.context(operator, at=start + timedelta(seconds=61)) as ctx:
        second = queue.claim_work(ctx, worker="w2", lease=lease)
    assert second is not None
    assert (second.id, second.attempt) == (asked, 2)
    with desk.context(operator, at=start + timedelta(seconds=62)) as ctx:
        assert not queue.renew_lease(ctx, request_id=asked, worker="w1", lease=lease)
        assert not queue.finish_work(ctx, request_id=asked, worker="w1", results=[])
        assert queue.finish_work(ctx, request_id=asked, worker="w2", results=[{"ok": True}])
    assert desk.run(alpha, queue.get_work_request, request_id=asked).status == "done"


def test_a_renewed_lease_is_not_taken_over(
    desk: Desk, operator: Actor, resellers: tuple[Actor, Actor]
) -> None:
    alpha, _beta = resellers
    asked = desk.run(alpha, queue.request_probe, urls=[STORE]).id
    lease = timedelta(seconds=60)
    start = desk.now()
    with desk.context(operator, at=start) as ctx:
        assert queue.claim_work(ctx, worker="w1", lease=lease) is not None
    with desk.context(operator, at=start + timedelta(seconds=50)) as ctx:
        assert queue.renew_lease(ctx, request_id=asked, worker="w1", lease=lease)
    with desk.context(operator, at=start + timedelta(seconds=100)) as ctx:
        assert queue.claim_work(ctx, worker="w2", lease=lease) is None
    with desk.context(operator, at=start + timedelta(seconds=111)) as ctx:
        taken = queue.claim_work(ctx, worker="w2", lease=lease)
    assert taken is not None
    assert taken.id == asked


def test_a_request_whose_worker_keeps_dying_is_failed(
    desk: Desk, operator: Actor, resellers: tuple[Actor, Actor]
) -> None:
    alpha, _beta = resellers
    asked = desk.run(alpha, queue.request_install, urls=[STORE]).id
    lease = timedelta(seconds=10)
    at = desk.now()
    for attempt in range(1, queue.MAX_ATTEMPTS + 1):
        with desk.context(operator, at=at) as ctx:
            claimed = queue.claim_work(ctx, worker=f"w{attempt}", lease=lease)
        assert claimed is not None
        assert claimed.attempt == attempt
        at += timedelta(seconds=11)
    with desk.context(operator, at=at) as ctx:
        assert queue.claim_work(ctx, worker="last", lease=lease) is None
    failed = desk.run(alpha, queue.get_work_request, request_id=asked)
    assert failed.status == "failed"
    assert (
        failed.error
        == f"the process running it stopped {queue.MAX_ATTEMPTS} times; not tried again"
    )
