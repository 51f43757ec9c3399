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
from certdesk.desk.logins import TooManyAttempts
from certdesk.errors import CertdeskError
from certdesk.http.auth import (
    SESSION_COOKIE,
    LoginLimiter,
    Principal,
    client_address,
    is_https,
    set_session_cookie,
)
from certdesk.web.common import SECURITY_HEADERS, render, safe_next, the_desk, viewer
from certdesk.web.forms import FormError, Problems, problems_of
from certdesk.web.hints import WORDING

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
    address = client_address(request)
    try:
        limiter.check(the_desk(request), username, address)
        session = the_desk(request).run(
            desk.Actor(name=f"login:{address}"),
            accounts.login,
            username=username,
            password=password,
        )
    except TooManyAttempts as exc:
        return _login_page(
            request,
            next_path=target,
            username=username,
            error=FormError(exc.code, exc.message, WORDING.hint_for(exc)),
            status=exc.http_status,
        )
    except CertdeskError as exc:  # login-failed: the same answer for every reason
        limiter.failed(the_desk(request), username, address)
        return _login_page(
            request,
            next_path=target,
            username=username,
            error=FormError(exc.code, exc.message, WORDING.hint_for(exc)),
            status=401,
        )
    limiter.succeeded(the_desk(request), username, address)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, session)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _password_page(
    request: Request, who: Principal, problems: Problems | None = None, status: int = 200
) -> HTMLResponse:
    found = problems or Problems()
    return render(
        request,
        "password.html",
        {"problems": found, "errors": found.errors},
        who=who,
        status=status,
    )


@router.get("/account/password")
def password_form(request: Request) -> HTMLResponse:
    """Set a new password (the first-start operator is sent here before anything else)."""
    return _password_page(request, viewer(request, password_change=True))


@router.post("/account/password")
def password_change(
    request: Request,
    current_password: Annotated[str, Form(max_length=1024)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
    confirm_password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    who = viewer(request, form_csrf=csrf_token, password_change=True)
    if new_password != confirm_password:
        differ = Problems()
        differ.add(
            "confirm_password",
            FormError(
                "invalid-argument",
                "the new password and its confirmation differ",
                "type the same new password twice",
            ),
        )
        return _password_page(request, who, differ, status=400)
    try:
        session = the_desk(request).run(
            who.actor,
            accounts.change_own_password,
            username=who.user.username,
            current_password=current_password,
            new_password=new_password,
        )
    except CertdeskError as exc:
        return _password_page(request, who, problems_of(exc), exc.http_status)
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(request, response, session)
    response.headers.update(SECURITY_HEADERS)
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
