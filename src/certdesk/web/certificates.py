"""Pages that change something: a ``.pfx`` upload, a CSR order, the signed certificate's
return, renewal, and an export download.

Each form calls one desk function. A refusal changes nothing (the desk's transaction
is rolled back) and the form comes back with every problem next to its field, and every
finding of a refused certificate with its fix.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from certdesk import desk
from certdesk.desk.work_requests import request_install
from certdesk.errors import CertdeskError
from certdesk.http.auth import Principal
from certdesk.http.bounds import Id
from certdesk.http.files import download, read_upload
from certdesk.http.threads import in_intake_thread, quick_read
from certdesk.pki.csr import KeyKind, Subject
from certdesk.web.common import attempt, form_page, render, run, tenants_of, viewer
from certdesk.web.forms import Problems, lines, problems_of
from certdesk.web.jobs import Progress, progress_of, queue_install

router = APIRouter(include_in_schema=False)

PORTALS = tuple(
    (p.value, label)
    for p, label in zip(desk.Portal, ("BSS (billing) portal", "Storefront", "Other"), strict=True)
)
KEYS = tuple(
    (k.value, label)
    for k, label in zip(
        KeyKind, ("RSA 2048", "RSA 3072", "RSA 4096", "ECDSA P-256", "ECDSA P-384"), strict=True
    )
)

Csrf = Annotated[str, Form(max_length=200)]
Url = Annotated[str, Form(max_length=2048)]


def _queued(request: Request, who: Principal, urls: list[str]) -> Progress | None:
    """With a deploy target configured, the install of what the intake stored, queued for
    ``certdesk serve``'s workers: the answer page follows it (``web.jobs``)."""
    view = queue_install(request, who, urls)
    return progress_of(view, who.actor) if view is not None else None


# --- a customer's .pfx -------------------------------------------------------------------


def _pfx_form(
    request: Request, who: Principal, values: dict[str, str], problems: Problems, status: int = 200
) -> HTMLResponse:
    return form_page(
        request,
        who,
        "upload.html",
        problems,
        status,
        values=values,
        tenants=tenants_of(request, who),
        portals=PORTALS,
    )


@router.get("/upload")
def upload_form(request: Request) -> HTMLResponse:
    who = viewer(request)
    return _pfx_form(request, who, {"portal": "other", "tenant": who.user.tenant or ""}, Problems())


@router.post("/upload", response_model=None)
async def upload(
    request: Request,
    file: Annotated[UploadFile, File()],
    csrf_token: Csrf = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    common_name: Annotated[str, Form(max_length=300)] = "",
    urls: Annotated[str, Form(max_length=20000)] = "",
    portal: Annotated[str, Form(max_length=20)] = "other",
    tenant: Annotated[str, Form(max_length=200)] = "",
) -> HTMLResponse:
    who = viewer(request, form_csrf=csrf_token)
    values = {"common_name": common_name, "urls": urls, "portal": portal, "tenant": tenant}
    try:
        data = await read_upload(request, file)
    except CertdeskError as exc:
        return _pfx_form(request, who, values, problems_of(exc, "file"), 413)
    result, problems = await in_intake_thread(
        attempt,
        request,
        who,
        desk.submit_pfx,
        tenant=tenant or who.user.tenant or "",
        data=data,
        password=password.encode("utf-8") if password else None,
        common_name=common_name,
        urls=lines(urls),
        portal=portal if portal in tuple(desk.Portal) else desk.Portal.OTHER,
    )
    if problems:
        return _pfx_form(request, who, values, problems, 422)
    job = await run_in_threadpool(_queued, request, who, list(result.urls))
    return render(request, "upload_result.html", {"result": result, "job": job}, who=who)


# --- a CSR made by certdesk ----------------------------------------------------------------


def _csr_form(
    request: Request, who: Principal, values: dict[str, str], problems: Problems, status: int = 200
) -> HTMLResponse:
    return form_page(
        request,
        who,
        "csr_form.html",
        problems,
        status,
        values=values,
        tenants=tenants_of(request, who),
        keys=KEYS,
    )


@router.get("/csr/new")
def csr_form(request: Request) -> HTMLResponse:
    who = viewer(request)
    return _csr_form(
        request, who, {"key": KeyKind.RSA2048.value, "tenant": who.user.tenant or ""}, Problems()
    )


