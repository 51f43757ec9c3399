"""Pages that show: the dashboard, the domains and what they serve, the requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Protocol, TypeVar
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from certdesk import desk
from certdesk.desk.domains import Overview
from certdesk.desk.history import REQUEST_KINDS, REQUEST_STATUSES, RequestPage
from certdesk.desk.installs import InstallState, install_state
from certdesk.desk.monitoring import probe_history
from certdesk.desk.served import ServedPage
from certdesk.desk.work_requests import WorkRequestView, get_probe_request, request_probe
from certdesk.http.bounds import Id
from certdesk.http.threads import quick_read
from certdesk.pki import time_left
from certdesk.web.common import render, run, the_desk, viewer
from certdesk.web.expiry import (
    URGENCY_BUCKETS,
    URGENCY_TEXT,
    chart_of_weeks,
    rows,
    urgency,
)
from certdesk.web.jobs import probe_progress

router = APIRouter(include_in_schema=False)


PAGE = 50

INSTALL_TEXT = {
    InstallState.STORED: "Stored; not installed",
    InstallState.INSTALLING: "Installing",
    InstallState.INSTALLED: "Installed",
    InstallState.FAILED: "Stored; not installed",
}


@router.get("/")
@quick_read
def dashboard(
    request: Request,
    show: str | None = Query(None, max_length=20),
    page: int = Query(1, ge=1, le=100_000),
) -> HTMLResponse:
    """The viewer's domains: counts by urgency, the 90-day chart, and a page of the table
    (most urgent first; ``show`` keeps one urgency)."""
    who = viewer(request)
    now = the_desk(request).now()
    chosen = show if show in URGENCY_TEXT else None

    def overview_of(page: int) -> Overview:
        return run(
            request,
            who,
            desk.domain_overview,
            at=now,
            buckets=URGENCY_BUCKETS,
            show=chosen,
            limit=PAGE,
            offset=(page - 1) * PAGE,
        )

    overview, page, pages = one_page(overview_of, page)
    return render(
        request,
        "dashboard.html",
        {
            "rows": rows(overview.rows, now),
            "total": overview.total,
            "page": page,
            "pages": pages,
            "show": chosen or "",
            "counts": {key: overview.counts.get(key, 0) for key in URGENCY_TEXT},
            "urgency_text": URGENCY_TEXT,
            "chart": chart_of_weeks(overview.weeks, now),
            "now": now,
        },
        who=who,
    )


class Paged(Protocol):
    @property
    def total(self) -> int: ...


P = TypeVar("P", bound=Paged)


def one_page(fetch: Callable[[int], P], page: int) -> tuple[P, int, int]:
    """Page ``page`` of ``fetch`` (``PAGE`` rows a page), its number and the number of
    pages; past the end, the last page."""
    found = fetch(page)
    pages = max(1, -(-found.total // PAGE))
    if page > pages:
        page = pages
        found = fetch(page)
    return found, page, pages


@router.get("/domains")
@quick_read
def domains_served(
    request: Request,
    page: int = Query(1, ge=1, le=100_000),
    show: str | None = Query(None, max_length=20),
    drift: bool = False,
    failing: bool = False,
) -> HTMLResponse:
    """Every URL the viewer may see, a page at a time, with what its latest probes found
    it serving (``show`` keeps one urgency; ``drift``, ``failing`` keep those URLs)."""
    who = viewer(request)
    chosen = show if show in URGENCY_TEXT else None

    def page_of(page: int) -> ServedPage:
        return run(
            request,
            who,
            desk.served_overview,
            urgency=chosen,
            drift=drift,
            failing=failing,
            limit=PAGE,
            offset=(page - 1) * PAGE,
        )

    served, page, pages = one_page(page_of, page)
    filters = {"show": chosen, "drift": "1" if drift else None, "failing": "1" if failing else None}
    return render(
        request,
        "domains.html",
        {
            "table": served.rows,
            "total": served.total,
            "page": page,
            "pages": pages,
            "now": served.at,
            "show": chosen or "",
            "drift": drift,
            "failing": failing,
            "query": urlencode({k: v for k, v in filters.items() if v}),
            "urgency_text": URGENCY_TEXT,
        },
        who=who,
    )


@router.post("/domain/probe")
def domain_probe(
    request: Request,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    url: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    """Probe now, from the domain page: queued as over the API, run by the server."""
    who = viewer(request, form_csrf=csrf_token)
    asked = run(request, who, request_probe, urls=[url])
    return RedirectResponse(f"/domain?url={quote(url, safe='')}&probe={asked.id}", 303)


@router.get("/domain")
@quick_read
def domain_page(
    request: Request,
    url: str = Query(max_length=2048),
    probe: int | None = None,
    done: str = Query("", max_length=20),
) -> HTMLResponse:
    """One URL: its certificate, its probes, export and renewal."""
    who = viewer(request)
    now = the_desk(request).now()
    probes = run(request, who, probe_history, url=url, limit=20)  # not-found: not yours
    view = run(request, who, desk.show_domain, url=url)
    managed = run(request, who, desk.managed_state, url=url)
    asked: WorkRequestView | None = None
    if probe is not None:
        asked = run(request, who, get_probe_request, request_id=probe)
    install = run(request, who, install_state, url=url)
    live = view.served_not_after or view.not_after  # what is served counts, as in reports
    left = time_left(live, now) if live is not None else None
    return render(
        request,
        "domain.html",
        {
            "domain": view,
            "install": install,
            "install_text": INSTALL_TEXT,
            "can_install": request.app.state.installer.configured or view.deploy_target,
            "probes": probes,
            "time_left": left,
            "urgency": urgency(live, now),
            "urgency_text": URGENCY_TEXT,
            "asked": probe_progress(asked) if asked is not None else None,
            "note": DOMAIN_NOTES.get(done),
            "managed": managed,
            "managed_text": MANAGED_TEXT,
        },
        who=who,
    )


DOMAIN_NOTES = {
    "added": "Domain added: it is watched from now on. Upload its certificate or request a CSR.",
    "changed": "Changes saved.",
    "monitored": "Monitoring started: its certificate is checked and reported again.",
    "unmonitored": "Monitoring stopped: no probes, no expiry warnings until you start it again.",
    "claimed": "Domain added as your claim: show that the name is yours (below).",
    "checked": "Checked: not verified yet. What DNS holds is below.",
    "verified": "Ownership verified: the domain is yours.",
}


# How a platform-managed certificate's state reads on the domain page.
MANAGED_TEXT = {
    "waiting-for-dns": "Waiting for DNS",
    "ordering": "Ordering",
    "issued": "Issued",
    "renewing": "Renewing",
    "failed": "Failed",
}


@router.get("/requests")
@quick_read
def requests_page(
    request: Request,
    status: str | None = Query(None, max_length=40),
    kind: str | None = Query(None, max_length=40),
    tenant: str | None = Query(None, max_length=400),
    q: str | None = Query(None, max_length=200),
    page: int = Query(1, ge=1, le=100_000),
) -> HTMLResponse:
    """The requests the viewer may see, newest first, a page at a time; filtered by status,
    kind, tenant (operators) and words of the summary."""
    who = viewer(request)
    chosen = {
        "status": status if status in REQUEST_STATUSES else None,
        "kind": kind if kind in REQUEST_KINDS else None,
        "tenant": (tenant or None) if who.actor.is_operator else None,
        "q": (q or "").strip() or None,
    }

    def page_of(page: int) -> RequestPage:
        return run(
            request,
            who,
            desk.requests_page,
            status=chosen["status"],
            kind=chosen["kind"],
            tenant=chosen["tenant"],
            search=chosen["q"],
            limit=PAGE,
            offset=(page - 1) * PAGE,
        )

    found, page, pages = one_page(page_of, page)
    names = [t.name for t in run(request, who, desk.list_tenants)] if who.actor.is_operator else []
    return render(
        request,
        "requests.html",
        {
            "requests": found.rows,
            "total": found.total,
            "page": page,
            "pages": pages,
            "chosen": {k: v or "" for k, v in chosen.items()},
            "query": urlencode({k: v for k, v in chosen.items() if v}),
            "statuses": REQUEST_STATUSES,
            "kinds": REQUEST_KINDS,
            "tenant_names": names,
        },
        who=who,
    )


_STATUSES = tuple(desk.RequestStatus)


@router.get("/requests/{request_id}")
@quick_read
def request_page(request: Request, request_id: Id) -> HTMLResponse:
    who = viewer(request)
    found = run(request, who, desk.get_request, request_id=request_id)
    return render(request, "request.html", {"item": found}, who=who)
