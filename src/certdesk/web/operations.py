"""The operators' pages: tenants, delivered reports, and previews of the next reports.

A reseller reaching these sees only its own tenant and its own reports (the desk's
scoping); the navigation offers them to operators.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from certdesk import desk
from certdesk.desk.context import tenant_by_name
from certdesk.errors import CertdeskError
from certdesk.reports import build_report
from certdesk.reports.render import title
from certdesk.scheduler.reports import history, report_config
from certdesk.store.models import Tenant
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
        with d.context(who.actor, at=moment) as ctx:
            owner = tenant_by_name(ctx, tenant) if tenant else None
            if owner is None and who.actor.tenant_id is not None:
                owner = ctx.session.get(Tenant, who.actor.tenant_id)
            report = build_report(
                ctx,
                kind,
                moment,
                config.tz,
                tenant_id=owner.id if owner else None,
                audience=owner.name if owner else "the platform's operators",
                daily_days=config.daily_days,
                monthly_min_days=config.monthly_min_days,
                monthly_max_days=config.monthly_max_days,
            )
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
