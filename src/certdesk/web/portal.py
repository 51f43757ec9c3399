"""The portal's pages (server-rendered; no front-end build step)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse


def mount(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")
