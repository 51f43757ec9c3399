"""Logging in and out of the portal.

The login form has a CSRF token of its own before any session exists: a random value
in a short-lived SameSite cookie and in the form, which must match (a login CSRF
guard). Failed logins are rate limited as in the API; a wrong password says only that
the user name or the password is wrong.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from certdesk import desk
from certdesk.desk import accounts
from certdesk.errors import CertdeskError
from certdesk.http.auth import (
    SESSION_COOKIE,
    LoginLimiter,
    TooManyAttempts,
    client_address,
    is_https,
    set_session_cookie,
)
from certdesk.web.common import SECURITY_HEADERS, render, safe_next, the_desk, viewer
from certdesk.web.forms import FormError

router = APIRouter(include_in_schema=False)

LOGIN_CSRF_COOKIE = "certdesk_login_csrf"


def _login_page(
    request: Request,
    *,
    next_path: str,
    username: str = "",
    error: FormError | None = None,
    status: int = 200,
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {"next": next_path, "username": username, "error": error, "login_csrf": token},
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
        max_age=3600,
        path="/login",
    )
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return _login_page(request, next_path=safe_next(next))


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    target = safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf_token.encode(), expected.encode()):
        return _login_page(
            request,
            next_path=target,
            username=username,
            error=FormError(
                "csrf-failed",
                "the login form is out of date or did not come from certdesk",
                "the page has been reloaded: log in again",
            ),
            status=403,
        )
    limiter: LoginLimiter = request.app.state.login_limiter
    keys = (f"ip:{client_address(request)}", f"user:{username.strip().lower()}")
    try:
        limiter.check(*keys)
        session = the_desk(request).run(
            desk.Actor(name=f"login:{client_address(request)}"),
            accounts.login,
            username=username,
            password=password,
        )
    except TooManyAttempts as exc:
        return _login_page(
            request,
            next_path=target,
            username=username,
            error=FormError(exc.code, exc.message, exc.hint),
            status=429,
        )
    except CertdeskError as exc:  # login-failed: the same answer for every reason
        limiter.failed(*keys)
        return _login_page(
            request,
            next_path=target,
            username=username,
            error=FormError(exc.code, exc.message, exc.hint),
            status=401,
        )
    limiter.succeeded(*keys)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, session)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    who = viewer(request, form_csrf=csrf_token)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        the_desk(request).run(who.actor, accounts.logout, token=token)
    response = RedirectResponse("/login?out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.headers.update(SECURITY_HEADERS)
    return response
