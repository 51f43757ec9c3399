"""The operators' accounts pages: disable and enable an account, reset its password (a
new one made by certdesk, shown once, to be changed at the next login), and revoke its
API tokens from the portal; the reseller's browser session and token stop at once.
Resellers get a 403 page for all of it, and nothing changes."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from certdesk import desk
from certdesk.desk import Desk, accounts
from tests.database import unchanged
from tests.web.conftest import OPERATOR, PASSWORD, SyncASGI, csrf_of, shown_password

Login = Callable[[str], tuple[httpx.Client, str]]


def _token_of(web_desk: Desk, username: str) -> tuple[int, str]:
    user = next(u for u in web_desk.run(OPERATOR, accounts.list_users) if u.username == username)
    made = web_desk.run(OPERATOR, accounts.create_token, user_id=user.id, name="ci")
    assert made.token is not None
    return made.id, made.token


def _bearer(transport: SyncASGI, token: str) -> httpx.Client:
    return httpx.Client(
        transport=transport,
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {token}"},
    )


def _logged_out(client: httpx.Client) -> bool:
    answer = client.get("/", follow_redirects=False)
    return answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_an_operator_disables_enables_resets_and_revokes(
    login: Login, web_desk: Desk, transport: SyncASGI
) -> None:
    alice, _ = login("alice")
    token_id, token = _token_of(web_desk, "alice")
    bearer = _bearer(transport, token)
    assert bearer.get("/api/me").status_code == 200
    admin, csrf = login("admin")
    listing = admin.get("/users")
    assert listing.status_code == 200
    assert 'href="/users/alice"' in listing.text
    assert 'href="/users"' in admin.get("/").text  # in the operators' navigation
    page = admin.get("/users/alice")
    assert "ci" in page.text
    assert f"/users/alice/tokens/{token_id}/revoke" in page.text

    done = admin.post("/users/alice/disable", data={"csrf_token": csrf}, follow_redirects=True)
    assert done.status_code == 200, done.text
    assert "Disabled: its sessions ended" in done.text
    assert _logged_out(alice)
    assert bearer.get("/api/me").status_code == 401

    enabled = admin.post("/users/alice/enable", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Enabled" in enabled.text
    alice_again, _ = login("alice")
    assert not _logged_out(alice_again)
    assert bearer.get("/api/me").status_code == 401  # the old token stays revoked

    _, second = _token_of(web_desk, "alice")
    second_id = next(
        t.id for t in web_desk.run(OPERATOR, accounts.tokens_of, username="alice") if not t.revoked
    )
    revoked = admin.post(
        f"/users/alice/tokens/{second_id}/revoke", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "Token revoked" in revoked.text
    assert _bearer(transport, second).get("/api/me").status_code == 401
    assert not _logged_out(alice_again)

    reset = admin.post("/users/alice/password", data={"csrf_token": csrf})
    assert reset.status_code == 200, reset.text
    assert reset.headers["cache-control"] == "no-store"
    new_password = shown_password(reset.text)
    assert _logged_out(alice_again)
    assert new_password not in admin.get("/users/alice").text  # shown once
    assert new_password not in str(web_desk.run(OPERATOR, desk.list_audit))
    fresh = httpx.Client(transport=transport, base_url="http://testserver")
    form = fresh.get("/login")
    ok = fresh.post(
        "/login",
        data={"username": "alice", "password": new_password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    # The made password only lets alice set her own.
    assert fresh.get("/", follow_redirects=False).headers["location"] == "/account/password"
    refused = fresh.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert refused.status_code != 303  # the old password is gone


def test_resellers_get_403_and_change_nothing(login: Login, web_desk: Desk) -> None:
    bob, csrf = login("bob")
    assert 'href="/users"' not in bob.get("/").text
    with unchanged(web_desk):
        for path in ("/users", "/users/alice", "/users/bob"):
            page = bob.get(path)
            assert page.status_code == 403, path
            assert "forbidden" in page.text
        for path, data in (
            ("/users/alice/disable", {}),
            ("/users/bob/disable", {}),
            ("/users/admin/password", {}),
            ("/users", {"username": "mallory", "role": "operator"}),
            ("/users/alice/tokens/1/revoke", {}),
        ):
            answer = bob.post(path, data={"csrf_token": csrf, **data})
            assert answer.status_code == 403, path
    admin, _ = login("admin")
    with unchanged(web_desk):
        refused = admin.post("/users/alice/disable", data={})  # no CSRF token
        assert refused.status_code == 403
    login("alice")  # alice still logs in with her password
