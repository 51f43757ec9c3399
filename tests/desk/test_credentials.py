"""Who a session cookie or an API token stands for, and when they stop standing for
anyone: expiry, revocation, a disabled account — on both databases."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from certdesk.desk import Actor, Desk
from certdesk.desk import accounts as acc
from certdesk.store.accounts import User
from tests.flows import new_tenant

PASSWORD = "a-long-password-1"


def setup_users(desk: Desk, operator: Actor) -> tuple[int, int]:
    tenant_id = new_tenant(desk, operator, "Acme Hosting")
    with desk.context(operator) as ctx:
        acc.create_user(
            ctx, username="acme", password=PASSWORD, role="reseller", tenant="Acme Hosting"
        )
        acc.create_user(ctx, username="ops", password=PASSWORD, role="operator")
        ids = {u.username: u.id for u in acc.list_users(ctx)}
    return tenant_id, ids["acme"]


def test_session_and_token_name_their_user(desk: Desk, operator: Actor) -> None:
    tenant_id, acme = setup_users(desk, operator)
    auth = Actor("auth")
    session = desk.run(auth, acc.login, username="acme", password=PASSWORD)
    found = desk.run(auth, acc.session_for, token=session.token)
    assert found is not None
    assert found.actor == Actor("user:acme", tenant_id=tenant_id)
    assert (found.user.username, found.user.role, found.user.tenant) == (
        "acme",
        "reseller",
        "Acme Hosting",
    )
    assert found.csrf_token == session.csrf_token
    made = desk.run(operator, acc.create_token, user_id=acme, name="ci")
    assert made.token is not None
    use = desk.run(auth, acc.actor_for_token, token=made.token)
    assert use is not None
    assert (use.actor, use.user, use.token_id, use.stale) == (
        found.actor,
        found.user,
        made.id,
        True,
    )
    desk.run(auth, acc.touch_token, token_id=made.id)
    again = desk.run(auth, acc.actor_for_token, token=made.token)
    assert again is not None
    assert again.stale is False
    # An operator has no tenant.
    ops = desk.run(auth, acc.login, username="ops", password=PASSWORD)
    ops_found = desk.run(auth, acc.session_for, token=ops.token)
    assert ops_found is not None
    assert (ops_found.actor, ops_found.user.tenant) == (Actor("user:ops"), None)


def test_expired_revoked_disabled_and_unknown_stand_for_no_one(desk: Desk, operator: Actor) -> None:
    _, acme = setup_users(desk, operator)
    auth = Actor("auth")
    session = desk.run(auth, acc.login, username="acme", password=PASSWORD)
    made = desk.run(operator, acc.create_token, user_id=acme, name="ci")
    assert made.token is not None
    assert desk.run(auth, acc.session_for, token=session.token + "x") is None
    assert desk.run(auth, acc.actor_for_token, token=made.token + "x") is None
    # A session ends when its lifetime does.
    later = desk.now() + acc.SESSION_LIFETIME + timedelta(seconds=1)
    with desk.context(auth, at=later) as ctx:
        assert acc.session_for(ctx, token=session.token) is None
    # A disabled account's session and token stand for no one.
    with desk.context(operator) as ctx:
        ctx.session.execute(update(User).where(User.id == acme).values(disabled=True))
    assert desk.run(auth, acc.session_for, token=session.token) is None
    assert desk.run(auth, acc.actor_for_token, token=made.token) is None
    with desk.context(operator) as ctx:
        ctx.session.execute(update(User).where(User.id == acme).values(disabled=False))
    assert desk.run(auth, acc.actor_for_token, token=made.token) is not None
    # A revoked token stands for no one.
    desk.run(operator, acc.revoke_token, user_id=acme, token_id=made.id)
    assert desk.run(auth, acc.actor_for_token, token=made.token) is None
    assert desk.run(auth, acc.session_for, token=session.token) is not None
