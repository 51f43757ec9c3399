"""Following queued work from the portal: an install after an upload (or its "retry
now") and a "probe now" run in ``certdesk serve``'s on-demand workers, and the page that
asked follows them.

``GET /installs/{id}`` is the page (with a ``<meta refresh>`` while the work is under
way, for a browser without JavaScript); ``GET /installs/{id}/status`` the same as JSON,
which ``static/portal.js`` reads every second or so to update the page in place. Both
show each URL as its reader may read it: a reseller never reads a terminator's own
words (``http.installs``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from certdesk.application.installer import InstallOutcome
from certdesk.desk import Actor
from certdesk.desk.installs import plain_failure
from certdesk.desk.work_requests import (
    WorkKind,
    WorkRequestView,
    get_probe_request,
    get_work_request,
    request_install,
)
from certdesk.http.auth import Principal
from certdesk.http.bounds import Id
from certdesk.http.installs import for_reader
from certdesk.http.threads import quick_read
from certdesk.web.common import SECURITY_HEADERS, render, run, viewer, when

router = APIRouter(include_in_schema=False)

REFRESH_SECONDS = 2  # the page without JavaScript looks again this often while it waits


@dataclass(frozen=True, slots=True)
class Line:
    """One URL of an install, as the page shows it."""

    url: str
    tone: str  # pending | ok | amber | error
    badge: str
    text: str
    retry: bool  # "retry now" is offered
    request: int | None = None  # the request the certificate came with


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a queued install stands, for the page and its script."""

    id: int
    status: str  # queued | running | done | failed
    finished: bool
    tone: str  # pending | ok | amber | error
    heading: str
    lines: tuple[Line, ...]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _outcome(result: dict[str, Any]) -> InstallOutcome:
    next_try = result.get("next_try_at")
    return InstallOutcome(
        url=str(result.get("url", "")),
        target=str(result.get("target", "")),
        ok=bool(result.get("ok")),
        sha256=str(result.get("sha256", "")),
        message=str(result.get("message", "")),
        action=str(result.get("action", "")),
        state=str(result.get("state", "")),
        next_try_at=datetime.fromisoformat(next_try.replace("Z", "+00:00")) if next_try else None,
        request_id=result.get("request_id"),
    )


def _line(outcome: InstallOutcome) -> Line:
    where = f" on {outcome.target}" if outcome.target else ""
    if outcome.stored_not_installed:
        then = f"; next try at {when(outcome.next_try_at)}" if outcome.next_try_at else ""
        text = f"{outcome.url}{where}: {outcome.message}{then}"
        return Line(outcome.url, "amber", "Stored; not installed", text, True, outcome.request_id)
    text = f"{outcome.url}{where}: {outcome.message}"
    if outcome.ok:
        return Line(outcome.url, "ok", "Installed", text, False, outcome.request_id)
    return Line(outcome.url, "error", "Not proven", text, False, outcome.request_id)


def progress_of(view: WorkRequestView, actor: Actor) -> Progress:
    """What ``actor`` reads of the install request ``view``."""
    if not view.finished:
        word = "installing…" if view.status == "running" else "waiting to be installed…"
        lines = tuple(
            Line(u, "pending", "Stored; installing…", f"{u}: stored, {word}", False)
            for u in view.urls
        )
        return Progress(
            view.id, view.status, False, "pending", "Certificate stored, installing…", lines
        )
    if view.error is not None or view.results is None:
        reason = view.error if actor.is_operator else plain_failure(None)
        lines = tuple(
            Line(u, "amber", "Stored; not installed", f"{u}: {reason}", True) for u in view.urls
        )
        return Progress(
            view.id, view.status, True, "amber", "Certificate stored; not installed", lines
        )
    # A reseller quotes the request its certificate came with to the operators.
    outcomes = [_outcome(r) for r in view.results]
    lines = tuple(_line(for_reader([o], actor, o.request_id)[0]) for o in outcomes)
    tones = {line.tone for line in lines}
    if "amber" in tones:
        tone, heading = "amber", "Certificate stored; not installed"
    elif "error" in tones:
        tone, heading = "error", "Certificate installed; not proven"
    else:
        tone, heading = "ok", "Certificate installed"
    return Progress(view.id, view.status, True, tone, heading, lines)


def probe_progress(view: WorkRequestView) -> Progress:
    """Where a "probe now" stands, for the domain page and its script."""
    head = f"Probe request #{view.id}"
    if not view.finished:
        return Progress(view.id, view.status, False, "pending", f"{head}: {view.status}…", ())
    if view.status == "failed":
        return Progress(view.id, view.status, True, "error", f"{head}: failed", ())
    tone = "ok" if view.ok == view.targets else "amber"
    heading = (
        f"{head}: done, {view.ok} of {view.targets} answered with a handshake; "
        "reload the page to see it in the list"
    )
    return Progress(view.id, view.status, True, tone, heading, ())


def queue_install(request: Request, who: Principal, urls: list[str]) -> WorkRequestView | None:
    """After an upload: queue the install of what was stored (with a deploy target
    configured), for the workers of ``certdesk serve``; None when nothing is to install."""
    if not urls or not request.app.state.installer.configured:
        return None
    return run(request, who, request_install, urls=urls)


def _install_request(request: Request, who: Principal, request_id: int) -> WorkRequestView:
    return run(request, who, get_work_request, request_id=request_id, kind=WorkKind.INSTALL)


@router.get("/installs/{request_id}")
@quick_read
def install_page(request: Request, request_id: Id) -> HTMLResponse:
    """An install that was queued: where it stands (the page follows it)."""
    who = viewer(request)
    view = _install_request(request, who, request_id)
    return render(
        request,
        "install.html",
        {"job": progress_of(view, who.actor), "refresh": REFRESH_SECONDS},
        who=who,
    )


@router.get("/installs/{request_id}/status")
@quick_read
def install_status(request: Request, request_id: Id) -> JSONResponse:
    """The same as JSON, for the page's script."""
    who = viewer(request)
    view = _install_request(request, who, request_id)
    response = JSONResponse(progress_of(view, who.actor).to_json())
    response.headers.update(SECURITY_HEADERS)
    response.headers["cache-control"] = "no-store"
    return response


@router.get("/probe-requests/{request_id}/status")
@quick_read
def probe_status(request: Request, request_id: Id) -> JSONResponse:
    """A "probe now" of the viewer's as JSON, for the domain page's script."""
    who = viewer(request)
    view = run(request, who, get_probe_request, request_id=request_id)
    response = JSONResponse(probe_progress(view).to_json())
    response.headers.update(SECURITY_HEADERS)
    response.headers["cache-control"] = "no-store"
    return response
