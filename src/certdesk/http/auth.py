"""Who is calling: an API token (``Authorization: Bearer``) or a browser session cookie.

Cookie-authenticated requests that change something must carry the session's CSRF
token (``X-CSRF-Token`` header or ``csrf_token`` form field). Failed logins are rate
limited per client address and per user name.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import ClassVar

from fastapi import Request, Response

from certdesk.desk import Actor, accounts
from certdesk.desk.accounts import UserView, actor_for_token, session_for, touch_token
from certdesk.errors import CertdeskError, RateLimited

SESSION_COOKIE = "certdesk_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class Unauthenticated(CertdeskError):
    code: ClassVar[str] = "unauthenticated"
    http_status: ClassVar[int] = 401


class CsrfFailed(CertdeskError):
    code: ClassVar[str] = "csrf-failed"
    http_status: ClassVar[int] = 403


class TooManyAttempts(RateLimited):
    code: ClassVar[str] = "rate-limited"


@dataclass(frozen=True, slots=True)
class Principal:
    actor: Actor
    user: UserView
    csrf_token: str | None  # None for API tokens
    via: str  # "token" | "session"


def principal(request: Request, *, form_csrf: str | None = None) -> Principal:
    """The caller, or ``unauthenticated``; checks CSRF for cookie sessions."""
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
        raise Unauthenticated("log in first", hint="POST /api/login, or use an API token")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("x-csrf-token") or form_csrf or ""
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise CsrfFailed(
                "the form is out of date or did not come from certdesk",
                hint="reload the page and try again",
            )
    return Principal(session.actor, session.user, session.csrf_token, "session")


class LoginLimiter:
    """At most ``limit`` failed logins per key within ``window`` seconds (per process)."""

    def __init__(self, limit: int = 5, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                times = self._failures.get(key)
                if times is None:
                    continue
                while times and now - times[0] > self.window:
                    times.popleft()
                if len(times) >= self.limit:
                    raise TooManyAttempts(
                        "too many failed logins", hint=f"wait {int(self.window)} seconds"
                    )

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


def client_address(request: Request) -> str:
    """The client's address; forwarded headers count only when the app was told to trust them."""
    if request.app.state.trust_forwarded:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


def is_https(request: Request) -> bool:
    if request.app.state.trust_forwarded:
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
