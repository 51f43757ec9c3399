"""The operators' pages: tenants, accounts, delivered reports, and previews of the next
reports.

A reseller reaching these sees only its own tenant and its own reports (the desk's
scoping); the navigation offers them to operators.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from certdesk import desk
from certdesk.desk import accounts
from certdesk.http.auth import Principal
from certdesk.http.bounds import Id
from certdesk.reports import preview_report
from certdesk.reports.render import title
from certdesk.scheduler.reports import history, report_config
from certdesk.web.common import PageError, render, run, the_desk, viewer

router = APIRouter(include_in_schema=False)
Csrf = Annotated[str, Form(max_length=200)]


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
    kinds = report_config(request.app.state.settings).kinds
    return render(request, "reports.html", {"deliveries": rows, "kinds": kinds}, who=who)


@router.get("/reports/{kind}")
def preview(
    request: Request, kind: Annotated[str, Path(max_length=40)], tenant: str | None = None
) -> HTMLResponse:
    """The report as it would go out now: to the operators, or to one tenant."""
    who = viewer(request)
    config = report_config(request.app.state.settings)
    report = run(request, who, preview_report, kind=kind, config=config, tenant=tenant)
    names = [t.name for t in run(request, who, desk.list_tenants)] if who.actor.is_operator else []
    return render(
        request,
        "report_preview.html",
        {
            "report": report,
            "title": title(report),
            "kind": kind,
            "kinds": config.kinds,
            "tenant": tenant or "",
            "tenant_names": names,
        },
        who=who,
    )


# --- accounts ----------------------------------------------------------------------------------


def _operator(request: Request, *, form_csrf: str | None = None) -> Principal:
    who = viewer(request, form_csrf=form_csrf)
    if not who.actor.is_operator:
        raise PageError(403, "forbidden", "accounts are managed by the platform's operators", None)
    return who


def _account_page(username: str) -> Response:
    return RedirectResponse(f"/users/{quote(username, safe='')}", status_code=303)


@router.get("/users")
def users(request: Request) -> HTMLResponse:
    who = _operator(request)
    views = run(request, who, accounts.list_users)
    return render(request, "users.html", {"users": views}, who=who)


@router.get("/users/{username}")
def user_page(request: Request, username: str, done: str = "") -> HTMLResponse:
    who = _operator(request)
    listed = [u for u in run(request, who, accounts.list_users) if u.username == username]
    if not listed:
        raise PageError(404, "not-found", f"no user {username!r}", None)
    tokens = run(request, who, accounts.tokens_of, username=username)
    notes = {
        "disabled": "Disabled: its sessions ended and its API tokens were revoked.",
        "enabled": "Enabled: it can log in again (its old API tokens stay revoked).",
        "password": "Password set: its sessions ended and its API tokens were revoked.",
        "revoked": "Token revoked.",
    }
    return render(
        request,
        "user.html",
        {"user": listed[0], "tokens": tokens, "note": notes.get(done)},
        who=who,
    )


@router.post("/users/{username}/disable")
def user_disable(request: Request, username: str, csrf_token: Csrf = "") -> Response:
    who = _operator(request, form_csrf=csrf_token)
    run(request, who, accounts.set_disabled, username=username, disabled=True)
    return RedirectResponse(f"/users/{quote(username, safe='')}?done=disabled", status_code=303)


@router.post("/users/{username}/enable")
def user_enable(request: Request, username: str, csrf_token: Csrf = "") -> Response:
    who = _operator(request, form_csrf=csrf_token)
    run(request, who, accounts.set_disabled, username=username, disabled=False)
    return RedirectResponse(f"/users/{quote(username, safe='')}?done=enabled", status_code=303)


@router.post("/users/{username}/password")
def user_password(
    request: Request,
    username: str,
    csrf_token: Csrf = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    who = _operator(request, form_csrf=csrf_token)
    run(request, who, accounts.set_password, username=username, password=password)
    return RedirectResponse(f"/users/{quote(username, safe='')}?done=password", status_code=303)


@router.post("/users/{username}/tokens/{token_id}/revoke")
def user_token_revoke(
    request: Request, username: str, token_id: Id, csrf_token: Csrf = ""
) -> Response:
    who = _operator(request, form_csrf=csrf_token)
    run(request, who, accounts.revoke_token_of, username=username, token_id=token_id)
    return RedirectResponse(f"/users/{quote(username, safe='')}?done=revoked", status_code=303)
