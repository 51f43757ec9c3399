"""The domain page's "Probe now" button queues a probe request, as the API does, and the
page shows it and follows it (a status JSON); another tenant's URL, or request, is a 404
and queues nothing."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy import func, select

from certdesk import desk as d
from certdesk.desk import Desk
from certdesk.store.jobs import WorkRequest
from tests.database import unchanged
from tests.web.conftest import OPERATOR, TENANT_A

Login = Callable[[str], tuple[httpx.Client, str]]
URL = "https://alpha.test.com"


def _queued(web_desk: Desk) -> int:
    with web_desk.store.transaction() as session:
        return int(session.scalar(select(func.count(WorkRequest.id))) or 0)


def test_probe_now_is_queued(login: Login, web_desk: Desk) -> None:
    web_desk.run(OPERATOR, d.add_domain, url=URL, tenant=TENANT_A)
    alice, csrf = login("alice")
    page = alice.get("/domain", params={"url": URL})
    assert "Probe now" in page.text
    asked = alice.post(
        "/domain/probe", data={"csrf_token": csrf, "url": URL}, follow_redirects=False
    )
    assert asked.status_code == 303
    shown = alice.get(asked.headers["location"])
    assert shown.status_code == 200
    assert "Probe request #1: queued" in shown.text
    # The page follows it (static/portal.js reads the status), or its Refresh link does.
    assert 'data-follow="/probe-requests/1/status"' in shown.text
    status = alice.get("/probe-requests/1/status")
    assert status.status_code == 200
    assert status.json()["status"] == "queued"
    assert (status.json()["finished"], status.json()["tone"]) == (False, "pending")
    assert _queued(web_desk) == 1
    # The same again while it waits: the same request.
    again = alice.post(
        "/domain/probe", data={"csrf_token": csrf, "url": URL}, follow_redirects=False
    )
    assert again.headers["location"] == asked.headers["location"]
    assert _queued(web_desk) == 1

    bob, bob_csrf = login("bob")
    with unchanged(web_desk):
        theirs = bob.post("/domain/probe", data={"csrf_token": bob_csrf, "url": URL})
        assert theirs.status_code == 404
        assert bob.get(asked.headers["location"]).status_code == 404
        assert bob.get("/probe-requests/1/status").status_code == 404
        no_token = alice.post("/domain/probe", data={"url": URL})
        assert no_token.status_code == 403
