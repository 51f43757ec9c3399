"""Security headers on every answer of the app, in one place.

- ``Cache-Control: no-store`` on every API answer (they carry tenants' data, CSRF tokens
  and, for ``POST /api/tokens`` and exports, secrets), unless a route set its own.
- On every HTML answer: a Content-Security-Policy, ``X-Frame-Options: DENY`` and
  ``X-Content-Type-Options: nosniff``. The portal sets a stricter policy of its own;
  ``/docs`` loads Swagger UI's files from certdesk itself, so its policy allows this
  origin and the one inline script FastAPI writes (by its hash), nothing else.
- ``Strict-Transport-Security`` when the request came over TLS (or a configured proxy
  says it did, ``X-Forwarded-Proto: https``).
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from certdesk.http.auth import is_https

HSTS = "max-age=31536000"
# An HTML answer that sets no policy of its own (a report preview): nothing runs, nothing
# loads from elsewhere; its own inline styles only.
HTML_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def docs_csp(html: bytes) -> str:
    """The policy of the Swagger UI page ``html``: this origin, its inline scripts by hash."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
        for body in re.findall(rb"<script>(.*?)</script>", html, re.DOTALL)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


class SecurityHeaders:
    """Adds the headers above to each answer (pure ASGI: nothing is buffered)."""

    def __init__(self, app: ASGIApp, *, docs_policy: str) -> None:
        self.app = app
        self.docs_policy = docs_policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if path.startswith("/api/") and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
                if headers.get("content-type", "").startswith("text/html"):
                    if "content-security-policy" not in headers:
                        policy = self.docs_policy if path == "/docs" else HTML_CSP
                        headers["Content-Security-Policy"] = policy
                    headers.setdefault("X-Frame-Options", "DENY")
                    headers.setdefault("X-Content-Type-Options", "nosniff")
                if is_https(Request(scope)):
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, sending)
