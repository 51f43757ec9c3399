"""Operators can shut a reseller out at once: disable the account (its sessions and API
tokens stop working on their next request), revoke any user's token, and reset a
password (which ends the user's sessions and revokes its tokens). Through the API and
the command line (``certdesk user disable|enable|tokens|revoke-token|password``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import OPERATOR, Api, error_code
from tests.cli.conftest import Run
from tests.database import unchanged
from tests.reports.cli import certdesk_cli

__all__ = ["certdesk_cli"]

TENANT = "Acme Hosting"
Cli = Callable[..., Run]


@pytest.fixture
def reseller(api: Api) -> tuple[httpx.Client, httpx.Client, int]:
    """Reseller ``acme``: a session, a client with its API token, and the token's id."""
    operator = api.operator()
    assert operator.post("/api/tenants", json={"name": TENANT}).status_code == 201
    password = api.user("acme", tenant=TENANT)
    session = api.session("acme", password)
    token_id, token = api.token(session, "ci")
    return session, api.bearer(token), token_id


def _locked_out(*clients: httpx.Client) -> None:
    for client in clients:
        answer = client.get("/api/domains")
        assert answer.status_code == 401, answer.text
        assert error_code(answer) == "unauthenticated"


def test_disabling_stops_sessions_and_tokens_at_once(
    api: Api, reseller: tuple[httpx.Client, httpx.Client, int]
) -> None:
    session, bearer, token_id = reseller
    assert session.get("/api/domains").status_code == 200
    assert bearer.get("/api/domains").status_code == 200
    operator = api.operator()
    answer = operator.patch("/api/users/acme", json={"disabled": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["disabled"] is True
    _locked_out(session, bearer)
    again = api.client().post(
        "/api/login", json={"username": "acme", "password": "acme-password-123"}
    )
    assert again.status_code == 401
    assert error_code(again) == "login-failed"
    tokens = operator.get("/api/users/acme/tokens").json()
    assert [(t["id"], t["revoked"]) for t in tokens] == [(token_id, True)]
    audit = [e["action"] for e in operator.get("/api/audit").json()]
    assert "user.disable" in audit
    # Enabled again: it logs in; its old token stays revoked.
    assert operator.patch("/api/users/acme", json={"disabled": False}).json()["disabled"] is False
    fresh = api.session("acme", "acme-password-123")
    assert fresh.get("/api/domains").status_code == 200
    _locked_out(bearer)


def test_operators_revoke_any_token(
    api: Api, reseller: tuple[httpx.Client, httpx.Client, int]
) -> None:
    session, bearer, token_id = reseller
    operator = api.operator()
    answer = operator.delete(f"/api/tokens/{token_id}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["revoked"] is True
    _locked_out(bearer)
    assert session.get("/api/domains").status_code == 200  # the session is another matter
    assert operator.delete("/api/tokens/999999").status_code == 404


def test_a_reseller_cannot_revoke_or_see_another_users_tokens(
    api: Api, reseller: tuple[httpx.Client, httpx.Client, int]
) -> None:
    session, bearer, _ = reseller
    op_token_id, op_token = api.token(api.operator(), "operator-ci")
    with unchanged(api.desk):
        answer = session.delete(f"/api/tokens/{op_token_id}")
        assert answer.status_code == 404
        assert error_code(answer) == "not-found"
        assert session.get(f"/api/users/{OPERATOR[0]}/tokens").status_code == 404
        for change in ({"disabled": True}, {"password": "another-password-1"}):
            assert session.patch(f"/api/users/{OPERATOR[0]}", json=change).status_code == 404
        # Its own account: it may not disable itself (that is the operators' to do).
        own = session.patch("/api/users/acme", json={"disabled": True})
        assert own.status_code == 403
        assert error_code(own) == "forbidden"
    assert api.bearer(op_token).get("/api/me").status_code == 200
    assert bearer.get("/api/me").status_code == 200


def test_a_password_reset_revokes_sessions_and_tokens(
    api: Api, reseller: tuple[httpx.Client, httpx.Client, int]
) -> None:
    session, bearer, _ = reseller
    api.secrets.add("reset-by-operator-1")
    answer = api.operator().patch("/api/users/acme", json={"password": "reset-by-operator-1"})
    assert answer.status_code == 200, answer.text
    _locked_out(session, bearer)
    assert api.session("acme", "reset-by-operator-1").get("/api/domains").status_code == 200


def test_changing_ones_own_password_revokes_ones_tokens(
    api: Api, reseller: tuple[httpx.Client, httpx.Client, int]
) -> None:
    session, bearer, _ = reseller
    api.secrets.add("my-own-new-password")
    answer = session.patch("/api/users/acme", json={"password": "my-own-new-password"})
    assert answer.status_code == 200, answer.text
    _locked_out(session, bearer)


def test_operators_cannot_lock_the_platform_out(api: Api) -> None:
    operator = api.operator()
    with unchanged(api.desk):
        own = operator.patch(f"/api/users/{OPERATOR[0]}", json={"disabled": True})
        assert own.status_code == 409
        assert "your own account" in own.json()["error"]["message"]
    api.user("second-operator", role="operator")
    second = api.session("second-operator", "second-operator-password-123")
    # Another operator may disable the first; the last enabled operator stays enabled.
    assert second.patch(f"/api/users/{OPERATOR[0]}", json={"disabled": True}).status_code == 200
    _locked_out(operator)
    with unchanged(api.desk):
        last = second.patch("/api/users/second-operator", json={"disabled": True})
        assert last.status_code == 409


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_command_line(
    api: Api, reseller: tuple[httpx.Client, httpx.Client, int], certdesk_cli: Cli, tmp_path: Path
) -> None:
    session, bearer, token_id = reseller
    env = {
        "CERTDESK_HOME": str(api.settings.home),
        "CERTDESK_DATABASE_URL": api.settings.database_url,
    }
    listed = certdesk_cli("user", "tokens", "acme", env=env)
    assert listed.exit_code == 0, listed.stderr
    assert "ci" in listed.stdout
    assert "active" in listed.stdout
    as_json = certdesk_cli("user", "tokens", "acme", "--json", env=env)
    assert as_json.exit_code == 0, as_json.stderr
    (token,) = json.loads(as_json.stdout)["tokens"]
    assert token["created_at"].endswith("Z")  # UTC with a Z, as every JSON of certdesk
    revoked = certdesk_cli("user", "revoke-token", "acme", str(token_id), env=env)
    assert revoked.exit_code == 0, revoked.stderr
    _locked_out(bearer)
    assert session.get("/api/domains").status_code == 200
    wrong = certdesk_cli("user", "revoke-token", OPERATOR[0], str(token_id), env=env)
    assert wrong.exit_code == 1
    assert "not-found" in wrong.stdout + wrong.stderr

    disabled = certdesk_cli("user", "disable", "acme", env=env)
    assert disabled.exit_code == 0, disabled.stderr
    assert "disabled" in disabled.stdout
    _locked_out(session)
    users = certdesk_cli("user", "list", "--json", env=env)
    states = {u["username"]: u["disabled"] for u in json.loads(users.stdout)["users"]}
    assert states["acme"] is True
    enabled = certdesk_cli("user", "enable", "acme", env=env)
    assert enabled.exit_code == 0, enabled.stderr
    fresh = api.session("acme", "acme-password-123")
    assert fresh.get("/api/domains").status_code == 200

    password = tmp_path / "pw"
    password.write_text("reset-on-the-cli-1\n")
    api.secrets.add("reset-on-the-cli-1")
    reset = certdesk_cli("user", "password", "acme", "--password-file", str(password), env=env)
    assert reset.exit_code == 0, reset.stderr
    _locked_out(fresh)
