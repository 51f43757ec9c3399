"""Passwords: common, breached or easily guessed ones are refused (NIST SP 800-63B), and
the operator made on first start with a generated password sets its own at the first
login, in the API and in the portal."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete

from certdesk.application.server import first_start
from certdesk.asgi import create_app
from certdesk.desk import Actor
from certdesk.desk import accounts as acc
from certdesk.desk.passwords import WeakPassword, check_password
from certdesk.errors import InvalidArgument
from certdesk.store.accounts import User
from tests.api.conftest import Api, SyncASGI, error_code
from tests.database import unchanged

NEW_PASSWORD = "lantern orbit cobalt meadow"


@pytest.mark.parametrize(
    "password",
    [
        "aaaaaaaaaaaa",
        "password1234",
        "Password123!",
        "qwertyuiop123",
        "iloveyou1234",
        "123456789012",
        "abcabcabcabc",
    ],
)
def test_weak_passwords_are_refused_for_operators(api: Api, password: str) -> None:
    operator = api.operator()
    with unchanged(api.desk):
        answer = operator.post(
            "/api/users", json={"username": "operator-2", "password": password, "role": "operator"}
        )
    assert answer.status_code == 400, answer.text
    assert error_code(answer) == "weak-password"
    error = answer.json()["error"]
    assert "passphrase" in error["hint"]
    assert password not in answer.text


def test_strong_passwords_are_taken() -> None:
    for password in (NEW_PASSWORD, "Tr0ub4dor&3-xyz-91", "ž" * 3 + " five uncommon wombats"):
        check_password(password, username="operator")
    with pytest.raises(InvalidArgument, match="at least 12 characters"):
        check_password("short")
    # Made from the user name: guessable for whoever knows the name.
    with pytest.raises(WeakPassword):
        check_password("acmehosting2024", username="acmehosting")
    # A long passphrase past what the estimator reads is judged on its first part.
    check_password(NEW_PASSWORD * 10)


@pytest.fixture
def first_operator(api: Api) -> str:
    """The first-start operator of an empty database: its generated password."""
    with api.desk.context(Actor(name="test")) as ctx:
        ctx.session.execute(delete(User))  # the fixture's operator: start from nothing
    password = first_start(api.desk, None)
    assert password is not None
    api.secrets.add(password)
    return password


def test_the_first_start_operator_must_change_its_password_in_the_api(
    api: Api, first_operator: str
) -> None:
    client = api.session("admin", first_operator)
    blocked = client.get("/api/domains")
    assert blocked.status_code == 403
    assert error_code(blocked) == "password-change-required"
    assert "/api/me/password" in blocked.json()["error"]["hint"]
    assert client.post("/api/tokens", json={"name": "x"}).status_code == 403
    me = client.get("/api/me")
    assert me.status_code == 200
    assert me.json()["user"]["must_change_password"] is True
    weak = client.post(
        "/api/me/password",
        json={"current_password": first_operator, "new_password": "aaaaaaaaaaaa"},
    )
    assert weak.status_code == 400
    assert error_code(weak) == "weak-password"
    wrong = client.post(
        "/api/me/password", json={"current_password": "not-it-at-all", "new_password": NEW_PASSWORD}
    )
    assert wrong.status_code == 401
    changed = client.post(
        "/api/me/password",
        json={"current_password": first_operator, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["user"]["must_change_password"] is False
    client.headers["X-CSRF-Token"] = changed.json()["csrf_token"]
    assert client.get("/api/domains").status_code == 200
    # The old password is gone; the new one logs in.
    api.secrets.add(NEW_PASSWORD)
    assert (
        api.client()
        .post("/api/login", json={"username": "admin", "password": first_operator})
        .status_code
        == 401
    )
    api.session("admin", NEW_PASSWORD)


def test_an_operator_who_chose_the_first_password_is_not_asked_again(api: Api) -> None:
    with api.desk.context(Actor(name="test")) as ctx:
        ctx.session.execute(delete(User))
    assert first_start(api.desk, NEW_PASSWORD) is None
    api.secrets.add(NEW_PASSWORD)
    assert api.session("admin", NEW_PASSWORD).get("/api/domains").status_code == 200


@pytest.fixture
def portal(api: Api) -> FastAPI:
    return create_app(api.desk, api.settings)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def test_the_portal_sends_the_first_start_operator_to_change_its_password(
    api: Api, first_operator: str, portal: FastAPI
) -> None:
    transport = SyncASGI(portal, api.transport.portal)
    with httpx.Client(transport=transport, base_url="http://testserver") as browser:
        page = browser.get("/login")
        logged = browser.post(
            "/login",
            data={"username": "admin", "password": first_operator, "csrf_token": _csrf(page.text)},
        )
        assert logged.status_code == 303
        home = browser.get("/")
        assert home.status_code == 303
        assert home.headers["location"] == "/account/password"
        form = browser.get("/account/password")
        assert form.status_code == 200
        assert "set a password of your own" in form.text
        weak = browser.post(
            "/account/password",
            data={
                "current_password": first_operator,
                "new_password": "password1234",
                "confirm_password": "password1234",
                "csrf_token": _csrf(form.text),
            },
        )
        assert weak.status_code == 400
        assert "weak-password" in weak.text
        done = browser.post(
            "/account/password",
            data={
                "current_password": first_operator,
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
                "csrf_token": _csrf(weak.text),
            },
        )
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/"
        assert browser.get("/").status_code == 200
    api.secrets.add(NEW_PASSWORD)
    with api.desk.context(Actor(name="test"), readonly=True) as ctx:
        [admin] = [u for u in acc.list_users(ctx) if u.username == "admin"]
    assert admin.must_change_password is False
