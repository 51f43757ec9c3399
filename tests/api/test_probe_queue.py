"""Probe now is queued: ``POST /api/probes`` answers 202 at once with a request id, the
same URLs asked again while waiting are that request again, too many requests are
``rate-limited`` (429), and the on-demand workers of ``certdesk serve`` run them in the
background, one request per tenant at a time, against a real TLS server on loopback."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from anyio.from_thread import start_blocking_portal
from sqlalchemy import func, select

from certdesk import desk as d
from certdesk.asgi import build_app
from certdesk.desk import Actor, Desk
from certdesk.desk import work_requests as queue
from certdesk.settings import Settings
from certdesk.store.monitoring import Probe
from tests.api.conftest import OPERATOR, Api, SyncASGI, error_code
from tests.monitor.conftest import TLSServer, server_context
from tests.openssl_pki import OpenSSLPKI

A, B = "Alpha Hosting", "Beta Hosting"
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def tls(pki: OpenSSLPKI, tmp_path: Path) -> Iterator[TLSServer]:
    server = TLSServer(
        default=server_context(pki.leaf_crt, pki.leaf_key, pki.int_crt, folder=tmp_path)
    )
    try:
        yield server
    finally:
        server.close()


def _domains(client: httpx.Client, tenant: str, hosts: list[str], port: int) -> list[str]:
    urls = []
    for host in hosts:
        url = f"https://{host}"
        made = client.post(
            "/api/domains", json={"url": url, "tenant": tenant, "connect_to": f"127.0.0.1:{port}"}
        )
        assert made.status_code == 201, made.text
        urls.append(url)
    return urls


def _probes(desk: Desk) -> int:
    with desk.store.transaction() as session:
        return int(session.scalar(select(func.count(Probe.id))) or 0)


def test_queued_deduplicated_and_rate_limited(api: Api, tls: TLSServer) -> None:
    operator = api.operator()
    for name in (A, B):
        assert operator.post("/api/tenants", json={"name": name}).status_code == 201
    urls = _domains(operator, A, ["store.test.com", "www.test.com", "shop.test.com"], tls.port)
    alpha = api.session("alpha", api.user("alpha", tenant=A))
    beta = api.session("beta", api.user("beta", tenant=B))

    first = alpha.post("/api/probes", json={"urls": urls[:1]})
    assert first.status_code == 202, first.text
    body = first.json()
    assert (body["status"], body["urls"], body["deduplicated"]) == ("queued", urls[:1], False)
    assert _probes(api.desk) == 0  # nothing was probed inside the request
    assert tls.handshakes == 0
    again = alpha.post("/api/probes", json={"urls": urls[:1]})
    assert (again.status_code, again.json()["id"]) == (202, body["id"])
    assert again.json()["deduplicated"] is True
    assert alpha.post("/api/probes", json={"urls": urls[1:2]}).json()["id"] != body["id"]
    assert alpha.post("/api/probes", json={}).status_code == 202
    limited = alpha.post("/api/probes", json={"urls": urls[2:]})
    assert limited.status_code == 429
    assert error_code(limited) == "rate-limited"
    # The limit is the tenant's: another tenant is not held up by it.
    assert beta.post("/api/probes", json={}).status_code == 202
    # Another tenant's request is not found; nor are another tenant's URLs.
    theirs = beta.get(f"/api/probe-requests/{body['id']}")
    assert (theirs.status_code, error_code(theirs)) == (404, "not-found")
    assert beta.post("/api/probes", json={"urls": urls[:1]}).status_code == 404
    assert operator.get(f"/api/probe-requests/{body['id']}").json()["status"] == "queued"


def test_at_most_so_many_an_hour(desk: Desk, operator: Actor) -> None:
    d_tenant = desk.run(operator, d.add_tenant, name=A).id
    desk.run(operator, d.add_domain, url="https://store.test.com", tenant=A)
    reseller = Actor(name="user:alpha", tenant_id=d_tenant)
    start = desk.now()
    for n in range(queue.MAX_PER_HOUR):
        with desk.context(reseller, at=start + timedelta(seconds=n)) as ctx:
            made = queue.request_probe(ctx, urls=["https://store.test.com"])
        with desk.context(operator, at=start + timedelta(seconds=n)) as ctx:
            claimed = queue.claim_work(ctx, worker="w")
            assert claimed is not None
            assert claimed.id == made.id
            queue.finish_work(ctx, request_id=made.id, worker="w", results=[])
    late = start + timedelta(minutes=59)
    with pytest.raises(queue.ProbeRateLimited), desk.context(reseller, at=late) as ctx:
        queue.request_probe(ctx)
    with desk.context(reseller, at=start + timedelta(minutes=61)) as ctx:
        assert queue.request_probe(ctx).status == "queued"


def test_one_request_per_tenant_at_a_time(desk: Desk, operator: Actor) -> None:
    """Alpha asks twice, then Beta once: the second worker takes Beta's request, not
    Alpha's second, while Alpha's first runs."""
    ids = {}
    for name, url in ((A, "https://store.test.com"), (B, "https://beta.test.com")):
        ids[name] = desk.run(operator, d.add_tenant, name=name).id
        desk.run(operator, d.add_domain, url=url, tenant=name)
    alpha = Actor(name="user:alpha", tenant_id=ids[A])
    beta = Actor(name="user:beta", tenant_id=ids[B])
    a1 = desk.run(alpha, queue.request_probe, urls=["https://store.test.com"]).id
    a2 = desk.run(alpha, queue.request_probe).id
    b1 = desk.run(beta, queue.request_probe).id
    taken = []
    for worker in ("w1", "w2", "w3"):
        with desk.context(operator) as ctx:
            claimed = queue.claim_work(ctx, worker=worker)
        taken.append(claimed.id if claimed else None)
    assert taken == [a1, b1, None]
    with desk.context(operator) as ctx:
        queue.finish_work(ctx, request_id=a1, worker="w1", results=[])
        claimed = queue.claim_work(ctx, worker="w1")
    assert claimed is not None
    assert claimed.id == a2


def test_serve_runs_them_in_the_background(
    desk: Desk, settings: Settings, pki: OpenSSLPKI, tls: TLSServer, tmp_path: Path
) -> None:
    """The app of ``certdesk serve`` (``build_app``) with its lifespan: its on-demand workers
    run the request while the API answers."""
    settings = dataclasses.replace(settings, probe_allow_private=True, probe_timeout=5.0)
    app = build_app(desk, settings, trust_forwarded=False, scheduler=False)
    with start_blocking_portal() as portal:
        lifespan = app.router.lifespan_context(app)
        portal.call(lifespan.__aenter__)
        try:
            api = Api(app, desk, settings, pki, tmp_path, SyncASGI(app, portal))
            api.user(OPERATOR[0], role="operator", password=OPERATOR[1])
            operator = api.operator()
            assert operator.post("/api/tenants", json={"name": A}).status_code == 201
            urls = _domains(operator, A, ["store.test.com", "www.test.com"], tls.port)
            alpha = api.session("alpha", api.user("alpha", tenant=A))
            asked = alpha.post("/api/probes", json={})
            assert asked.status_code == 202, asked.text
            deadline = time.monotonic() + 60
            while True:
                state = alpha.get(f"/api/probe-requests/{asked.json()['id']}").json()
                if state["status"] in ("done", "failed") or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            portal.call(lifespan.__aexit__, None, None, None)
    assert state["status"] == "done", state
    assert sorted(r["url"] for r in state["results"]) == sorted(urls)
    by_url = {r["url"]: r for r in state["results"]}
    assert by_url["https://store.test.com"]["ok"] is True
    assert by_url["https://store.test.com"]["sha256"]
    assert tls.handshakes >= 2
