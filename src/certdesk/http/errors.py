"""Errors as JSON answers, each with the HTTP status its class carries (the API's, and
the portal's for what is not a page), and framework errors in the same shape."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from certdesk.errors import CertdeskError
from certdesk.http.hints import WORDING


def status_for(error: CertdeskError) -> int:
    """The HTTP status of a refusal: the one its class carries (see ``certdesk.errors``)."""
    return error.http_status


async def certdesk_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CertdeskError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.code == "unauthenticated" else None
    return JSONResponse(
        {"error": exc.to_dict(WORDING.hint_for(exc))}, status_code=status_for(exc), headers=headers
    )


# Errors raised by the framework before a route runs (no such route, wrong method, a body
# that does not parse): the same JSON shape, with a code of their own.
HTTP_CODES = {
    400: "invalid-argument",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "too-large",
    415: "unsupported-media-type",
}


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304) or exc.status_code < 400:  # no body: as Starlette does
        return Response(status_code=exc.status_code, headers=exc.headers)
    code = HTTP_CODES.get(exc.status_code, "http-error")
    message = exc.detail if isinstance(exc.detail, str) else "the request was refused"
    return JSONResponse(
        {"error": {"code": code, "message": message, "hint": None}},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A request that does not match the route's parameters: ``invalid-argument`` (400).

    The offending input is not sent back (FastAPI's default does): it may hold a password.
    """
    assert isinstance(exc, RequestValidationError)
    fields = [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    message = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "invalid request"
    return JSONResponse(
        {
            "error": {
                "code": "invalid-argument",
                "message": message,
                "hint": "see /docs for the parameters this call takes",
                "fields": fields,
            }
        },
        status_code=400,
    )


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Anything else: still JSON with a code (the server logs the traceback). The store's
    own errors (``store-unavailable``) arrive as a ``CertdeskError``, translated there."""
    return JSONResponse(
        {"error": {"code": "internal-error", "message": "an unexpected error", "hint": None}},
        status_code=500,
    )
