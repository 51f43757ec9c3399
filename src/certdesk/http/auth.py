"""Who is calling: an API token (``Authorization: Bearer``) or a browser session cookie.

Cookie-authenticated requests that change something must carry the session's CSRF
token (``X-CSRF-Token`` header or ``csrf_token`` form field). Failed logins are rate
limited per (user name, client address), in the database.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

from fastapi import Request, Response

from certdesk.addresses import Networks
from certdesk.desk import Actor, Desk, accounts, logins
from certdesk.desk.accounts import UserView, actor_for_token, session_for, touch_token
from certdesk.errors import CertdeskError
from certdesk.fixes import Action, fix

SESSION_COOKIE = "certdesk_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class Unauthenticated(CertdeskError):
    code: ClassVar[str] = "unauthenticated"
    http_status: ClassVar[int] = 401


class CsrfFailed(CertdeskError):
    code: ClassVar[str] = "csrf-failed"
    http_status: ClassVar[int] = 403


class PasswordChangeRequired(CertdeskError):
    """The account's password was made by certdesk (first start, a new account, an
    operator's reset): it must be changed first."""

    code: ClassVar[str] = "password-change-required"
    http_status: ClassVar[int] = 403


# What an account that must change its password may still call.
PASSWORD_CHANGE_PATHS = frozenset({"/api/me", "/api/me/password", "/api/logout"})


@dataclass(frozen=True, slots=True)
class Principal:
    actor: Actor
    user: UserView
    csrf_token: str | None  # None for API tokens
    via: str  # "token" | "session"


def principal(
    request: Request, *, form_csrf: str | None = None, password_change: bool = False
) -> Principal:
    """The caller, or ``unauthenticated``; checks CSRF for cookie sessions. An account
    whose password must be changed gets ``password-change-required`` everywhere but
    where it changes it (``password_change``) and ``/api/me``, ``/api/logout``."""
    found = _principal(request, form_csrf=form_csrf)
    if (
        found.user.must_change_password
        and not password_change
        and request.url.path not in PASSWORD_CHANGE_PATHS
    ):
        raise PasswordChangeRequired(
            "this account's password was made by certdesk and shown once: set your own first",
            fix=fix(Action.CHANGE_PASSWORD, field="password"),
        )
    return found


def _principal(request: Request, *, form_csrf: str | None) -> Principal:
    desk = request.app.state.desk
    header = request.headers.get("authorization", "")
    auth = Actor(name="auth")
    if header.lower().startswith("bearer "):
        found = desk.run(auth, actor_for_token, token=header[7:].strip())
        if found is None:
            raise Unauthenticated("the API token is not valid (revoked or mistyped)")
        if found.stale:
            desk.run(auth, touch_token, token_id=found.token_id)
        return Principal(found.actor, found.user, None, "token")
    cookie = request.cookies.get(SESSION_COOKIE)
    session = desk.run(auth, session_for, token=cookie) if cookie else None
    if session is None:
        raise Unauthenticated("log in first", fix=fix(Action.LOG_IN))
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("x-csrf-token") or form_csrf or ""
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise CsrfFailed(
                "the form is out of date or did not come from certdesk",
                hint="reload the page and try again",
            )
    return Principal(session.actor, session.user, session.csrf_token, "session")


class LoginLimiter:
    """At most ``limit`` failed logins per (user name, client address) within ``window``
    seconds, counted in the database (see :mod:`certdesk.desk.logins`): the same for every
    worker and replica."""

    def __init__(self, limit: int = logins.LIMIT, window: float = logins.WINDOW.seconds) -> None:
        self.limit = limit
        self.window = timedelta(seconds=window)

    def check(self, desk: Desk, username: str, address: str) -> None:
        desk.run(
            Actor(name="login"),
            logins.check_login,
            username=username,
            address=address,
            limit=self.limit,
            window=self.window,
        )

    def failed(self, desk: Desk, username: str, address: str) -> None:
        desk.run(
            Actor(name="login"),
            logins.record_failure,
            username=username,
            address=address,
            window=self.window,
        )

    def succeeded(self, desk: Desk, username: str, address: str) -> None:
        desk.run(Actor(name="login"), logins.clear_failures, username=username, address=address)


LOOPBACK_PROXIES = ("127.0.0.0/8", "::1/128")


def _trusted(address: str, networks: Networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _from_trusted_proxy(request: Request) -> bool:
    peer = request.client.host if request.client else ""
    return _trusted(peer, request.app.state.trusted_proxies)


def client_address(request: Request) -> str:
    """The client's address. ``X-Forwarded-For`` counts only when the connection comes from
    a configured proxy; it is read from the right, past every configured proxy, so what a
    client wrote into the header itself is never taken."""
    peer = request.client.host if request.client else "unknown"
    networks: Networks = request.app.state.trusted_proxies
    if not _trusted(peer, networks):
        return peer
    hops = [
        hop.strip()
        for value in request.headers.getlist("x-forwarded-for")
        for hop in value.split(",")
        if hop.strip()
    ]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # not an address: what the last trusted hop says ends here
        client = hop
        if not _trusted(hop, networks):
            break
    return client


def is_https(request: Request) -> bool:
    """Served over TLS: the connection's scheme, or ``X-Forwarded-Proto`` from a
    configured proxy."""
    if _from_trusted_proxy(request):
        proto = request.headers.get("x-forwarded-proto")
        if proto:
            return proto.split(",")[0].strip().lower() == "https"
    return request.url.scheme == "https"


def set_session_cookie(request: Request, response: Response, session: accounts.Session) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
        max_age=int(accounts.SESSION_LIFETIME.total_seconds()),
        path="/",
    )
