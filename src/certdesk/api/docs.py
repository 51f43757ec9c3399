"""The API's documentation page (`/docs`), with Swagger UI's files served by certdesk itself.

FastAPI's default page loads Swagger UI from a CDN, so on a machine without internet
access it is blank. The files come from the `fastapi-offline` package instead, and only
the three the page needs are served.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response

ASSETS = files("fastapi_offline") / "static"
SERVED = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
PREFIX = "/docs/assets"


def mount_docs(app: FastAPI) -> bytes:
    """Serve `/docs`, its OAuth2 redirect page and Swagger UI's files on ``app``; return
    the page's HTML (its content security policy hashes the page's inline script).

    ``app`` is made with ``docs_url=None`` so that FastAPI does not add its CDN page.
    """
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    page = bytes(
        get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} — API",
            oauth2_redirect_url=redirect_url,
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/favicon.png",
        ).body
    )

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get(redirect_url, include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(PREFIX + "/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        media_type = SERVED.get(name)
        if media_type is None:
            raise HTTPException(404, "no such file")
        return Response(
            (ASSETS / name).read_bytes(),
            media_type=media_type,
            headers={"Cache-Control": "public, max-age=86400"},
        )

    return page
