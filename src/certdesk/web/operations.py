"""The operators' pages: tenants (add, rename, report e-mails), accounts (add, disable,
reset the password, revoke tokens), delivered reports, and previews of the next reports.

A reseller reaching these sees only its own tenant (and may set its report e-mails) and
its own reports (the desk's scoping), and gets 403 on accounts; the navigation offers
them to operators. A password certdesk makes is shown once, on the answer to the form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from certdesk import desk
from certdesk.application.compose import report_config
from certdesk.desk import accounts
from certdesk.errors import CertdeskError
from certdesk.http.auth import Principal
from certdesk.http.bounds import Id
from certdesk.reports import preview_report
from certdesk.reports.render import title
from certdesk.scheduler.reports import history
from certdesk.web.common import PageError, render, run, the_desk, viewer
from certdesk.web.forms import Problems, lines, problems_of

T = TypeVar("T")

router = APIRouter(include_in_schema=False)
Csrf = Annotated[str, Form(max_length=200)]


# --- tenants -----------------------------------------------------------------------------------


def _attempt(
    request: Request, who: Principal, use_case: Callable[..., T], /, **inputs: Any
) -> tuple[T | None, Problems]:
    """Run the use case; a ``not-found`` is the 404 page, any other refusal the form's
    problems (beside the field its ``field`` names) with its HTTP status."""
    try:
        return the_desk(request).run(who.actor, use_case, **inputs), Problems()
    except CertdeskError as exc:
        if exc.http_status == 404:
            raise PageError.of(exc) from exc
        found = problems_of(exc)
        found.status = exc.http_status
        return None, found


def _tenants_page(
    request: Request,
    who: Principal,
    *,
    values: Mapping[str, str] | None = None,
    problems: Problems | None = None,
    note: str | None = None,
) -> HTMLResponse:
    found = problems or Problems()
    listed = run(request, who, desk.list_tenants)
    return render(
        request,
        "tenants.html",
        {
            "tenants": listed,
            "values": values or {"name": "", "emails": ""},
            "problems": found,
            "errors": found.errors,
            "note": note,
        },
        who=who,
        status=found.status if found else 200,
    )


@router.get("/tenants")
def tenants(request: Request, added: str = Query("", max_length=400)) -> HTMLResponse:
    """Every tenant the viewer may see (a reseller: its own); operators add one here."""
    who = viewer(request)
    # The note names a tenant that exists: a link cannot make the page say anything else.
    shown = added and any(t.name == added for t in run(request, who, desk.list_tenants))
    return _tenants_page(request, who, note=f"Tenant {added} added." if shown else None)


@router.post("/tenants")
def tenant_add(
    request: Request,
    csrf_token: Csrf = "",
    name: Annotated[str, Form(max_length=400)] = "",
    emails: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    who = viewer(request, form_csrf=csrf_token)
    made, problems = _attempt(request, who, desk.add_tenant, name=name, emails=lines(emails))
    if made is None:
        return _tenants_page(
            request, who, values={"name": name, "emails": emails}, problems=problems
        )
    return RedirectResponse(f"/tenants?added={quote(made.name, safe='')}", status_code=303)


def _tenant_page(
    request: Request,
    who: Principal,
    name: str,
    *,
    values: Mapping[str, str] | None = None,
    problems: Problems | None = None,
    note: str | None = None,
) -> HTMLResponse:
    listed = [t for t in run(request, who, desk.list_tenants) if t.name == name]
    if not listed:
        raise PageError(404, "not-found", f"no tenant named {name!r}", "choose one on Tenants")
    tenant = listed[0]
    found = problems or Problems()
    return render(
        request,
        "tenant.html",
        {
            "tenant": tenant,
            "values": values or {"new_name": tenant.name, "emails": "\n".join(tenant.emails)},
            "problems": found,
            "errors": found.errors,
            "note": note,
        },
        who=who,
        status=found.status if found else 200,
    )


@router.get("/tenant")
def tenant_page(
    request: Request,
    name: str = Query(max_length=400),
    done: str = Query("", max_length=20),
) -> HTMLResponse:
    """One tenant: its name (operators rename it) and its report e-mails. Another tenant's
    answers 404 for a reseller, as if it did not exist."""
    who = viewer(request)
    return _tenant_page(request, who, name, note="Saved." if done == "saved" else None)


@router.post("/tenant")
def tenant_change(
    request: Request,
    csrf_token: Csrf = "",
    name: Annotated[str, Form(max_length=400)] = "",
    new_name: Annotated[str | None, Form(max_length=400)] = None,
    emails: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    who = viewer(request, form_csrf=csrf_token)
    changed, problems = _attempt(
        request,
        who,
        desk.change_tenant,
        name=name,
        new_name=new_name,
        emails=lines(emails),
    )
    if changed is None:
        values = {"new_name": new_name or name, "emails": emails}
        return _tenant_page(request, who, name, values=values, problems=problems)
    return RedirectResponse(
        f"/tenant?name={quote(changed.name, safe='')}&done=saved", status_code=303
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


def _users_page(
    request: Request,
    who: Principal,
    *,
    values: Mapping[str, str] | None = None,
    problems: Problems | None = None,
) -> HTMLResponse:
    found = problems or Problems()
    return render(
        request,
        "users.html",
        {
            "users": run(request, who, accounts.list_users),
            "tenant_names": [t.name for t in run(request, who, desk.list_tenants)],
            "values": values or {"username": "", "role": "reseller", "tenant": ""},
            "problems": found,
            "errors": found.errors,
        },
        who=who,
        status=found.status if found else 200,
    )


@router.get("/users")
def users(request: Request) -> HTMLResponse:
    """Every account; operators add one here (certdesk makes its first password)."""
    return _users_page(request, _operator(request))


def _password_shown(
    request: Request, who: Principal, made: accounts.NewPassword, *, added: bool
) -> HTMLResponse:
    """The password certdesk made, on this one answer only (never stored in clear, never
    shown again: the page is not cached)."""
    return render(request, "user_password.html", {"made": made, "added": added}, who=who)


@router.post("/users")
def user_add(
    request: Request,
    csrf_token: Csrf = "",
    username: Annotated[str, Form(max_length=400)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    tenant: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    who = _operator(request, form_csrf=csrf_token)
    made, problems = _attempt(
        request,
        who,
        accounts.add_user,
        username=username,
        role=role,
        tenant=(tenant or None) if role == "reseller" else None,
    )
    if made is None:
        values = {"username": username, "role": role, "tenant": tenant}
        return _users_page(request, who, values=values, problems=problems)
    return _password_shown(request, who, made, added=True)


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
def user_password(request: Request, username: str, csrf_token: Csrf = "") -> Response:
    """A new password made by certdesk, shown once; the account's sessions end, its tokens
    are revoked, and it sets its own password at the next login."""
    who = _operator(request, form_csrf=csrf_token)
    made = run(request, who, accounts.reset_password, username=username)
    return _password_shown(request, who, made, added=False)


@router.post("/users/{username}/tokens/{token_id}/revoke")
def user_token_revoke(
    request: Request, username: str, token_id: Id, csrf_token: Csrf = ""
) -> Response:
    who = _operator(request, form_csrf=csrf_token)
    run(request, who, accounts.revoke_token_of, username=username, token_id=token_id)
    return RedirectResponse(f"/users/{quote(username, safe='')}?done=revoked", status_code=303)
