"""A reseller's own account in the portal: API tokens (made — shown once —, used, revoked),
its own password (errors beside their field), and its tenant's audit log; reseller B
reaching for A's tokens or events gets a 404 page or sees nothing, and changes nothing."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from certdesk import desk as d
from certdesk.desk import Desk, accounts
from tests.database import unchanged
from tests.web.conftest import OPERATOR, PASSWORD, TENANT_A, TENANT_B, SyncASGI, csrf_of

Login = Callable[[str], tuple[httpx.Client, str]]
TOKEN = re.compile(r'id="f-new-token"[^>]*value="(cdk_[^"]+)"')


def _bearer(transport: SyncASGI, token: str) -> httpx.Client:
    return httpx.Client(
        transport=transport,
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {token}"},
    )


def _tokens(web_desk: Desk, username: str) -> list[accounts.TokenView]:
    return web_desk.run(OPERATOR, accounts.tokens_of, username=username)


def test_a_reseller_makes_uses_and_revokes_its_own_token(
    login: Login, web_desk: Desk, transport: SyncASGI
) -> None:
    client, csrf = login("alice")
    page = client.get("/account")
    assert page.status_code == 200
    assert 'href="/account/password"' in page.text
    assert "No API tokens yet" in page.text

    made = client.post("/account/tokens", data={"csrf_token": csrf, "name": "billing sync"})
    assert made.status_code == 200
    found = TOKEN.search(made.text)
    assert found, made.text
    token = found.group(1)
    [view] = _tokens(web_desk, "alice")
    assert view.name == "billing sync"
    assert token.startswith(view.prefix)
    api = _bearer(transport, token)
    assert api.get("/api/me").json()["user"]["username"] == "alice"

    again = client.get("/account")
    assert token not in again.text  # shown once
    assert f"{view.prefix}…" in again.text

    revoked = client.post(
        f"/account/tokens/{view.id}/revoke", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "Token revoked" in revoked.text
    assert api.get("/api/me").status_code == 401
    assert _tokens(web_desk, "alice")[0].revoked


def test_reseller_b_cannot_see_or_revoke_a_token_of_a(
    login: Login, web_desk: Desk, transport: SyncASGI
) -> None:
    users = web_desk.run(OPERATOR, accounts.list_users)
    alice_id = next(u.id for u in users if u.username == "alice")
    made = web_desk.run(OPERATOR, accounts.create_token, user_id=alice_id, name="alice's")
    assert made.token is not None
    bob, csrf = login("bob")
    with unchanged(web_desk):
        page = bob.get("/account")
        assert "alice's" not in page.text
        assert made.prefix not in page.text
        answer = bob.post(f"/account/tokens/{made.id}/revoke", data={"csrf_token": csrf})
        assert answer.status_code == 404
        assert "<code>not-found</code>" in answer.text
        forged = bob.post("/account/tokens", data={"csrf_token": "forged", "name": "x"})
        assert forged.status_code == 403
    assert _bearer(transport, made.token).get("/api/me").status_code == 200


def test_password_errors_are_beside_their_field_and_a_good_change_works(
    login: Login, web_desk: Desk
) -> None:
    client, csrf = login("alice")
    form = client.get("/account/password")
    assert form.status_code == 200
    good = "a long new passphrase 42"
    cases = (
        ("not my password", good, good, "current_password"),
        (PASSWORD, "password1234", "password1234", "new_password"),
        (PASSWORD, PASSWORD, PASSWORD, "new_password"),
        (PASSWORD, "a long new passphrase 42", "something else", "confirm_password"),
    )
    for current, new, confirm, field in cases:
        answer = client.post(
            "/account/password",
            data={
                "csrf_token": csrf,
                "current_password": current,
                "new_password": new,
                "confirm_password": confirm,
            },
        )
        assert answer.status_code in (400, 401), (field, answer.status_code)
        assert f'id="{field}-error"' in answer.text, field
        assert re.search(f'id="f-{field}"[^>]*aria-invalid="true"', answer.text), field
        assert "certdesk " not in answer.text.split(f'id="{field}-error"')[1].split("</div>")[0]
    done = client.post(
        "/account/password",
        data={
            "csrf_token": csrf,
            "current_password": PASSWORD,
            "new_password": "a long new passphrase 42",
            "confirm_password": "a long new passphrase 42",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert client.get("/").status_code == 200  # the new session goes on
    web_desk.run(
        d.Actor(name="test"), accounts.login, username="alice", password="a long new passphrase 42"
    )


def test_the_audit_log_shows_the_tenant_own_events_only(login: Login, web_desk: Desk) -> None:
    web_desk.run(OPERATOR, d.add_domain, url="https://alpha.test.com", tenant=TENANT_A)
    web_desk.run(OPERATOR, d.add_domain, url="https://beta.test.com", tenant=TENANT_B)
    alice, _ = login("alice")
    with unchanged(web_desk):
        page = alice.get("/audit")
    assert page.status_code == 200
    assert "domain.add" in page.text
    assert "alpha.test.com" in page.text
    assert "beta.test.com" not in page.text
    assert TENANT_B not in page.text
    bob, _ = login("bob")
    theirs = bob.get("/audit").text
    assert "beta.test.com" in theirs
    assert "alpha.test.com" not in theirs
    admin, _ = login("admin")
    every = admin.get("/audit").text
    assert "alpha.test.com" in every
    assert "emails: ops@acme.gr" in every  # a list, written as words, not ['…']
    assert "beta.test.com" in every


def test_the_audit_log_comes_a_page_at_a_time_and_filters(login: Login, web_desk: Desk) -> None:
    for n in range(60):
        web_desk.run(OPERATOR, d.add_domain, url=f"https://s{n:02}.test.com", tenant=TENANT_A)
    web_desk.run(OPERATOR, d.add_domain, url="https://beta.test.com", tenant=TENANT_B)
    alice, _ = login("alice")
    first = alice.get("/audit").text
    assert "Page 1 of 2" in first
    assert "s59.test.com" in first  # newest first
    assert "s00.test.com" not in first
    second = alice.get("/audit?page=2").text
    assert "Page 2 of 2" in second
    assert "s00.test.com" in second
    assert "beta.test.com" not in first + second
    past = alice.get("/audit?page=9").text  # past the end: the last page
    assert "Page 2 of 2" in past
    logins = alice.get("/audit?action=user.login").text
    assert "s59.test.com" not in logins
    assert "user.login" in logins
    assert "No event matches." in alice.get("/audit?action=nothing.such").text


def test_account_and_audit_are_in_the_navigation_and_need_a_session(
    login: Login, transport: SyncASGI
) -> None:
    client, _ = login("alice")
    home = client.get("/").text
    for link in ('href="/account"', 'href="/audit"', 'href="/convert"'):
        assert link in home
    with httpx.Client(
        transport=transport, base_url="http://testserver", headers={"accept": "text/html"}
    ) as anonymous:
        for path in ("/account", "/audit"):
            answer = anonymous.get(path, follow_redirects=False)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/login")
        assert anonymous.post("/account/tokens", data={"name": "x"}).status_code == 401
    assert csrf_of(home)
