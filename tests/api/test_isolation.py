"""Tenant isolation through every API route.

Reseller A (an account of tenant A) tries to read, change, download or export every
kind of object of reseller B — domains, certificates, CSR orders, renewals, exports,
requests, the audit log, report previews and deliveries, probes, the tenant itself,
API tokens and users — through every route the app has. Every attempt answers 404
(403 for what only operators may do), lists nothing of B, and changes nothing: every
table, the audit log included, is the same row for row afterwards.

The routes are enumerated from ``app.routes``: a new route that no attack here covers
(or that is not listed as acting on the caller alone) makes the suite fail.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from certdesk.store.jobs import JobUnit
from certdesk.store.models import Domain
from tests.api.conftest import Api, error_code
from tests.database import unchanged
from tests.openssl_pki import PFX_PASSWORD, openssl_date, openssl_x509
from tests.signing import sign_csr, with_chain

A, B = "Alpha Hosting", "Beta Hosting"
B_URLS = ["https://store.test.com", "https://www.test.com/shop"]
B_CLAIM, B_CLAIM_TOKEN = "https://claim.beta.example", "certdesk-beta-claim-token"

# Routes that take no object of another tenant: they act on the caller alone, or hold
# no tenant's data. Each is still exercised below (see test_self_only_routes).
SELF_ONLY = {
    ("POST", "/api/logout"): "ends the caller's own session (the cookie it sends)",
    ("POST", "/api/tokens"): "makes a token for the caller itself",
    ("POST", "/api/me/password"): "changes the caller's own password (proved by the current)",
}
PUBLIC = {
    ("GET", "/healthz"): "liveness: no data",
    ("GET", "/openapi.json"): "the API's schema: no data",
    ("GET", "/docs"): "the API's documentation page: no data",
    ("GET", "/docs/oauth2-redirect"): "part of the documentation page: no data",
    ("GET", "/docs/assets/{name}"): "Swagger UI's own files: no data",
}


@dataclass
class World:
    """Tenants A and B, each with a reseller; B with an object of every kind."""

    api: Api
    a: httpx.Client  # reseller A, by session cookie or by API token
    b: httpx.Client  # reseller B (session)
    operator: httpx.Client
    b_pending: int  # a CSR order of B waiting for its certificate
    b_fulfilled: int
    b_cancelled: int
    b_signed: Path  # the signed certificate for b_pending, not yet uploaded
    b_request: int
    b_token: int
    b_probe: int  # a probe request of B
    b_user: int
    b_report_at: str  # an instant when B's certificate is in the daily report
    markers: list[str] = field(default_factory=list)  # what only B's data contains


def _signed(world_api: Api, client: httpx.Client, order: dict[str, Any], folder: Path) -> Path:
    csr = folder / f"b-{order['id']}.csr"
    csr.write_bytes(client.get(f"/api/csr/{order['id']}/csr").content)
    crt = sign_csr(world_api.pki, csr, folder / f"b-{order['id']}.crt", list(order["sans"]))
    return with_chain(world_api.pki, crt, folder / f"b-{order['id']}-chain.pem")


def _order(client: httpx.Client, cn: str) -> dict[str, Any]:
    answer = client.post(
        "/api/csr",
        json={"tenant": B, "common_name": cn, "urls": [f"https://{cn}"], "key": "p256"},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


@pytest.fixture
def world(request: pytest.FixtureRequest, api: Api, tmp_path: Path) -> World:
    """B's objects and A's clients; A calls by session cookie, or by API token when the
    test is parametrized with ``world`` = "token" (indirect)."""
    api.secrets.update({"guess-guess-guess", "export-pw-1", "p" * 16})  # sent by attacks
    operator = api.operator()
    for name, email in ((A, "ops@alpha.example"), (B, "ops@beta.example")):
        assert operator.post("/api/tenants", json={"name": name, "emails": [email]}).is_success
    a_password = api.user("alpha-reseller", tenant=A)
    b_password = api.user("beta-reseller", tenant=B)
    b = api.session("beta-reseller", b_password)

    # B: a .pfx on two URLs (certificate, key, request), CSR orders in every state.
    form = {"common_name": "store.test.com", "tenant": B, "urls": B_URLS, "password": PFX_PASSWORD}
    submitted = b.post(
        "/api/submissions", data=form, files={"file": ("b.pfx", api.pki.modern_pfx.read_bytes())}
    )
    assert submitted.status_code == 201, submitted.text
    pending = _order(b, "shop.example.org")
    fulfilled = _order(b, "cart.example.org")
    cancelled = _order(b, "old.example.org")
    signed = _signed(api, b, pending, tmp_path)
    done = b.post(
        "/api/csr/complete",
        files={"file": ("c.pem", _signed(api, b, fulfilled, tmp_path).read_bytes())},
    )
    assert done.status_code == 200, done.text
    assert b.post(f"/api/csr/{cancelled['id']}/cancel").status_code == 200
    # B's first URL's certificate becomes platform-managed (ACME).
    assert b.patch("/api/domains", json={"url": B_URLS[0], "managed": "acme"}).is_success
    b_token, _ = api.token(b, "beta-ci")
    b_probe = b.post("/api/probes", json={}).json()["id"]
    b_user = next(u["id"] for u in b.get("/api/users").json())
    with api.desk.store.transaction() as session:
        b_tenant = next(t["id"] for t in operator.get("/api/tenants").json() if t["name"] == B)
        now = datetime.now(UTC)
        session.add(
            JobUnit(
                job="report.daily",
                period="2030-01-01",
                unit="reports@beta.example",
                tenant_id=b_tenant,
                status="done",
                outcome="sent",
                claimed_by="test",
                claimed_at=now,
                attempts=1,
                finished_at=now,
                late=False,
                detail={"rows": 2},
            )
        )
        # A pending ownership claim of B (as a reseller's claim is where verification is
        # on): its name, its token and its message are B's alone.
        session.add(
            Domain(
                tenant_id=b_tenant,
                url=B_CLAIM,
                hostname=B_CLAIM.removeprefix("https://"),
                port=443,
                portal="other",
                monitored=True,
                created_at=now,
                claim="pending",
                claim_token=B_CLAIM_TOKEN,
                claim_message="not verified yet",
                claim_next_at=now + timedelta(days=1),
            )
        )
    not_after = openssl_date(openssl_x509(api.pki.leaf_crt, "-enddate"))

    # A: a domain of its own (not monitored: probing "everything" probes nothing).
    a = api.session("alpha-reseller", a_password)
    assert a.post("/api/domains", json={"url": "https://alpha.example.net", "tenant": A}).is_success
    assert a.patch(
        "/api/domains", json={"url": "https://alpha.example.net", "monitored": False}
    ).is_success
    if getattr(request, "param", "session") == "token":
        _, token = api.token(a, "alpha-ci")
        a = api.bearer(token)
        assert a.get("/api/me").status_code == 200  # first use recorded before the snapshot

    certificates = {d["certificate_sha256"] for d in b.get("/api/domains").json()}
    return World(
        api=api,
        a=a,
        b=b,
        operator=operator,
        b_pending=pending["id"],
        b_fulfilled=fulfilled["id"],
        b_cancelled=cancelled["id"],
        b_signed=signed,
        b_request=submitted.json()["request_id"],
        b_token=b_token,
        b_probe=b_probe,
        b_user=b_user,
        b_report_at=(not_after - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        markers=[
            B,
            "store.test.com",
            "www.test.com",
            "shop.example.org",
            "cart.example.org",
            "old.example.org",
            "beta-reseller",
            "beta-ci",
            "beta.example",
            B_CLAIM_TOKEN,
            *sorted(c for c in certificates if c),
        ],
    )


@dataclass(frozen=True)
class Attack:
    route: tuple[str, str]  # (method, path as the app declares it)
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    status: int = 404
    code: str | None = "not-found"
    control: bool = False  # for a listing: the operator's answer does show B's objects


def attacks(w: World) -> list[Attack]:
    """Every attempt of A on B's objects, by route."""
    signed = w.b_signed.read_bytes()
    ex = w.api.pki.wildcard_crt.read_bytes()  # a certificate no order anywhere waits for
    pfx = w.api.pki.modern_pfx.read_bytes()
    form = {"common_name": "store.test.com", "tenant": B, "urls": ["https://x.test.com"]}
    return [
        # Sessions: B's account with a wrong password is a failed login like any other.
        Attack(
            ("POST", "/api/login"),
            "/api/login",
            {"json": {"username": "beta-reseller", "password": "guess-guess-guess"}},
            401,
            "login-failed",
        ),
        Attack(("GET", "/api/me"), "/api/me", status=200, code=None),
        # Tenants.
        Attack(("GET", "/api/tenants"), "/api/tenants", status=200, code=None, control=True),
        Attack(("POST", "/api/tenants"), "/api/tenants", {"json": {"name": B}}, 403, "forbidden"),
        Attack(
            ("PATCH", "/api/tenants/{name}"),
            f"/api/tenants/{B}",
            {"json": {"emails": ["evil@alpha.example"]}},
        ),
        Attack(
            ("PATCH", "/api/tenants/{name}"), f"/api/tenants/{B}", {"json": {"new_name": "Mine"}}
        ),
        # Domains.
        Attack(("GET", "/api/domains"), "/api/domains", status=200, code=None, control=True),
        Attack(("GET", "/api/domains"), "/api/domains", {"params": {"tenant": B}}),
        Attack(
            ("GET", "/api/domains/served"),
            "/api/domains/served",
            status=200,
            code=None,
            control=True,
        ),
        Attack(("GET", "/api/domains/served"), "/api/domains/served", {"params": {"tenant": B}}),
        Attack(
            ("GET", "/api/domains/managed"),
            "/api/domains/managed",
            status=200,
            code=None,
            control=True,
        ),
        Attack(("GET", "/api/domains/managed"), "/api/domains/managed", {"params": {"tenant": B}}),
        # Ownership claims: B's pending claim cannot be seen or checked, by URL or tenant.
        Attack(
            ("GET", "/api/domains/claims"),
            "/api/domains/claims",
            status=200,
            code=None,
            control=True,
        ),
        Attack(("GET", "/api/domains/claims"), "/api/domains/claims", {"params": {"tenant": B}}),
        *[
            Attack(("POST", "/api/domains/verify"), "/api/domains/verify", {"json": body})
            for url in (B_CLAIM, *B_URLS)
            for body in ({"url": url}, {"url": url, "tenant": B})
        ],
        # HTTP-01 answers are public by nature (the CA fetches them without credentials);
        # none is pending here, and a token that is not one is not even looked up.
        Attack(
            ("GET", "/.well-known/acme-challenge/{token}"),
            "/.well-known/acme-challenge/not-a-pending-token",
            code=None,
        ),
        Attack(
            ("GET", "/.well-known/acme-challenge/{token}"),
            "/.well-known/acme-challenge/..%2f..%2fapi%2fdomains",
            code=None,
        ),
        Attack(
            ("POST", "/api/domains"),
            "/api/domains",
            {"json": {"url": "https://new.beta.example", "tenant": B}},
        ),
        # A URL belongs to one tenant: B's answers "not available", and is not taken.
        Attack(
            ("POST", "/api/domains"),
            "/api/domains",
            {"json": {"url": B_URLS[0], "tenant": A}},
            409,
            "conflict",
        ),
        *[
            Attack(("PATCH", "/api/domains"), "/api/domains", {"json": {"url": url, **change}})
            for url in B_URLS
            for change in ({"monitored": False}, {"portal": "bss"}, {"managed": "customer"})
        ],
        *[
            Attack(("DELETE", "/api/domains"), "/api/domains", {"params": {"url": url}})
            for url in [*B_URLS, "https://cart.example.org"]
        ],
        # Intake into B's tenant, or onto B's URLs.
        Attack(
            ("POST", "/api/submissions"),
            "/api/submissions",
            {"data": {**form, "password": PFX_PASSWORD}, "files": {"file": ("a.pfx", pfx)}},
        ),
        Attack(
            ("POST", "/api/submissions"),
            "/api/submissions",
            {
                "data": {**form, "tenant": A, "urls": B_URLS, "password": PFX_PASSWORD},
                "files": {"file": ("a.pfx", pfx)},
            },
            409,
            "conflict",
        ),
        # CSR orders.
        Attack(
            ("POST", "/api/csr"),
            "/api/csr",
            {"json": {"tenant": B, "common_name": "x.beta.example", "key": "p256"}},
        ),
        Attack(("GET", "/api/csr"), "/api/csr", status=200, code=None, control=True),
        Attack(("GET", "/api/csr"), "/api/csr", {"params": {"tenant": B}}),
        *[
            Attack(("GET", "/api/csr/{order_id}"), f"/api/csr/{i}")
            for i in (w.b_pending, w.b_fulfilled, w.b_cancelled)
        ],
        *[
            Attack(("GET", "/api/csr/{order_id}/csr"), f"/api/csr/{i}/csr")
            for i in (w.b_pending, w.b_fulfilled, w.b_cancelled)
        ],
        *[
            Attack(("POST", "/api/csr/{order_id}/cancel"), f"/api/csr/{i}/cancel")
            for i in (w.b_pending, w.b_fulfilled, w.b_cancelled)
        ],
        # B's signed certificate matches no order A can see: the same refusal as for a
        # certificate no order anywhere waits for (see test_completing_with_bs_certificate).
        Attack(
            ("POST", "/api/csr/complete"),
            "/api/csr/complete",
            {"files": {"file": ("b.pem", signed)}},
            422,
            "refused",
        ),
        Attack(
            ("POST", "/api/csr/complete"),
            "/api/csr/complete",
            {"files": {"file": ("x.pem", ex)}},
            422,
            "refused",
        ),
        # Renewals and exports of B's URLs.
        *[
            Attack(("POST", "/api/renewals"), "/api/renewals", {"json": {"url": url}})
            for url in [*B_URLS, "https://cart.example.org"]
        ],
        *[
            Attack(
                ("POST", "/api/exports"),
                "/api/exports",
                {"json": {"url": url, "to": to, "password": "export-pw-1", "include_key": True}},
            )
            for url in [*B_URLS, "https://cart.example.org"]
            for to in ("pfx", "pem")
        ],
        # Reports.
        *[
            Attack(
                ("GET", "/api/reports/{kind}"),
                f"/api/reports/{kind}",
                {"params": {"tenant": B, "at": w.b_report_at, "format": fmt}},
            )
            for kind in ("daily", "monthly")
            for fmt in ("json", "csv")
        ],
        Attack(
            ("GET", "/api/reports/{kind}"),
            "/api/reports/daily",
            {"params": {"at": w.b_report_at}},
            200,
            None,
            control=True,
        ),
        Attack(
            ("GET", "/api/report-deliveries"),
            "/api/report-deliveries",
            status=200,
            code=None,
            control=True,
        ),
        # Probes.
        *[
            Attack(("POST", "/api/probes"), "/api/probes", {"json": {"urls": [url]}})
            for url in B_URLS
        ],
        *[
            Attack(("POST", "/api/probes"), "/api/probes", {"json": {"urls": [url]}})
            for url in B_URLS
        ],
        Attack(("GET", "/api/probe-requests/{request_id}"), f"/api/probe-requests/{w.b_probe}"),
        *[
            Attack(("GET", "/api/probes"), "/api/probes", {"params": {"url": url}})
            for url in B_URLS
        ],
        # Requests and the audit log.
        Attack(("GET", "/api/requests"), "/api/requests", status=200, code=None, control=True),
        Attack(("GET", "/api/requests"), "/api/requests", {"params": {"tenant": B}}),
        Attack(("GET", "/api/requests/{request_id}"), f"/api/requests/{w.b_request}"),
        Attack(("GET", "/api/audit"), "/api/audit", status=200, code=None, control=True),
        Attack(("GET", "/api/audit"), "/api/audit", {"params": {"tenant": B}}),
        # Tokens and users.
        Attack(("GET", "/api/tokens"), "/api/tokens", status=200, code=None),
        Attack(("DELETE", "/api/tokens/{token_id}"), f"/api/tokens/{w.b_token}"),
        Attack(("GET", "/api/users"), "/api/users", status=200, code=None, control=True),
        Attack(("GET", "/api/users/{username}/tokens"), "/api/users/beta-reseller/tokens"),
        *[
            Attack(("PATCH", "/api/users/{username}"), "/api/users/beta-reseller", {"json": c})
            for c in ({"disabled": True}, {"password": "p" * 16}, {"disabled": False})
        ],
        *[
            Attack(
                ("POST", "/api/users"),
                "/api/users",
                {"json": {"username": "mine", "password": "p" * 16, "role": role, "tenant": t}},
                403,
                "forbidden",
            )
            for role, t in (("reseller", B), ("operator", None))
        ],
        # Retrying the install of B's certificate.
        *[
            Attack(("POST", "/api/domains/install"), "/api/domains/install", {"json": {"url": u}})
            for u in B_URLS
        ],
        # Installing B's certificates on the terminators; "all" installs only A's own.
        *[
            Attack(("POST", "/api/deployments"), "/api/deployments", {"json": body})
            for url in B_URLS
            for body in ({"urls": [url], "dry_run": True}, {"urls": [url]})
        ],
        Attack(
            ("POST", "/api/deployments"),
            "/api/deployments",
            {"json": {"urls": [B_URLS[0]], "target": "files"}},
            403,
            "forbidden",
        ),
        Attack(
            ("POST", "/api/deployments"),
            "/api/deployments",
            {"json": {"all": True, "dry_run": True}},
            200,
            None,
        ),
        # Metrics cover every tenant: operators only.
        Attack(("GET", "/metrics"), "/metrics", status=403, code="forbidden"),
    ]


