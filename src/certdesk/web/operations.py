"""The operators' pages: tenants, delivered reports, and previews of the next reports.

A reseller reaching these sees only its own tenant and its own reports (the desk's
scoping); the navigation offers them to operators.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from certdesk import desk
from certdesk.errors import CertdeskError
from certdesk.reports.render import title
from certdesk.reports.select import preview_report
from certdesk.scheduler.reports import history, report_config
from certdesk.web.common import PageError, render, run, the_desk, viewer

router = APIRouter(include_in_schema=False)


@router.get("/tenants")
def tenants(request: Request) -> HTMLResponse:
    who = viewer(request)
    return render(
        request, "tenants.html", {"tenants": run(request, who, desk.list_tenants)}, who=who
    )


@router.get("/reports")
def deliveries(request: Request) -> HTMLResponse:
    who = viewer(request)
    rows = history(the_desk(request), who.actor, limit=200)
    return render(request, "reports.html", {"deliveries": rows}, who=who)


@router.get("/reports/{kind}")
def preview(
    request: Request, kind: Literal["daily", "monthly"], tenant: str | None = None
) -> HTMLResponse:
    """The report as it would go out now: to the operators, or to one tenant."""
    who = viewer(request)
    d = the_desk(request)
    config = report_config(request.app.state.settings)
    moment = d.now()
    try:
        with d.context(who.actor, at=moment, readonly=True) as ctx:
            report = preview_report(ctx, kind=kind, at=moment, config=config, tenant=tenant)
    except CertdeskError as exc:
        raise PageError.of(exc) from exc
    names = [t.name for t in run(request, who, desk.list_tenants)] if who.actor.is_operator else []
    return render(
        request,
        "report_preview.html",
        {
            "report": report,
            "title": title(report),
            "kind": kind,
            "tenant": tenant or "",
            "tenant_names": names,
        },
        who=who,
    )
