"""What every page shares: the templates, who is looking, calling the desk, error pages.

Pages call the same desk functions as the API and the CLI, with the viewer's actor:
tenancy is the desk's. A desk ``not-found`` (another tenant's object included) becomes
the 404 page; a missing session sends the browser to the login page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from certdesk import desk
from certdesk.desk.context import Desk, NotFound
from certdesk.errors import CertdeskError
from certdesk.http.auth import (
    CsrfFailed,
    PasswordChangeRequired,
    Principal,
    Unauthenticated,
    principal,
)
from certdesk.web.forms import FormError, Problems, problems_of
from certdesk.web.hints import WORDING

T = TypeVar("T")

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class PageError(Exception):
    """Answer with the error page: ``status``, a stable code, what is wrong, what to do."""

    def __init__(self, status: int, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint

    @classmethod
    def of(cls, error: CertdeskError) -> PageError:
        return cls(error.http_status, error.code, error.message, WORDING.hint_for(error))


class LoginRequired(Exception):
    """No session: the browser goes to the login page and comes back to ``next``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PasswordChangeFirst(Exception):
    """The account must set its own password: the browser goes to that page first."""


def the_desk(request: Request) -> Desk:
    return request.app.state.desk  # type: ignore[no-any-return]


def viewer(
    request: Request, *, form_csrf: str | None = None, password_change: bool = False
) -> Principal:
    """The logged-in caller (CSRF checked on forms), or the login page / a 403 page; an
    account that must change its password is sent to the page that changes it."""
    try:
        return principal(
            request,
            form_csrf=form_csrf if form_csrf is not None else "",
            password_change=password_change,
        )
    except PasswordChangeRequired as exc:
        if request.method == "GET":
            raise PasswordChangeFirst() from None
        raise PageError.of(exc) from None
    except Unauthenticated:
        if request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target) from None
        raise PageError(401, "unauthenticated", "your session has ended", "log in again") from None
    except CsrfFailed as exc:
        raise PageError.of(exc) from None


def run(request: Request, who: Principal, use_case: Callable[..., T], /, **inputs: Any) -> T:
    """One desk use case as the viewer; any refusal becomes the error page (404 for
    another tenant's object)."""
    try:
        return the_desk(request).run(who.actor, use_case, **inputs)
    except CertdeskError as exc:
        raise PageError.of(exc) from exc


def attempt(
    request: Request,
    who: Principal,
    use_case: Callable[..., Any],
    default: str = "",
    names: Mapping[str, str] | None = None,
    **inputs: Any,
) -> tuple[Any, Problems]:
    """Run the use case for a form; a not-found is the 404 page, any other refusal the
    form's problems (each beside the field it names, see :func:`problems_of`)."""
    try:
        return the_desk(request).run(who.actor, use_case, **inputs), Problems()
    except NotFound as exc:
        raise PageError.of(exc) from exc
    except CertdeskError as exc:
        return None, problems_of(exc, default, names)


def tenants_of(request: Request, who: Principal) -> list[str]:
    """The tenants the viewer may act for: its own, or (an operator) every one."""
    if who.user.tenant is not None:
        return [who.user.tenant]
    return [t.name for t in run(request, who, desk.list_tenants)]


def form_page(
    request: Request, who: Principal, template: str, problems: Problems, status: int, **context: Any
) -> HTMLResponse:
    """A form page with its problems: each next to its field (``errors``) and in a list."""
    return render(
        request,
        template,
        {"problems": problems, "errors": problems.errors, **context},
        who=who,
        status=status,
    )


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    who: Principal | None = None,
    status: int = 200,
) -> HTMLResponse:
    values = {
        "who": who,
        "csrf_token": who.csrf_token if who is not None else None,
        "path": request.url.path,
        **context,
    }
    response = templates.TemplateResponse(request, name, values, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def safe_next(value: str | None) -> str:
    """Only a path on this site (no ``//host``, no scheme) may be where login returns to."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


# --- template helpers ----------------------------------------------------------------------


def aria(
    name: str,
    errors: Mapping[str, Sequence[FormError]],
    help_text: bool = False,
    also: str | None = None,
) -> Markup:
    """``aria-describedby`` (help, error and ``also`` elements) and ``aria-invalid``."""
    ids = []
    if help_text:
        ids.append(f"{name}-help")
    if errors.get(name):
        ids.append(f"{name}-error")
    if also:
        ids.append(also)
    out = f' aria-describedby="{" ".join(ids)}"' if ids else ""
    if errors.get(name):
        out += ' aria-invalid="true"'
    return Markup(out)  # noqa: S704 - the ids are field names chosen by our templates


# Dates in UTC, written without strftime (several times slower: the dashboard writes one
# per row).


def when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    at = moment.astimezone(UTC)
    return f"{at.date().isoformat()} {at.hour:02d}:{at.minute:02d} UTC"


def day(moment: datetime | None) -> str:
    return moment.astimezone(UTC).date().isoformat() if moment is not None else "—"


def urlquote(value: str) -> str:
    return quote(value, safe="")


def pairs(values: Sequence[str]) -> list[tuple[str, str]]:
    return [(v, v) for v in values]


templates.env.globals["aria"] = aria
templates.env.filters["pairs"] = pairs
templates.env.filters["when"] = when
templates.env.filters["day"] = day
templates.env.filters["q"] = urlquote
