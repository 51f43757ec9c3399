"""The one place where certdesk's error codes become HTTP status codes."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from certdesk.errors import CertdeskError

STATUS = {
    "not-found": 404,
    "forbidden": 403,
    "unauthenticated": 401,
    "login-failed": 401,
    "csrf-failed": 403,
    "rate-limited": 429,
    "conflict": 409,
    "duplicate": 409,
    "refused": 422,
    "too-large": 413,
    "vault-locked": 503,
    "store-unavailable": 503,
    "send-failed": 502,
}


def status_for(error: CertdeskError) -> int:
    return STATUS.get(error.code, 400)


async def certdesk_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CertdeskError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.code == "unauthenticated" else None
    return JSONResponse({"error": exc.to_dict()}, status_code=status_for(exc), headers=headers)
