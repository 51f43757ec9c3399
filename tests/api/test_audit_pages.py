"""``GET /api/audit`` a page at a time: ``limit``/``offset``, the total the filters keep in
``X-Total-Count``, ``action`` by its start and ``actor`` by part of it; a reseller's pages
hold and count only its tenant's events."""

from __future__ import annotations

from certdesk import desk as d
from certdesk.desk import Actor
from tests.api.conftest import Api


def test_the_audit_log_pages_and_filters(api: Api) -> None:
    operator = Actor(name="test")
    api.desk.run(operator, d.add_tenant, name="Acme", emails=[])
    api.desk.run(operator, d.add_tenant, name="Beta", emails=[])
    for n in range(12):
        api.desk.run(operator, d.add_domain, url=f"https://a{n:02d}.test.com", tenant="Acme")
    api.desk.run(operator, d.add_domain, url="https://b.test.com", tenant="Beta")
    password = api.user("alice", tenant="Acme")
    alice = api.session("alice", password)

    first = alice.get("/api/audit", params={"limit": 5})
    assert first.status_code == 200
    total = int(first.headers["X-Total-Count"])
    events = alice.get("/api/audit", params={"limit": 1000}).json()
    assert total == len(events)
    assert {e["tenant"] for e in events} == {"Acme"}
    assert first.json() == events[:5]
    assert alice.get("/api/audit", params={"limit": 5, "offset": 5}).json() == events[5:10]

    domains = alice.get("/api/audit", params={"action": "domain."})
    assert domains.headers["X-Total-Count"] == "12"
    assert {e["action"] for e in domains.json()} == {"domain.add"}
    by_test = alice.get("/api/audit", params={"actor": "TES", "limit": 1000}).json()
    assert by_test == [e for e in events if "tes" in e["actor"].lower()]
    assert 0 < len(by_test) < len(events)  # the login is not the operator's
    assert alice.get("/api/audit", params={"tenant": "Beta"}).status_code == 404

    everyone = api.operator().get("/api/audit", params={"tenant": "Beta"})
    assert [e["action"] for e in everyone.json()] == ["domain.add", "tenant.add"]
    assert everyone.headers["X-Total-Count"] == "2"
