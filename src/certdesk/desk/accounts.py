"""Accounts: operators and resellers, their passwords, browser sessions and API tokens.

A reseller belongs to one tenant and acts as ``Actor(tenant_id=...)``: every use case
then sees only that tenant's rows. Passwords are hashed with argon2; sessions and
tokens are random values stored only as SHA-256 hashes, shown once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Select, bindparam, delete, func, select, update

from certdesk.desk.context import Actor, Conflict, Ctx, Forbidden, NotFound, reads, tenant_by_name
from certdesk.desk.passwords import check_password
from certdesk.desk.tenancy import Scope, cached
from certdesk.errors import CertdeskError, InvalidArgument, about
from certdesk.store.accounts import ApiToken, User, WebSession
from certdesk.store.models import Tenant

_HASHER = PasswordHasher()
# A hash to verify against when the user does not exist, so timing does not tell.
_DUMMY_HASH = _HASHER.hash("certdesk-no-such-user")
SESSION_LIFETIME = timedelta(hours=12)
TOKEN_PREFIX = "cdk_"


class LoginFailed(CertdeskError):
    code: ClassVar[str] = "login-failed"
    http_status: ClassVar[int] = 401


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    username: str
    role: str
    tenant: str | None
    disabled: bool
    must_change_password: bool = False  # a first-start password: change it to go on


@dataclass(frozen=True, slots=True)
class Session:
    token: str  # the cookie value: shown once, stored hashed
    csrf_token: str
    actor: Actor
    user: UserView
    expires_at: datetime


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def actor_of(user: User) -> Actor:
    return _actor(user.username, user.tenant_id)


def _actor(username: str, tenant_id: int | None) -> Actor:
    return Actor(name=f"user:{username}", tenant_id=tenant_id)


def _view(ctx: Ctx, user: User) -> UserView:
    tenant = ctx.session.get(Tenant, user.tenant_id) if user.tenant_id else None
    return UserView(
        user.id,
        user.username,
        user.role,
        tenant.name if tenant else None,
        user.disabled,
        user.must_change_password,
    )


def _check_password(password: str, username: str | None = None) -> None:
    check_password(password, username=username)


def create_user(
    ctx: Ctx,
    *,
    username: str,
    password: str,
    role: str,
    tenant: str | None = None,
    must_change_password: bool = False,
) -> UserView:
    """A new account (operators only): an operator, or a reseller of ``tenant``. With
    ``must_change_password`` its owner sets a password of its own at the first login."""
    if not ctx.actor.is_operator:
        raise Forbidden("only operators create accounts")
    name = username.strip().lower()
    if not name or len(name) > 200 or any(c.isspace() for c in name):
        raise InvalidArgument("a user name is 1 to 200 characters without spaces", field="username")
    if role not in ("operator", "reseller"):
        raise InvalidArgument("the role is operator or reseller", field="role")
    tenant_id = None
    if role == "reseller":
        if not tenant:
            raise InvalidArgument(
                "a reseller account belongs to a tenant: name its tenant", field="tenant"
            )
        tenant_id = tenant_by_name(ctx, tenant).id
    elif tenant:
        raise InvalidArgument("an operator account belongs to no tenant", field="tenant")
    try:
        _check_password(password, name)
    except InvalidArgument as exc:
        exc.field = exc.field or "password"
        raise
    if ctx.session.scalars(select(User.id).where(User.username == name)).first() is not None:
        raise Conflict(f"the user name {name!r} is taken", field="username")
    user = User(
        username=name,
        password_hash=_HASHER.hash(password),
        role=role,
        tenant_id=tenant_id,
        created_at=ctx.now,
        must_change_password=must_change_password,
    )
    ctx.session.add(user)
    ctx.session.flush()
    ctx.audit("user.add", "user", user.id, tenant_id, username=name, role=role)
    return _view(ctx, user)


@dataclass(frozen=True, slots=True)
class NewPassword:
    """An account and the password certdesk made for it: shown once, stored only hashed;
    its owner must set its own at the next login."""

    user: UserView
    password: str = field(repr=False)


def _generated_password() -> str:
    return secrets.token_urlsafe(18)


def add_user(ctx: Ctx, *, username: str, role: str, tenant: str | None = None) -> NewPassword:
    """A new account with a password made by certdesk (operators only), to hand over once;
    the account sets its own at the first login."""
    password = _generated_password()
    view = create_user(
        ctx,
        username=username,
        password=password,
        role=role,
        tenant=tenant,
        must_change_password=True,
    )
    return NewPassword(view, password)


def reset_password(ctx: Ctx, *, username: str) -> NewPassword:
    """A new password made by certdesk for ``username`` (operators only), shown once: every
    session of the account ends, every API token is revoked, and it must set its own
    password at the next login."""
    if not ctx.actor.is_operator:
        _user_named(ctx, username)  # another's account: not-found, as everywhere
        raise Forbidden("resetting a password is for the platform's operators")
    user = _user_named(ctx, username)
    password = _generated_password()
    _replace_password(ctx, user, password, made=True)
    return NewPassword(_view(ctx, user), password)


@reads
def list_users(ctx: Ctx) -> list[UserView]:
    stmt = ctx.scoped(select(User).order_by(User.username), User.tenant_id)
    return [_view(ctx, u) for u in ctx.session.scalars(stmt)]


def _user_named(ctx: Ctx, username: str) -> User:
    """The account ``username``: any for an operator, only its own for anyone else (another
    account answers ``not-found``, as if it did not exist)."""
    user = ctx.session.scalars(
        select(User).where(User.username == username.strip().lower())
    ).one_or_none()
    if user is None or not (ctx.actor.is_operator or ctx.actor.name == f"user:{user.username}"):
        raise NotFound(f"no user {username!r}")
    return user


def _replace_password(ctx: Ctx, user: User, password: str, *, made: bool) -> None:
    """``user``'s password becomes ``password`` (``made`` by certdesk: to be changed at the
    next login); every session ends and every API token is revoked; audited."""
    user.password_hash = _HASHER.hash(password)
    user.must_change_password = made
    sessions, tokens = _cut_off(ctx, user)
    ctx.audit(
        "user.password-reset" if made else "user.password",
        "user",
        user.id,
        user.tenant_id,
        username=user.username,
        sessions_ended=sessions,
        tokens_revoked=tokens,
    )


def _cut_off(ctx: Ctx, user: User) -> tuple[int, int]:
    """End every session of ``user`` and revoke every token; how many of each."""
    sessions = ctx.session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    tokens = ctx.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=ctx.now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(sessions, "rowcount", 0) or 0), int(getattr(tokens, "rowcount", 0) or 0)


def set_password(ctx: Ctx, *, username: str, password: str) -> UserView:
    """A new password (the user's own, or any by an operator); every session of the user
    ends and every API token is revoked."""
    user = _user_named(ctx, username)
    _check_password(password, user.username)
    _replace_password(ctx, user, password, made=False)
    return _view(ctx, user)


def set_disabled(ctx: Ctx, *, username: str, disabled: bool) -> UserView:
    """Disable an account (operators only): it cannot log in, its sessions end and its
    API tokens are revoked at once. Enabling lets it log in again; its old tokens stay
    revoked."""
    if not ctx.actor.is_operator:
        _user_named(ctx, username)  # another's account: not-found, as everywhere
        raise Forbidden("disabling and enabling accounts is for the platform's operators")
    user = _user_named(ctx, username)
    if disabled == user.disabled:
        return _view(ctx, user)
    if not disabled:
        user.disabled = False
        ctx.audit("user.enable", "user", user.id, user.tenant_id, username=user.username)
        return _view(ctx, user)
    if ctx.actor.name == f"user:{user.username}":
        raise Conflict("you cannot disable your own account", hint="ask another operator to do it")
    if user.role == "operator":
        others = ctx.session.scalar(
            select(func.count(User.id)).where(
                User.role == "operator", User.id != user.id, User.disabled.is_(False)
            )
        )
        if not others:
            raise Conflict(
                f"{user.username} is the last enabled operator: disabling it would leave "
                "nobody to run the platform",
                hint="add or enable another operator first",
            )
    user.disabled = True
    sessions, tokens = _cut_off(ctx, user)
    ctx.audit(
        "user.disable",
        "user",
        user.id,
        user.tenant_id,
        username=user.username,
        sessions_ended=sessions,
        tokens_revoked=tokens,
    )
    return _view(ctx, user)


def change_user(
    ctx: Ctx, *, username: str, disabled: bool | None = None, password: str | None = None
) -> UserView:
    """Disable/enable an account and/or set its password, in one transaction."""
    view = _view(ctx, _user_named(ctx, username))
    if disabled is not None:
        view = set_disabled(ctx, username=username, disabled=disabled)
    if password is not None:
        view = set_password(ctx, username=username, password=password)
    return view


def change_own_password(
    ctx: Ctx, *, username: str, current_password: str, new_password: str
) -> Session:
    """The caller changes its own password (the current one proves it is the caller); its
    other sessions end, and a new session is returned for it to go on with."""
    if ctx.actor.name != f"user:{username.strip().lower()}":
        raise Forbidden("a user changes only its own password here")
    with about("current_password"):
        user = authenticate(ctx, username=username, password=current_password)
    if new_password == current_password:
        raise InvalidArgument(
            "the new password is the current one",
            hint="choose a password of your own",
            field="new_password",
        )
    with about("new_password", InvalidArgument):
        set_password(ctx, username=user.username, password=new_password)
    return login(ctx, username=user.username, password=new_password)


def operators_exist(ctx: Ctx) -> bool:
    count = ctx.session.scalar(select(func.count(User.id)).where(User.role == "operator"))
    return bool(count)


def authenticate(ctx: Ctx, *, username: str, password: str) -> User:
    """The user whose password this is; ``login-failed`` (the same for every reason)."""
    user = ctx.session.scalars(
        select(User).where(User.username == username.strip().lower())
    ).one_or_none()
    try:
        _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        user = None
    if user is None or user.disabled:
        raise LoginFailed(
            "the user name or password is wrong",
            hint="check both; after several failures, wait a minute",
        )
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    user.last_login_at = ctx.now
    return user


def login(ctx: Ctx, *, username: str, password: str) -> Session:
    user = authenticate(ctx, username=username, password=password)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = ctx.now + SESSION_LIFETIME
    ctx.session.add(
        WebSession(
            token_hash=_hash_token(token),
            csrf_token=csrf,
            user_id=user.id,
            created_at=ctx.now,
            expires_at=expires,
        )
    )
    ctx.session.execute(delete(WebSession).where(WebSession.expires_at < ctx.now))
    ctx.audit("user.login", "user", user.id, user.tenant_id, username=user.username)
    return Session(token, csrf, actor_of(user), _view(ctx, user), expires)


@reads
def session_for(ctx: Ctx, *, token: str) -> Session | None:
    """The live session of a cookie value, or None."""
    row = _session.execute(ctx, (), {"token_hash": _hash_token(token)}).one_or_none()
    if row is None or row[1] <= ctx.now:
        return None
    caller = _caller(row[2:])
    if caller is None:
        return None
    actor, view = caller
    return Session(token, row[0], actor, view, row[1])


# Who a credential belongs to, read in the credential's own query (one statement per
# request, built once): the user's id, name, role, tenant id and name, and whether the
# account is disabled.
_CALLER = (
    User.id,
    User.username,
    User.role,
    User.tenant_id,
    Tenant.name,
    User.disabled,
    User.must_change_password,
)


@cached((), by_credential=True)
def _session(scope: Scope) -> Select[*tuple[Any, ...]]:
    return (
        select(WebSession.csrf_token, WebSession.expires_at, *_CALLER)
        .join(User, User.id == WebSession.user_id)
        .outerjoin(Tenant, Tenant.id == User.tenant_id)
        .where(WebSession.token_hash == bindparam("token_hash"))
    )


@cached((), by_credential=True)
def _token(scope: Scope) -> Select[*tuple[Any, ...]]:
    return (
        select(ApiToken.id, ApiToken.revoked_at, ApiToken.last_used_at, *_CALLER)
        .join(User, User.id == ApiToken.user_id)
        .outerjoin(Tenant, Tenant.id == User.tenant_id)
        .where(ApiToken.token_hash == bindparam("token_hash"))
    )


def _caller(row: Sequence[Any]) -> tuple[Actor, UserView] | None:
    user_id, username, role, tenant_id, tenant_name, disabled, must_change = row
    if disabled:
        return None
    return (
        _actor(username, tenant_id),
        UserView(user_id, username, role, tenant_name, disabled, bool(must_change)),
    )


def logout(ctx: Ctx, *, token: str) -> None:
    ctx.session.execute(delete(WebSession).where(WebSession.token_hash == _hash_token(token)))


@dataclass(frozen=True, slots=True)
class TokenView:
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool
    token: str | None = None  # only when just created


def create_token(ctx: Ctx, *, user_id: int, name: str) -> TokenView:
    user = ctx.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=name.strip()[:200] or "token",
        token_hash=_hash_token(token),
        prefix=token[:12],
        created_at=ctx.now,
    )
    ctx.session.add(row)
    ctx.session.flush()
    ctx.audit("token.create", "api_token", row.id, user.tenant_id, name=row.name, prefix=row.prefix)
    return TokenView(row.id, row.name, row.prefix, row.created_at, None, False, token)


def _token_view(r: ApiToken) -> TokenView:
    return TokenView(r.id, r.name, r.prefix, r.created_at, r.last_used_at, r.revoked_at is not None)


@reads
def list_tokens(ctx: Ctx, *, user_id: int) -> list[TokenView]:
    rows = ctx.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
    )
    return [_token_view(r) for r in rows]


@reads
def tokens_of(ctx: Ctx, *, username: str) -> list[TokenView]:
    """The API tokens of an account (any, for an operator; one's own otherwise)."""
    return list_tokens(ctx, user_id=_user_named(ctx, username).id)


def revoke_token(ctx: Ctx, *, user_id: int, token_id: int) -> TokenView:
    """Revoke a token of ``user_id`` (the caller); an operator revokes anyone's."""
    row = ctx.session.get(ApiToken, token_id)
    if row is None or not (row.user_id == user_id or ctx.actor.is_operator):
        raise NotFound(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = ctx.now
        owner = ctx.session.get(User, row.user_id)
        ctx.audit(
            "token.revoke",
            "api_token",
            row.id,
            owner.tenant_id if owner else ctx.actor.tenant_id,
            prefix=row.prefix,
            owner=owner.username if owner else None,
        )
    return _token_view(row)


def revoke_token_of(ctx: Ctx, *, username: str, token_id: int) -> TokenView:
    """Revoke token ``token_id`` of account ``username`` (which must own it)."""
    user = _user_named(ctx, username)
    row = ctx.session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound(f"{user.username} has no token {token_id}")
    return revoke_token(ctx, user_id=user.id, token_id=token_id)


TOKEN_TOUCH_EVERY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class TokenUse:
    actor: Actor
    user: UserView
    token_id: int
    stale: bool  # its last use is older than TOKEN_TOUCH_EVERY: record this one


@reads
def actor_for_token(ctx: Ctx, *, token: str) -> TokenUse | None:
    """Who a bearer token acts as (read only: see :func:`touch_token`)."""
    row = _token.execute(ctx, (), {"token_hash": _hash_token(token)}).one_or_none()
    if row is None or row[1] is not None:
        return None
    caller = _caller(row[3:])
    if caller is None:
        return None
    last_used = row[2]
    stale = last_used is None or ctx.now - last_used > TOKEN_TOUCH_EVERY
    return TokenUse(*caller, row[0], stale)


def touch_token(ctx: Ctx, *, token_id: int) -> None:
    """Record a token's use (at most every few minutes, so reads stay read-only)."""
    row = ctx.session.get(ApiToken, token_id)
    if row is not None:
        row.last_used_at = ctx.now


def ensure_first_operator(
    ctx: Ctx, *, username: str = "admin", password: str | None = None
) -> str | None:
    """On first start, create an operator; return the one-time password made, if any."""
    if operators_exist(ctx):
        return None
    made = password is None
    secret = password or secrets.token_urlsafe(18)
    _check_password(secret, username)
    user = User(
        username=username,
        password_hash=_HASHER.hash(secret),
        role="operator",
        tenant_id=None,
        created_at=ctx.now,
        # A generated password was printed to a console or a log: the operator sets its
        # own at the first login before it can do anything else.
        must_change_password=made,
    )
    ctx.session.add(user)
    ctx.session.flush()
    ctx.audit(
        "user.add", "user", user.id, None, username=username, role="operator", first_start=True
    )
    return secret if made else None
