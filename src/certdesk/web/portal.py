"""The portal's pages (server-rendered; no front-end build step), mounted beside the API.

Resellers: the dashboard (``/``), ``.pfx`` upload, CSR orders and downloads, the signed
certificate's return, exports, requests. Operators besides: tenants, what every URL
serves, report deliveries and previews. Every page runs as the viewer's actor.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from certdesk.web import (
    account,
    certificates,
    convert,
    domains,
    jobs,
    login,
    operations,
    overview,
)
from certdesk.web.common import (
    HERE,
    LoginRequired,
    PageError,
    PasswordChangeFirst,
    render,
    urlquote,
)

# The portal's files, not pages: their errors stay plain even for a browser.
NOT_PAGES = ("/static",)


def mount(app: FastAPI) -> None:
    """Add the portal's pages, its static files and its error pages to ``app``. An unknown
    address outside the API is answered by :func:`error_page` (``certdesk.asgi``)."""
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (login, overview, certificates, jobs, domains, convert, account, operations):
        app.include_router(module.router)
    app.add_exception_handler(PageError, _page_error)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(PasswordChangeFirst, _password_change_first)


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return render(request, "error.html", {"error": exc}, status=exc.status)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={urlquote(exc.next_path)}", status_code=303)


async def _password_change_first(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/account/password", status_code=303)


async def error_page(request: Request, exc: Exception) -> Response:
    """An unknown address (or another framework error) outside the API: an HTML page for
    browsers, FastAPI's plain JSON for anything else (static files, scripts)."""
    assert isinstance(exc, StarletteHTTPException)
    if request.url.path.startswith(NOT_PAGES):
        return await http_exception_handler(request, exc)
    if "text/html" not in request.headers.get("accept", ""):
        return await http_exception_handler(request, exc)
    error = PageError(
        exc.status_code, "not-found" if exc.status_code == 404 else "error", str(exc.detail)
    )
    response: HTMLResponse = render(request, "error.html", {"error": error}, status=exc.status_code)
    return response
