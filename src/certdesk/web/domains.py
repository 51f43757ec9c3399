"""Managing the domains: add one, change its portal (and, for operators, its connect-to
address), start or stop its monitoring, remove it; check a pending ownership claim now,
and the page of the viewer's claims (pending, and closed with why).

The same desk functions as ``POST/PATCH/DELETE /api/domains`` and ``certdesk domain``; a
refusal changes nothing and comes back beside the field it is about; another tenant's
domain is the 404 page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from certdesk import desk
from certdesk.application.claims import check_claim
from certdesk.application.compose import claims_config
from certdesk.desk import DomainView
from certdesk.errors import CertdeskError
from certdesk.http.auth import Principal
from certdesk.http.threads import quick_read
from certdesk.web.certificates import PORTALS
from certdesk.web.common import (
    PageError,
    attempt,
    form_page,
    render,
    run,
    tenants_of,
    the_desk,
    urlquote,
    viewer,
)
from certdesk.web.forms import Problems

router = APIRouter(include_in_schema=False)

Csrf = Annotated[str, Form(max_length=200)]
Url = Annotated[str, Form(max_length=2048)]
PORTAL_KINDS = tuple(key for key, _ in PORTALS)
# Who looks after a domain's certificate (desk.CertificateMode): the choice on both forms.
MODES = (
    ("customer", "The customer's own (uploaded .pfx, or a CSR signed by their CA)"),
    ("acme", "Platform-managed: issued and renewed by the platform once DNS points at it"),
)
MODE_KINDS = tuple(key for key, _ in MODES)


def _domain_page(url: str, done: str) -> Response:
    return RedirectResponse(f"/domain?url={urlquote(url)}&done={done}", status_code=303)


# --- add ------------------------------------------------------------------------------------


def _add_form(
    request: Request, who: Principal, values: dict[str, str], problems: Problems, status: int = 200
) -> HTMLResponse:
    return form_page(
        request,
        who,
        "domain_add.html",
        problems,
        status,
        values=values,
        tenants=tenants_of(request, who),
        portals=PORTALS,
        modes=MODES,
    )


@router.get("/domains/new")
def add_form(request: Request) -> HTMLResponse:
    who = viewer(request)
    values = {
        "url": "",
        "portal": "other",
        "tenant": who.user.tenant or "",
        "connect_to": "",
        "managed": "customer",
    }
    return _add_form(request, who, values, Problems())


@router.post("/domains/new", response_model=None)
def add(
    request: Request,
    csrf_token: Csrf = "",
    url: Url = "",
    portal: Annotated[str, Form(max_length=20)] = "other",
    tenant: Annotated[str, Form(max_length=200)] = "",
    connect_to: Annotated[str, Form(max_length=300)] = "",
    managed: Annotated[str, Form(max_length=20)] = "customer",
) -> Response:
    who = viewer(request, form_csrf=csrf_token)
    values = {
        "url": url,
        "portal": portal,
        "tenant": tenant,
        "connect_to": connect_to,
        "managed": managed,
    }
    view, problems = attempt(
        request,
        who,
        desk.add_domain,
        "url",
        url=url,
        tenant=tenant or who.user.tenant or "",
        portal=portal if portal in PORTAL_KINDS else "other",
        connect_to=connect_to.strip() or None if who.actor.is_operator else None,
        managed=managed if managed in MODE_KINDS else None,
    )
    if problems:
        return _add_form(request, who, values, problems, 422)
    return _domain_page(view.url, "claimed" if view.claim == "pending" else "added")


# --- change -------------------------------------------------------------------------------


def _edit_form(
    request: Request,
    who: Principal,
    domain: DomainView,
    values: dict[str, Any],
    problems: Problems,
    status: int = 200,
) -> HTMLResponse:
    return form_page(
        request,
        who,
        "domain_edit.html",
        problems,
        status,
        domain=domain,
        values=values,
        portals=PORTALS,
        modes=MODES,
    )


def _mode(request: Request, who: Principal, url: str) -> str:
    """``acme`` when the domain's certificate is platform-managed, else ``customer``."""
    return "acme" if run(request, who, desk.managed_state, url=url) is not None else "customer"