@router.post("/csr/new", response_model=None)
def csr_new(
    request: Request,
    csrf_token: Csrf = "",
    common_name: Annotated[str, Form(max_length=300)] = "",
    organization: Annotated[str, Form(max_length=300)] = "",
    unit: Annotated[str, Form(max_length=300)] = "",
    locality: Annotated[str, Form(max_length=300)] = "",
    state: Annotated[str, Form(max_length=300)] = "",
    country: Annotated[str, Form(max_length=10)] = "",
    sans: Annotated[str, Form(max_length=20000)] = "",
    urls: Annotated[str, Form(max_length=20000)] = "",
    key: Annotated[str, Form(max_length=20)] = KeyKind.RSA2048.value,
    tenant: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    who = viewer(request, form_csrf=csrf_token)
    values = {
        "common_name": common_name,
        "organization": organization,
        "unit": unit,
        "locality": locality,
        "state": state,
        "country": country,
        "sans": sans,
        "urls": urls,
        "key": key,
        "tenant": tenant,
    }
    subject = Subject(
        common_name=common_name,
        organization=organization or None,
        unit=unit or None,
        locality=locality or None,
        state=state or None,
        country=country or None,
    )
    view, problems = attempt(
        request,
        who,
        desk.order_csr,
        names={"key_kind": "key"},
        tenant=tenant or who.user.tenant or "",
        subject=subject,
        sans=lines(sans),
        urls=lines(urls),
        key_kind=key,
    )
    if problems:
        return _csr_form(request, who, values, problems, 422)
    return RedirectResponse(f"/orders/{view.id}", status_code=303)


@router.get("/orders")
@quick_read
def orders(request: Request) -> HTMLResponse:
    who = viewer(request)
    found = run(request, who, desk.list_orders)
    return render(request, "orders.html", {"orders": list(reversed(found))}, who=who)


@router.get("/orders/{order_id}")
@quick_read
def order_page(request: Request, order_id: Id) -> HTMLResponse:
    who = viewer(request)
    view = run(request, who, desk.show_order, order_id=order_id)
    return render(
        request, "order.html", {"order": view, "errors": {}, "problems": Problems()}, who=who
    )


@router.get("/orders/{order_id}/csr")
def order_csr_download(request: Request, order_id: Id) -> Response:
    who = viewer(request)
    view = run(request, who, desk.show_order, order_id=order_id)
    return download(view.csr_pem, "application/pkcs10", f"{view.common_name}.csr")


@router.post("/domain/install")
def domain_install(request: Request, csrf_token: Csrf = "", url: Url = "") -> Response:
    """Retry now (the domain page, an upload's answer): the install of the certificate
    bound to the URL (one of the viewer's) is queued, and the install's page follows it."""
    who = viewer(request, form_csrf=csrf_token)
    view = run(request, who, request_install, urls=[url])
    return RedirectResponse(f"/installs/{view.id}", 303)


@router.post("/orders/{order_id}/cancel")
def order_cancel(request: Request, order_id: Id, csrf_token: Csrf = "") -> Response:
    who = viewer(request, form_csrf=csrf_token)
    run(request, who, desk.cancel_order, order_id=order_id)
    return RedirectResponse(f"/orders/{order_id}", status_code=303)


@router.post("/renew")
def renew(
    request: Request, csrf_token: Csrf = "", url: Annotated[str, Form(max_length=2048)] = ""
) -> Response:
    who = viewer(request, form_csrf=csrf_token)
    view = run(request, who, desk.renew, url=url)
    return RedirectResponse(f"/orders/{view.id}", status_code=303)


# --- the signed certificate back -------------------------------------------------------------


def _signed_form(
    request: Request, who: Principal, problems: Problems, status: int = 200
) -> HTMLResponse:
    pending = run(request, who, desk.list_orders, status=desk.OrderStatus.PENDING)
    return form_page(request, who, "signed_form.html", problems, status, pending=pending)


@router.get("/signed")
def signed_form(request: Request) -> HTMLResponse:
    return _signed_form(request, viewer(request), Problems())


@router.post("/signed", response_model=None)
async def signed(
    request: Request, file: Annotated[UploadFile, File()], csrf_token: Csrf = ""
) -> HTMLResponse:
    who = viewer(request, form_csrf=csrf_token)
    try:
        data = await read_upload(request, file)
    except CertdeskError as exc:
        return _signed_form(request, who, problems_of(exc, "file"), 413)
    result, problems = await in_intake_thread(
        attempt, request, who, desk.complete_order, "file", data=data
    )
    if problems:
        return await run_in_threadpool(_signed_form, request, who, problems, 422)
    job = await run_in_threadpool(_queued, request, who, list(result.urls))
    return render(request, "signed_result.html", {"result": result, "job": job}, who=who)


# --- export ------------------------------------------------------------------------------------


SEARCH_SHOWN = 20  # URLs a search on the export page lists


def _export_form(
    request: Request,
    who: Principal,
    values: dict[str, Any],
    problems: Problems,
    status: int = 200,
    search: str = "",
) -> HTMLResponse:
    """The export form: a URL typed, or chosen among the URLs with a certificate that a
    search finds (a few at a time: a tenant may have thousands)."""
    found = run(
        request, who, desk.search_domains, text=search, installed=True, limit=SEARCH_SHOWN + 1
    )
    return form_page(
        request,
        who,
        "export.html",
        problems,
        status,
        values=values,
        search=search,
        matches=found[:SEARCH_SHOWN],
        more=len(found) > SEARCH_SHOWN,
    )


@router.get("/export")
def export_form(
    request: Request,
    url: Annotated[str, Query(max_length=2048)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    who = viewer(request)
    return _export_form(request, who, {"url": url, "to": "pfx"}, Problems(), search=q.strip())


@router.post("/export")
def export(
    request: Request,
    csrf_token: Csrf = "",
    url: Annotated[str, Form(max_length=2048)] = "",
    to: Annotated[str, Form(max_length=10)] = "pfx",
    password: Annotated[str, Form(max_length=1024)] = "",
    legacy: Annotated[bool, Form()] = False,
    with_key: Annotated[bool, Form()] = False,
    clear_key: Annotated[bool, Form()] = False,
) -> Response:
    who = viewer(request, form_csrf=csrf_token)
    result, problems = attempt(
        request,
        who,
        desk.export_certificate,
        url=url,
        to=to,
        password=password.encode("utf-8") if password else None,
        legacy=legacy,
        include_key=with_key,
        clear_key=clear_key,
    )
    if problems:
        values = {"url": url, "to": to, "with_key": with_key, "clear_key": clear_key}
        return _export_form(request, who, values, problems, 422)
    return download(result.data, result.media_type, result.filename)
