"""Passwords certdesk makes (a new account, an operator's reset): returned once, stored
only as a hash, good for one thing — setting one's own — on both databases. Only
operators make them; a reseller asking for another's account learns nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from certdesk.desk import Actor, Desk
from certdesk.desk import accounts as acc
from certdesk.desk.context import Forbidden, NotFound
from certdesk.errors import CertdeskError, InvalidArgument
from certdesk.store.accounts import User
from certdesk.store.models import AuditEvent
from tests.database import unchanged
from tests.flows import new_tenant

PASSWORD = "a-long-password-1"


def _stored(desk: Desk, operator: Actor) -> str:
    """Every user row and audit event, as text: where a password must never be."""
    with desk.context(operator, readonly=True) as ctx:
        users = [
            (u.username, u.password_hash, u.must_change_password)
            for u in ctx.session.scalars(select(User))
        ]
        events = [(a.action, a.detail) for a in ctx.session.scalars(select(AuditEvent))]
    return repr((users, events))


def test_a_new_account_gets_a_password_to_change(desk: Desk, operator: Actor) -> None:
    tenant_id = new_tenant(desk, operator, "Acme Hosting")
    made = desk.run(
        operator, acc.add_user, username="Carol", role="reseller", tenant="Acme Hosting"
    )
    assert (made.user.username, made.user.tenant) == ("carol", "Acme Hosting")
    assert made.user.must_change_password is True
    assert len(made.password) >= 20
    assert made.password not in repr(made)
    assert made.password not in _stored(desk, operator)
    session = desk.run(Actor("auth"), acc.login, username="carol", password=made.password)
    assert session.user.must_change_password is True
    assert session.actor == Actor("user:carol", tenant_id=tenant_id)
    # Setting its own password clears the mark.
    mine = desk.run(
        session.actor,
        acc.change_own_password,
        username="carol",
        current_password=made.password,
        new_password="carol's very own passphrase",
    )
    assert mine.user.must_change_password is False


def test_a_reset_ends_everything_and_asks_for_a_new_password(desk: Desk, operator: Actor) -> None:
    new_tenant(desk, operator, "Acme Hosting")
    desk.run(
        operator,
        acc.create_user,
        username="acme",
        password=PASSWORD,
        role="reseller",
        tenant="Acme Hosting",
    )
    auth = Actor("auth")
    session = desk.run(auth, acc.login, username="acme", password=PASSWORD)
    user_id = session.user.id
    token = desk.run(session.actor, acc.create_token, user_id=user_id, name="ci")
    assert token.token is not None

    reset = desk.run(operator, acc.reset_password, username="ACME")
    assert reset.user.must_change_password is True
    assert reset.password != PASSWORD
    assert reset.password not in _stored(desk, operator)
    assert desk.run(auth, acc.session_for, token=session.token) is None
    assert desk.run(auth, acc.actor_for_token, token=token.token) is None
    with pytest.raises(CertdeskError) as caught:
        desk.run(auth, acc.login, username="acme", password=PASSWORD)
    assert caught.value.code == "login-failed"
    again = desk.run(auth, acc.login, username="acme", password=reset.password)
    assert again.user.must_change_password is True
    with desk.context(operator, readonly=True) as ctx:
        last = ctx.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "user.password-reset")
        ).one()
    assert last.detail == {
        "username": "acme",
        "sessions_ended": 1,
        "tokens_revoked": 1,
    }


def test_only_operators_make_passwords(desk: Desk, operator: Actor) -> None:
    acme = new_tenant(desk, operator, "Acme Hosting")
    new_tenant(desk, operator, "Beta Cloud")
    for name, tenant in (("acme", "Acme Hosting"), ("beta", "Beta Cloud")):
        desk.run(
            operator,
            acc.create_user,
            username=name,
            password=PASSWORD,
            role="reseller",
            tenant=tenant,
        )
    reseller = Actor("user:acme", tenant_id=acme)
    with unchanged(desk):
        with pytest.raises(NotFound):
            desk.run(reseller, acc.reset_password, username="beta")
        with pytest.raises(Forbidden):
            desk.run(reseller, acc.reset_password, username="acme")
        with pytest.raises(Forbidden):
            desk.run(reseller, acc.add_user, username="mallory", role="operator")
        with pytest.raises(NotFound):
            desk.run(operator, acc.reset_password, username="nobody")


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"username": "two words", "role": "operator"}, "username"),
        ({"username": "acme", "role": "operator"}, "username"),
        ({"username": "x", "role": "admin"}, "role"),
        ({"username": "x", "role": "reseller"}, "tenant"),
        ({"username": "x", "role": "operator", "tenant": "Acme Hosting"}, "tenant"),
    ],
)
def test_a_refused_account_names_its_field(
    desk: Desk, operator: Actor, inputs: dict[str, str], field: str
) -> None:
    new_tenant(desk, operator, "Acme Hosting")
    desk.run(operator, acc.create_user, username="acme", password=PASSWORD, role="operator")
    with unchanged(desk), pytest.raises(CertdeskError) as caught:
        desk.run(operator, acc.add_user, **inputs)
    assert caught.value.field == field
    assert isinstance(caught.value, InvalidArgument) or caught.value.code == "conflict"
