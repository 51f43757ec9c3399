"""Accounts and security over HTTP: session cookies, CSRF, the login rate limit, API
tokens (shown once, stored hashed, revocable), /metrics, and errors as JSON."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

import certdesk.desk
from certdesk.asgi import create_app
from certdesk.store.accounts import LoginFailure
from tests.api.conftest import OPERATOR, Api, SyncASGI, error_code
from tests.database import snapshot, unchanged


def _set_cookie(response_headers: list[str]) -> str:
    (cookie,) = [h for h in response_headers if h.startswith("certdesk_session=")]
    return cookie


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_login_sets_a_strict_httponly_cookie_secure_on_tls(api: Api, https: bool) -> None:
    client = api.client(https=https)
    answer = client.post("/api/login", json={"username": OPERATOR[0], "password": OPERATOR[1]})
    assert answer.status_code == 200
    body = answer.json()
    assert body["user"] == {
        "id": body["user"]["id"],
        "username": "operator",
        "role": "operator",
        "tenant": None,
        "disabled": False,
        "must_change_password": False,
    }
    cookie = _set_cookie(answer.headers.get_list("set-cookie"))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert ("secure" in attributes) is https
    # The session works, and the CSRF token comes back from /api/me.
    me = client.get("/api/me")
    assert me.status_code == 200
    assert me.json()["csrf_token"] == body["csrf_token"]
    # The cookie value is stored only as its hash.
    token = cookie.split(";")[0].split("=", 1)[1]
    rows = repr(snapshot(api.desk))
    assert token not in rows
    assert hashlib.sha256(token.encode()).hexdigest() in rows


def test_logout_ends_the_session(api: Api) -> None:
    client = api.operator()
    assert client.post("/api/logout").status_code == 200
    answer = client.get("/api/me")
    assert answer.status_code == 401
    assert error_code(answer) == "unauthenticated"


def test_unauthenticated_calls_answer_401(api: Api) -> None:
    client = api.client()
    for method, path in [("GET", "/api/domains"), ("POST", "/api/tenants"), ("GET", "/metrics")]:
        answer = client.request(method, path, json={"name": "x"} if method == "POST" else None)
        assert answer.status_code == 401, path
        assert error_code(answer) == "unauthenticated"
        assert answer.headers["www-authenticate"] == "Bearer"
    bad = api.bearer("cdk_not-a-token").get("/api/domains")
    assert bad.status_code == 401
    assert error_code(bad) == "unauthenticated"


@pytest.fixture
def tenant(api: Api) -> str:
    answer = api.operator().post(
        "/api/tenants", json={"name": "Acme Hosting", "emails": ["ops@acme.gr"]}
    )
    assert answer.status_code == 201, answer.text
    return "Acme Hosting"


def test_csrf_is_required_for_cookie_sessions_on_every_change(api: Api, tenant: str) -> None:
    client = api.operator()
    good = client.headers.pop("X-CSRF-Token")
    changes: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/api/domains", {"json": {"url": "https://a.acme.gr", "tenant": tenant}}),
        ("PATCH", "/api/tenants/Acme Hosting", {"json": {"emails": ["x@acme.gr"]}}),
        ("DELETE", "/api/domains", {"params": {"url": "https://a.acme.gr"}}),
        ("POST", "/api/tokens", {"json": {"name": "t"}}),
    ]
    with unchanged(api.desk):
        for method, path, kwargs in changes:
            for sent in (None, "", "wrong-token", good[:-1]):
                headers = {} if sent is None else {"X-CSRF-Token": sent}
                answer = client.request(method, path, headers=headers, **kwargs)
                assert answer.status_code == 403, (method, path, sent)
                assert error_code(answer) == "csrf-failed"
        # Reading needs no CSRF token.
        assert client.get("/api/domains").status_code == 200
    # With the token, the same calls go through.
    client.headers["X-CSRF-Token"] = good
    statuses = [client.request(m, p, **kw).status_code for m, p, kw in changes]
    assert statuses == [201, 200, 200, 201]


def test_bearer_tokens_need_no_csrf(api: Api, tenant: str) -> None:
    _, token = api.token(api.operator())
    client = api.bearer(token)
    added = client.post("/api/domains", json={"url": "https://b.acme.gr", "tenant": tenant})
    assert added.status_code == 201, added.text
    changed = client.patch("/api/domains", json={"url": "https://b.acme.gr", "monitored": False})
    assert changed.status_code == 200
    assert changed.json()["monitored"] is False
    removed = client.delete("/api/domains", params={"url": "https://b.acme.gr"})
    assert removed.status_code == 200
    assert client.get("/api/domains").json() == []


def test_login_is_rate_limited_after_five_failures(api: Api) -> None:
    client = api.client()
    before = snapshot(api.desk)
    for _ in range(5):
        failed = client.post(
            "/api/login", json={"username": OPERATOR[0], "password": "wrong-password-1"}
        )
        assert failed.status_code == 401
        assert error_code(failed) == "login-failed"
    for password in ("wrong-password-1", OPERATOR[1]):
        limited = client.post("/api/login", json={"username": OPERATOR[0], "password": password})
        assert limited.status_code == 429
        assert error_code(limited) == "rate-limited"
    # Nothing changed but the count of failures (no session, no audit event).
    assert snapshot(api.desk) == before
    with api.desk.store.engine.connect() as conn:
        counted = conn.execute(select(LoginFailure.username, LoginFailure.address)).all()
    assert [tuple(row) for row in counted] == [(OPERATOR[0], "192.0.2.1")] * 5
    # The lock is per (user, address): another user from the same address logs in.
    password = api.user("second-operator", role="operator")
    fine = client.post("/api/login", json={"username": "second-operator", "password": password})
    assert fine.status_code == 200


def test_unknown_users_fail_like_wrong_passwords(api: Api) -> None:
    client = api.client()
    unknown = client.post("/api/login", json={"username": "nobody", "password": "x" * 12})
    wrong = client.post("/api/login", json={"username": OPERATOR[0], "password": "x" * 12})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_api_tokens_are_shown_once_stored_hashed_and_revocable(api: Api) -> None:
    session = api.operator()
    token_id, token = api.token(session, "ci")
    assert token.startswith("cdk_")
    assert len(token) > 40
    listed = session.get("/api/tokens").json()
    assert [(t["id"], t["name"], t["token"], t["revoked"]) for t in listed] == [
        (token_id, "ci", None, False)
    ]
    assert listed[0]["prefix"] == token[:12]
    assert token not in session.get("/api/tokens").text
    rows = repr(snapshot(api.desk))
    assert token not in rows
    assert token[12:] not in rows
    assert hashlib.sha256(token.encode()).hexdigest() in rows

    bearer = api.bearer(token)
    me = bearer.get("/api/me")
    assert me.status_code == 200
    assert me.json() == {"user": me.json()["user"], "csrf_token": None}
    assert me.json()["user"]["username"] == "operator"

    revoked = session.delete(f"/api/tokens/{token_id}")
    assert revoked.status_code == 200
    assert revoked.json()["revoked"] is True
    after = bearer.get("/api/me")
    assert after.status_code == 401
    assert error_code(after) == "unauthenticated"
    assert session.get("/api/tokens").json()[0]["revoked"] is True
    # A token can revoke itself only once it is known; another user's token is not found.
    assert session.delete("/api/tokens/999999").status_code == 404


def test_operator_only_actions_answer_403_for_resellers(api: Api, tenant: str) -> None:
    password = api.user("reseller", tenant=tenant)
    client = api.session("reseller", password)
    with unchanged(api.desk):
        for method, path, body in [
            ("POST", "/api/tenants", {"name": "Other"}),
            ("POST", "/api/users", {"username": "x", "password": "p" * 12, "role": "operator"}),
            ("GET", "/metrics", None),
        ]:
            answer = client.request(method, path, json=body)
            assert answer.status_code == 403, path
            assert error_code(answer) == "forbidden"
    _, token = api.token(client)
    assert api.bearer(token).get("/metrics").status_code == 403


def test_metrics_for_operators_by_session_or_token(api: Api, tenant: str) -> None:
    operator = api.operator()
    operator.post("/api/domains", json={"url": "https://m.acme.gr", "tenant": tenant})
    by_session = operator.get("/metrics")
    assert by_session.status_code == 200
    assert by_session.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE certdesk_certificate_expiry_timestamp_seconds gauge" in by_session.text
    assert "# TYPE certdesk_probe_success gauge" in by_session.text
    assert "# TYPE certdesk_report_deliveries gauge" in by_session.text
    _, token = api.token(operator)
    by_token = api.bearer(token).get("/metrics")
    assert by_token.status_code == 200
    assert by_token.text == by_session.text


def test_users_are_created_by_operators(api: Api, tenant: str) -> None:
    operator = api.operator()
    answer = operator.post(
        "/api/users",
        json={
            "username": "Reseller-1",
            "password": "a-long-password-1",
            "role": "reseller",
            "tenant": tenant,
        },
    )
    api.secrets.add("a-long-password-1")
    assert answer.status_code == 201, answer.text
    assert answer.json()["username"] == "reseller-1"
    assert answer.json()["tenant"] == tenant
    rows = snapshot(api.desk)
    assert "a-long-password-1" not in repr(rows)
    hashes = [row[2] for row in rows["users"]]
    assert all(h.startswith("$argon2id$") for h in hashes)
    short = operator.post(
        "/api/users",
        json={"username": "r2", "password": "short", "role": "reseller", "tenant": tenant},
    )
    assert short.status_code == 400
    assert error_code(short) == "invalid-argument"
    again = operator.post(
        "/api/users",
        json={"username": "reseller-1", "password": "b-long-password", "role": "operator"},
    )
    api.secrets.add("b-long-password")
    assert again.status_code == 409
    assert error_code(again) == "conflict"
    names = sorted(u["username"] for u in operator.get("/api/users").json())
    assert names == ["operator", "reseller-1"]
    client = api.session("reseller-1", "a-long-password-1")
    assert [u["username"] for u in client.get("/api/users").json()] == ["reseller-1"]


# --- errors ------------------------------------------------------------------------------


def test_errors_are_json_with_a_stable_code(api: Api, tenant: str) -> None:
    client = api.operator()
    cases = [
        (client.get("/api/no-such-route"), 404, "not-found"),
        (client.put("/api/domains"), 405, "method-not-allowed"),
        (client.get("/api/csr/999"), 404, "not-found"),
        (client.get("/api/csr/not-a-number"), 400, "invalid-argument"),
        (client.post("/api/tenants", json={"name": tenant}), 409, "conflict"),
        (
            client.post("/api/domains", json={"url": "ftp://x.acme.gr", "tenant": tenant}),
            400,
            "invalid-argument",
        ),
        (client.post("/api/domains", json={"tenant": tenant}), 400, "invalid-argument"),
        (
            client.post(
                "/api/domains", content=b"{not json", headers={"content-type": "application/json"}
            ),
            400,
            "invalid-argument",
        ),
        (client.get("/api/reports/weekly"), 400, "invalid-argument"),
    ]
    for answer, status, code in cases:
        assert answer.status_code == status, answer.text
        assert error_code(answer) == code, answer.text
        assert answer.json()["error"]["message"]


def test_api_errors_stay_json_with_the_portal_mounted(api: Api) -> None:
    app = create_app(api.desk, api.settings, with_portal=True)
    transport = SyncASGI(app, api.transport.portal)
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        for method, path, status, code in [
            ("GET", "/api/no-such-route", 404, "not-found"),
            ("PUT", "/api/domains", 405, "method-not-allowed"),
            ("GET", "/api/domains", 401, "unauthenticated"),
            ("GET", "/docs/no-such-page", 404, "not-found"),
            ("POST", "/openapi.json", 405, "method-not-allowed"),
        ]:
            answer = client.request(method, path, headers={"accept": "text/html"})
            assert answer.status_code == status, path
            assert answer.json()["error"]["code"] == code, answer.text


def test_unexpected_errors_are_json_too(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:

    _, token = api.token(api.operator())
    client = api.client(raise_errors=False, Authorization=f"Bearer {token}")
    for error, status, code in [
        (RuntimeError("boom at /secret/path"), 500, "internal-error"),
        (
            OperationalError("SELECT 1", {}, Exception("database is locked")),
            503,
            "store-unavailable",
        ),
    ]:

        def failing(ctx: object, error: Exception = error) -> None:
            raise error

        monkeypatch.setattr(certdesk.desk, "list_tenants", failing)
        answer = client.get("/api/tenants")
        assert answer.status_code == status
        assert error_code(answer) == code
        assert "/secret/path" not in answer.text
        assert "SELECT" not in answer.text


def test_validation_errors_never_echo_passwords(api: Api) -> None:
    """A rejected body is not sent back: it may hold a password."""
    client = api.client()
    secret = "hunter2-hunter2-hunter2"
    api.secrets.add(secret)
    for body in (
        {"password": secret},
        {"username": ["not", "a", "name"], "password": secret},
        {"username": "x", "password": secret * 100},
    ):
        answer = client.post("/api/login", json=body)
        assert answer.status_code == 400, answer.text
        assert error_code(answer) == "invalid-argument"
        assert secret not in answer.text
    operator = api.operator()
    answer = operator.post("/api/exports", json={"to": "pfx", "password": secret})
    assert answer.status_code == 400
    assert secret not in answer.text


# --- upload limits -------------------------------------------------------------------------


def test_uploads_over_the_limit_answer_413(api: Api, tenant: str) -> None:
    client = api.operator()
    limit = api.settings.max_upload_bytes
    form = {"common_name": "store.test.com", "tenant": tenant, "urls": ["https://store.test.com"]}
    with unchanged(api.desk):
        # A file just over the limit (the body is within the allowance for form fields).
        just_over = client.post(
            "/api/submissions", data=form, files={"file": ("big.pfx", b"\0" * (limit + 1))}
        )
        assert just_over.status_code == 413
        assert error_code(just_over) == "too-large"
        # A declared body far over: refused before it is read.
        declared = client.post(
            "/api/csr/complete", files={"file": ("big.crt", b"A" * (2 * limit + 10))}
        )
        assert declared.status_code == 413
        assert error_code(declared) == "too-large"

        # A streamed body without Content-Length: counted as it comes.
        def chunks() -> Iterator[bytes]:
            yield (
                b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.crt"\r\n'
                b"Content-Type: application/octet-stream\r\n\r\n"
            )
            for _ in range(3 * limit // 65536):
                yield b"B" * 65536

        streamed = client.post(
            "/api/csr/complete",
            content=chunks(),
            headers={"content-type": "multipart/form-data; boundary=xyz"},
        )
        assert streamed.status_code == 413, streamed.text
        assert error_code(streamed) == "too-large"
