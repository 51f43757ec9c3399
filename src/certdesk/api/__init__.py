"""The JSON API under ``/api`` (OpenAPI at ``/docs``) and ``/metrics``.

Every route parses its input, calls one desk function and returns the result; what it
shares with the portal (sessions, CSRF, uploads, downloads, error statuses, thread pools)
is in ``certdesk.http``. ``certdesk.asgi`` mounts it beside the portal.
"""

from __future__ import annotations

from fastapi import FastAPI

from certdesk.api import metrics, routes
from certdesk.api.docs import mount_docs

# The addresses the API answers (its documentation included): an error under them is
# always the API's JSON, whatever the portal does for its pages.
PATHS = ("/api", "/metrics", "/docs", "/openapi")


def mount(app: FastAPI) -> bytes:
    """Add the API's routes and its documentation pages to ``app``; return the HTML of
    ``/docs`` (its content security policy hashes the page's inline script)."""
    docs_page = mount_docs(app)
    app.include_router(routes.router)
    app.include_router(metrics.router)
    return docs_page


__all__ = ["PATHS", "mount"]
