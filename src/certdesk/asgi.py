"""The one web application: the JSON API (``/api``, ``/metrics``, ``/docs``) and the portal
mounted side by side over what they share (``certdesk.http``), and ``/healthz``.

``certdesk.api`` and ``certdesk.web`` never import each other; this module is the only
one that knows both: it routes a framework error (an unknown address, a wrong method) to
the API's JSON or to the portal's error page.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from certdesk import __version__, api, web
from certdesk.addresses import proxy_networks
from certdesk.application import server
from certdesk.application.compose import open_desk, open_installer, reader_limits
from certdesk.application.readpool import ReaderPool
from certdesk.desk.context import Actor, Desk, NotFound
from certdesk.desk.managed import challenge_answer
from certdesk.errors import CertdeskError
from certdesk.http.auth import LOOPBACK_PROXIES, LoginLimiter
from certdesk.http.errors import (
    certdesk_error_handler,
    http_error_handler,
    unexpected_error_handler,
    validation_error_handler,
)
from certdesk.http.headers import SecurityHeaders, docs_csp
from certdesk.settings import Settings, load_settings

# Who reads an HTTP-01 answer: the platform itself, for the CA (which has no credentials).
CHALLENGE_ACTOR = Actor(name="acme-http-01")
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,200}")  # base64url, as RFC 8555 §8.1 tokens are


class BodyLimit:
    """Refuse request bodies larger than ``limit`` bytes before they are read (413)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(send, self.limit)
            return
        seen = 0
        exceeded = started = False

        async def counting() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            # Whatever the app makes of the interrupted body (FastAPI turns any error while
            # parsing it into a 400), the answer is 413.
            if exceeded and not started:
                return
            started = True
            await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, counting, guarded)
        if exceeded and not started:
            await _too_large(send, self.limit)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = (
        b'{"error":{"code":"too-large","message":"the request is larger than '
        + str(limit).encode()
        + b' bytes","hint":"a certificate file is a few kilobytes"}}'
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(
    desk: Desk,
    settings: Settings,
    *,
    trust_forwarded: bool = False,
    trusted_proxies: Sequence[str] = (),
    with_portal: bool = True,
) -> FastAPI:
    """The app. Forwarded headers count only from the proxies in ``trusted_proxies`` and
    the ``trusted_proxies`` setting, plus loopback ones with ``trust_forwarded``."""
    # Uploaded files are read and checked in worker processes with a time limit, never
    # on this process's threads (certdesk.application.readpool); the workers start on the
    # first upload.
    readers = ReaderPool(reader_limits(settings))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            readers.close()

    app = FastAPI(
        title="certdesk",
        version=__version__,
        description="The TLS certificates of a platform's custom domains.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.readers = readers
    app.state.desk = desk = dataclasses.replace(desk, reader=readers)
    app.state.settings = settings
    app.state.trusted_proxies = proxy_networks(
        [
            *(LOOPBACK_PROXIES if trust_forwarded else ()),
            *settings.trusted_proxies,
            *trusted_proxies,
        ]
    )
    app.state.login_limiter = LoginLimiter()
    app.state.installer = open_installer(settings, desk)
    app.add_exception_handler(CertdeskError, certdesk_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
    docs_page = api.mount(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, Any]:  # on the event loop: no thread to wait for
        return {"ok": True, "version": __version__}

    @app.get("/.well-known/acme-challenge/{token}", include_in_schema=False)
    def acme_challenge(token: str) -> Response:
        """HTTP-01 (RFC 8555 §8.3): the key authorisation of a pending order, read from the
        database, so that whichever replica the CA reaches answers."""
        answer = (
            desk.run(CHALLENGE_ACTOR, challenge_answer, token=token)
            if TOKEN.fullmatch(token)
            else None
        )
        if answer is None:
            raise NotFound(
                "no ACME challenge is pending for this token",
                hint="this address only answers a certificate authority checking a "
                "platform-managed domain",
            )
        return PlainTextResponse(answer)

    if with_portal:
        web.mount(app)
        app.add_exception_handler(HTTPException, _api_or_page)
    app.add_middleware(SecurityHeaders, docs_policy=docs_csp(docs_page))
    # Multipart bodies carry a file plus a few fields: allow some room over the file limit.
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes + 64 * 1024)
    return app


def build_app(
    desk: Desk,
    settings: Settings,
    *,
    trust_forwarded: bool,
    scheduler: bool,
    trusted_proxies: Sequence[str] = (),
) -> FastAPI:
    """The app of ``certdesk serve``: :func:`create_app` with the job engine (unless
    ``scheduler`` is off), the on-demand workers and the configuration watcher started and
    stopped with it (``certdesk.application.server``)."""
    app = create_app(
        desk, settings, trust_forwarded=trust_forwarded, trusted_proxies=trusted_proxies
    )
    return server.with_services(app, desk, settings, scheduler=scheduler)


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``certdesk serve`` (uvicorn's factory).

    The command passes the data folder and flags through the environment; every worker
    opens the store itself. Their job engines share the database's claims, so each unit
    of every job (a report, a shard of a sweep) is still done once.
    """
    settings = load_settings()
    return build_app(
        open_desk(settings),
        settings,
        trust_forwarded=os.environ.get("CERTDESK_TRUST_FORWARDED") == "1",
        scheduler=os.environ.get("CERTDESK_SCHEDULER", "1") == "1",
    )


async def _api_or_page(request: Request, exc: Exception) -> Response:
    """A framework error under the API's addresses is JSON with a stable code; anywhere
    else the portal answers (an HTML page for browsers)."""
    if request.url.path.startswith(api.PATHS):
        return await http_error_handler(request, exc)
    return await web.error_page(request, exc)