def _flatten(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's include_router
        if included is not None:
            yield from _flatten(included.routes, prefix + route.include_context.prefix)
            continue
        assert isinstance(route, APIRoute | Route), f"unexpected kind of route: {route!r}"
        for method in route.methods or ():
            if method != "HEAD":
                yield method, prefix + route.path


def _routes(api: Api) -> set[tuple[str, str]]:
    found = set(_flatten(api.app.routes))
    assert ("GET", "/api/domains") in found  # the enumeration sees the API's routes
    return found


def _leaks(w: World, text: str, sent: str = "") -> list[str]:
    """B's markers in a response, other than those the caller itself sent (echoed back)."""
    return [m for m in w.markers if m in text and m not in sent]


def test_every_route_is_attacked(api: Api) -> None:
    """A route of the app that no attack covers (nor SELF_ONLY/PUBLIC lists) fails here."""
    stub = World(api, *(api.client(),) * 3, 1, 2, 3, api.pki.leaf_crt, 4, 5, 7, 6, "2030-01-01")
    covered = {a.route for a in attacks(stub)}
    routes = _routes(api)
    missing = routes - covered - set(SELF_ONLY) - set(PUBLIC)
    assert not missing, f"routes without an isolation test: {sorted(missing)}"
    stale = (covered | set(SELF_ONLY) | set(PUBLIC)) - routes
    assert not stale, f"attacks on routes the app does not have: {sorted(stale)}"


@pytest.mark.parametrize("world", ["session", "token"], indirect=True)
def test_reseller_a_cannot_reach_anything_of_b(world: World) -> None:
    w = world
    planned = attacks(w)
    with unchanged(w.api.desk):
        for attack in planned:
            method, _ = attack.route
            answer = w.a.request(method, attack.path, **attack.kwargs)
            where = f"{method} {attack.path} {attack.kwargs.get('params') or ''}"
            assert answer.status_code == attack.status, f"{where}: {answer.text[:300]}"
            if attack.code is not None:
                assert error_code(answer) == attack.code, where
            leaked = _leaks(w, answer.text, attack.path + repr(attack.kwargs))
            assert not leaked, f"{where} shows B's {leaked}"
            if attack.control:
                seen = w.operator.request(method, attack.path, **attack.kwargs)
                assert seen.status_code == 200
                assert _leaks(w, seen.text), f"{where}: the operator should see B's objects"
    # B's objects are all still there and B's token still works.
    assert len(w.b.get("/api/domains").json()) == 4
    assert w.b.get(f"/api/csr/{w.b_pending}").json()["status"] == "pending"
    assert [t["revoked"] for t in w.b.get("/api/tokens").json()] == [False]
    done = w.b.post("/api/csr/complete", files={"file": ("b.pem", w.b_signed.read_bytes())})
    assert done.status_code == 200, done.text
    # What A could not do, an operator does: see and revoke B's token.
    seen = w.operator.get("/api/users/beta-reseller/tokens").json()
    assert [(t["id"], t["revoked"]) for t in seen] == [(w.b_token, False)]
    assert w.operator.delete(f"/api/tokens/{w.b_token}").json()["revoked"] is True
    assert [t["revoked"] for t in w.b.get("/api/tokens").json()] == [True]


def test_what_a_sees_and_does_stays_its_own(world: World) -> None:
    """Listings show A only its own; completing with B's certificate answers as for any
    unknown certificate; the routes that act on the caller alone touch nothing of B."""
    w = world
    assert [d["url"] for d in w.a.get("/api/domains").json()] == ["https://alpha.example.net"]
    served = w.a.get("/api/domains/served")
    assert [d["url"] for d in served.json()] == ["https://alpha.example.net"]
    assert served.headers["x-total-count"] == "1"
    assert w.a.get("/api/domains/managed").json() == []
    assert [m["url"] for m in w.operator.get("/api/domains/managed").json()] == [B_URLS[0]]
    assert [t["name"] for t in w.a.get("/api/tenants").json()] == [A]
    assert w.a.get("/api/csr").json() == []
    assert w.a.get("/api/requests").json() == []
    assert [u["username"] for u in w.a.get("/api/users").json()] == ["alpha-reseller"]
    assert {e["tenant"] for e in w.a.get("/api/audit").json()} == {A}
    assert w.a.get("/api/report-deliveries").json() == []
    mine = w.a.post("/api/probes", json={})
    assert mine.status_code == 202
    assert mine.json()["id"] != w.b_probe
    assert w.a.get(f"/api/probe-requests/{mine.json()['id']}").json()["status"] == "queued"
    # The same calls by the operator see B.
    assert len(w.operator.get("/api/domains").json()) == 5
    assert len(w.operator.get("/api/report-deliveries").json()) == 1

    # No order of A waits for B's certificate: A learns no more than from any certificate.
    with unchanged(w.api.desk):
        theirs = w.a.post("/api/csr/complete", files={"file": ("b.pem", w.b_signed.read_bytes())})
        nobodys = w.a.post(
            "/api/csr/complete", files={"file": ("x.pem", w.api.pki.wildcard_crt.read_bytes())}
        )
    assert theirs.status_code == nobodys.status_code == 422
    assert theirs.json() == nobodys.json()
    assert [f["code"] for f in theirs.json()["error"]["findings"]] == ["no-matching-order"]

    # SELF_ONLY and PUBLIC routes.
    made = w.a.post("/api/tokens", json={"name": "mine"})
    assert made.status_code == 201
    me = w.api.bearer(made.json()["token"]).get("/api/me").json()["user"]
    assert (me["username"], me["tenant"]) == ("alpha-reseller", A)
    assert [t["name"] for t in w.b.get("/api/tokens").json()] == ["beta-ci"]
    for method, path in PUBLIC:
        answer = w.a.request(method, path.replace("{name}", "swagger-ui.css"))
        assert answer.status_code == 200
        assert not _leaks(w, answer.text), path
    assert w.a.post("/api/logout").status_code == 200
    assert w.a.get("/api/me").status_code == 401
    assert w.b.get("/api/me").json()["user"]["username"] == "beta-reseller"
