"""The portal's pages (server-rendered; no front-end build step), mounted on the API's app.

Resellers: the dashboard (``/``), ``.pfx`` upload, CSR orders and downloads, the signed
certificate's return, exports, requests. Operators besides: tenants, what every URL
serves, report deliveries and previews. Every page runs as the viewer's actor.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from certdesk.web import certificates, login, operations, overview
from certdesk.web.common import (
    HERE,
    LoginRequired,
    PageError,
    PasswordChangeFirst,
    render,
    urlquote,
)


def mount(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (login, overview, certificates, operations):
        app.include_router(module.router)
    app.add_exception_handler(PageError, _page_error)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(PasswordChangeFirst, _password_change_first)
    app.add_exception_handler(StarletteHTTPException, _http_error)


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return render(request, "error.html", {"error": exc}, status=exc.status)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={urlquote(exc.next_path)}", status_code=303)


async def _password_change_first(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/account/password", status_code=303)


async def _http_error(request: Request, exc: Exception) -> Response:
    """An unknown address: an HTML page for browsers, the usual JSON for the API."""
    from fastapi.exception_handlers import http_exception_handler

    assert isinstance(exc, StarletteHTTPException)
    if request.url.path.startswith(("/api", "/docs", "/openapi", "/metrics", "/static")):
        return await http_exception_handler(request, exc)
    if "text/html" not in request.headers.get("accept", ""):
        return await http_exception_handler(request, exc)
    error = PageError(
        exc.status_code, "not-found" if exc.status_code == 404 else "error", str(exc.detail)
    )
    response: HTMLResponse = render(request, "error.html", {"error": error}, status=exc.status_code)
    return response