@router.get("/domain/edit")
@quick_read
def edit_form(request: Request, url: str = Query(max_length=2048)) -> HTMLResponse:
    who = viewer(request)
    domain = run(request, who, desk.show_domain, url=url)
    values = {
        "portal": domain.portal,
        "connect_to": domain.connect_to or "",
        "managed": _mode(request, who, domain.url),
    }
    return _edit_form(request, who, domain, values, Problems())


@router.post("/domain/edit", response_model=None)
def edit(
    request: Request,
    csrf_token: Csrf = "",
    url: Url = "",
    portal: Annotated[str, Form(max_length=20)] = "other",
    connect_to: Annotated[str, Form(max_length=300)] = "",
    managed: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    who = viewer(request, form_csrf=csrf_token)
    domain = run(request, who, desk.show_domain, url=url)
    now = _mode(request, who, domain.url)
    changed_mode = managed if managed in MODE_KINDS and managed != now else None
    changed_connect = who.actor.is_operator and connect_to.strip() != (domain.connect_to or "")
    view, problems = attempt(
        request,
        who,
        desk.change_domain,
        url=domain.url,
        portal=portal if portal in PORTAL_KINDS else domain.portal,
        connect_to=connect_to.strip() if changed_connect else None,
        managed=changed_mode,
    )
    if problems:
        values = {"portal": portal, "connect_to": connect_to, "managed": managed or now}
        return _edit_form(request, who, domain, values, problems, 422)
    return _domain_page(view.url, "changed")


@router.post("/domain/monitor")
def monitor(
    request: Request,
    csrf_token: Csrf = "",
    url: Url = "",
    monitored: Annotated[bool, Form()] = False,
) -> Response:
    """Start (``monitored=true``) or stop watching what a URL serves."""
    who = viewer(request, form_csrf=csrf_token)
    view = run(request, who, desk.change_domain, url=url, monitored=monitored)
    return _domain_page(view.url, "monitored" if monitored else "unmonitored")


# --- ownership claims ---------------------------------------------------------------------


@router.post("/domain/verify")
def verify(request: Request, csrf_token: Csrf = "", url: Url = "") -> Response:
    """Check now, from the domain page: the TXT record with the claim's token, or the name
    pointing at the platform. A claim closed meanwhile is told on the claims page."""
    who = viewer(request, form_csrf=csrf_token)
    try:  # DNS is asked outside any transaction: not one use case of the desk
        config = claims_config(request.app.state.settings)
        view = check_claim(the_desk(request), config, who.actor, url=url)
    except CertdeskError as exc:
        raise PageError.of(exc) from exc
    if view.claim == "closed":
        return RedirectResponse("/claims", status_code=303)
    return _domain_page(view.url, "verified" if view.claim == "verified" else "checked")


@router.get("/claims")
@quick_read
def claims(request: Request) -> HTMLResponse:
    """The viewer's pending ownership claims, and those closed because another account
    verified the name first, each with its message."""
    who = viewer(request)
    views = run(request, who, desk.list_claims)
    return render(request, "claims.html", {"claims": views, "claim_text": CLAIM_TEXT}, who=who)


CLAIM_TEXT = {"pending": "Not verified yet", "verified": "Verified", "closed": "Closed"}


# --- remove -------------------------------------------------------------------------------


@router.get("/domain/remove")
@quick_read
def remove_form(request: Request, url: str = Query(max_length=2048)) -> HTMLResponse:
    who = viewer(request)
    domain = run(request, who, desk.show_domain, url=url)
    return render(request, "domain_remove.html", {"domain": domain, "removed": False}, who=who)


@router.post("/domain/remove")
def remove(request: Request, csrf_token: Csrf = "", url: Url = "") -> HTMLResponse:
    who = viewer(request, form_csrf=csrf_token)
    view = run(request, who, desk.remove_domain, url=url)
    return render(request, "domain_remove.html", {"domain": view, "removed": True}, who=who)
