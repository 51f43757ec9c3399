"""The JSON API: every route parses its input, calls one desk function, returns the result.

Tenancy is the desk's: a reseller's calls run as its tenant's actor, and another
tenant's objects answer 404. Responses never carry key material or passwords.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from certdesk import clock, desk
from certdesk.api.encode import json_bytes, jsonable
from certdesk.application.claims import check_claim
from certdesk.application.compose import claims_config, report_config
from certdesk.application.installer import InstallOutcome
from certdesk.desk import accounts
from certdesk.desk.context import Desk, Forbidden
from certdesk.desk.monitoring import probe_history as history_of_url
from certdesk.desk.work_requests import get_probe_request, request_probe
from certdesk.errors import InvalidArgument
from certdesk.http.auth import (
    SESSION_COOKIE,
    LoginLimiter,
    Principal,
    client_address,
    principal,
    set_session_cookie,
)
from certdesk.http.bounds import MAX_INT64, Id
from certdesk.http.files import download, read_upload
from certdesk.http.installs import for_reader
from certdesk.http.threads import in_intake_thread, quick_read, quick_read_unless
from certdesk.pki.csr import KeyKind, Subject
from certdesk.pki.expiry import Urgency
from certdesk.reports import preview_report, render
from certdesk.reports.kinds import KIND_NAMES
from certdesk.scheduler.reports import history as report_history

router = APIRouter(prefix="/api")


def who(request: Request) -> Principal:
    # In the thread pool (FastAPI runs a sync dependency there), not on the event loop:
    # finding the caller waits on the database (a pool connection, PostgreSQL's round
    # trips, and now and then the write that records a token's use).
    return principal(request)


Who = Annotated[Principal, Depends(who)]


async def the_desk(request: Request) -> Desk:
    return request.app.state.desk  # type: ignore[no-any-return]


DeskDep = Annotated[Desk, Depends(the_desk)]


# --- sessions -----------------------------------------------------------------------


class LoginIn(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1024)


@router.post("/login", tags=["accounts"])
def login(body: LoginIn, request: Request, response: Response, d: DeskDep) -> dict[str, Any]:
    """Log in; sets the session cookie and returns the CSRF token for later calls."""
    limiter: LoginLimiter = request.app.state.login_limiter
    address = client_address(request)
    limiter.check(d, body.username, address)
    try:
        session = d.run(
            desk.Actor(name=f"login:{address}"),
            accounts.login,
            username=body.username,
            password=body.password,
        )
    except accounts.LoginFailed:
        limiter.failed(d, body.username, address)
        raise
    limiter.succeeded(d, body.username, address)
    set_session_cookie(request, response, session)
    return {"user": jsonable(session.user), "csrf_token": session.csrf_token}


@router.post("/logout", tags=["accounts"])
def logout(request: Request, response: Response, p: Who, d: DeskDep) -> dict[str, bool]:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        d.run(p.actor, accounts.logout, token=token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"ok": True}


@router.get("/me", tags=["accounts"])
def me(p: Who) -> dict[str, Any]:
    return {"user": jsonable(p.user), "csrf_token": p.csrf_token}


class PasswordChangeIn(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


@router.post("/me/password", tags=["accounts"])
def change_password(
    body: PasswordChangeIn, request: Request, response: Response, p: Who, d: DeskDep
) -> dict[str, Any]:
    """Change the caller's own password; the caller's sessions end and, for a browser
    session, a new one is set (with a new CSRF token)."""
    session = d.run(
        p.actor,
        accounts.change_own_password,
        username=p.user.username,
        current_password=body.current_password,
        new_password=body.new_password,
    )
    if p.via == "session":
        set_session_cookie(request, response, session)
        return {"user": jsonable(session.user), "csrf_token": session.csrf_token}
    d.run(p.actor, accounts.logout, token=session.token)  # a token caller needs no session
    return {"user": jsonable(session.user), "csrf_token": None}


# --- tenants and domains -------------------------------------------------------------


class TenantIn(BaseModel):
    name: str = Field(max_length=200)
    emails: list[str] = []


class TenantChange(BaseModel):
    new_name: str | None = None
    emails: list[str] | None = None


@router.get("/tenants", tags=["tenants"])
@quick_read
def tenants(p: Who, d: DeskDep) -> list[Any]:
    return jsonable(d.run(p.actor, desk.list_tenants))  # type: ignore[no-any-return]


@router.post("/tenants", tags=["tenants"], status_code=201)
def tenant_add(body: TenantIn, p: Who, d: DeskDep) -> Any:
    return jsonable(d.run(p.actor, desk.add_tenant, name=body.name, emails=body.emails))


@router.patch("/tenants/{name}", tags=["tenants"])
def tenant_change(name: str, body: TenantChange, p: Who, d: DeskDep) -> Any:
    return jsonable(
        d.run(p.actor, desk.change_tenant, name=name, new_name=body.new_name, emails=body.emails)
    )


class DomainIn(BaseModel):
    url: str = Field(max_length=2048)
    tenant: str
    portal: desk.Portal = desk.Portal.OTHER
    connect_to: str | None = None
    managed: Literal["acme", "customer"] | None = Field(
        None, description="acme: the platform issues and renews the certificate over ACME"
    )


class DomainChange(BaseModel):
    url: str
    portal: desk.Portal | None = None
    connect_to: str | None = None
    monitored: bool | None = None
    managed: Literal["acme", "customer"] | None = None


def _whole_tenant(limit: int, **_: Any) -> bool:
    return limit > 1000


@router.get("/domains", tags=["domains"])
@quick_read_unless(_whole_tenant)
def domains(
    request: Request,
    p: Who,
    d: DeskDep,
    tenant: str | None = None,
    limit: int = Query(100, ge=1, le=10_000, description="At most this many domains."),
    offset: int = Query(
        0, ge=0, le=MAX_INT64, description="Skip this many (ordered by host name)."
    ),
) -> Any:
    """The domains, a page at a time (by host name): ``X-Total-Count`` tells how many
    there are, ``Link`` the next and previous pages (RFC 8288)."""
    with d.context(p.actor, readonly=True) as ctx:
        views = desk.list_domains(ctx, tenant=tenant, limit=limit, offset=offset)
        total = desk.count_domains(ctx, tenant=tenant)
    headers = {"X-Total-Count": str(total)}
    links = []
    if offset + len(views) < total:
        links.append(f'<{_page_link(request, offset + limit, limit)}>; rel="next"')
    if offset > 0:  # past the end, the previous page is the last one
        last = max(0, (total - 1) // limit * limit)
        links.append(f'<{_page_link(request, min(offset - limit, last), limit)}>; rel="prev"')
    if links:
        headers["Link"] = ", ".join(links)
    # Encoded here in one pass (orjson): FastAPI's own encoding would walk every item in
    # Python twice, which costs more than reading the page from the database.
    return Response(json_bytes(views), media_type="application/json", headers=headers)


def _page_link(request: Request, offset: int, limit: int) -> str:
    # Relative (RFC 8288 allows a URI reference): behind a reverse proxy the host and
    # scheme this process sees are not the ones the client used.
    query = request.url.include_query_params(offset=max(0, offset), limit=limit).query
    return f"{request.url.path}?{query}"


@router.get("/domains/served", tags=["domains"])
@quick_read
def domains_served(
    p: Who,
    d: DeskDep,
    tenant: str | None = None,
    urgency: Urgency | None = None,
    drift: bool = Query(False, description="Only the URLs that serve another certificate."),
    failing: bool = Query(False, description="Only the URLs whose latest probe failed."),
    limit: int = Query(100, ge=1, le=1000, description="At most this many domains."),
    offset: int = Query(0, ge=0, le=MAX_INT64, description="Skip this many."),
) -> Any:
    """What each URL serves, a page at a time (soonest installed expiry first): the
    installed and the served certificate's expiry, the latest probe, drift and urgency;
    ``X-Total-Count`` tells how many the filters keep."""
    page = d.run(
        p.actor,
        desk.served_overview,
        tenant=tenant,
        urgency=urgency,
        drift=drift,
        failing=failing,
        limit=limit,
        offset=offset,
    )
    return JSONResponse(jsonable(page.rows), headers={"X-Total-Count": str(page.total)})


@router.post("/domains", tags=["domains"], status_code=201)
def domain_add(body: DomainIn, p: Who, d: DeskDep) -> Any:
    return jsonable(
        d.run(
            p.actor,
            desk.add_domain,
            url=body.url,
            tenant=body.tenant,
            portal=body.portal,
            connect_to=body.connect_to,
            managed=body.managed,
        )
    )


@router.patch("/domains", tags=["domains"])
def domain_change(body: DomainChange, p: Who, d: DeskDep) -> Any:
    return jsonable(
        d.run(
            p.actor,
            desk.change_domain,
            url=body.url,
            portal=body.portal,
            connect_to=body.connect_to,
            monitored=body.monitored,
            managed=body.managed,
        )
    )


class InstallIn(BaseModel):
    url: str = Field(max_length=2048)


@router.post("/domains/install", tags=["domains"])
def domain_install(body: InstallIn, request: Request, response: Response, p: Who) -> Any:
    """Retry now: install the certificate bound to one of the caller's URLs on its
    terminator and prove it with a handshake. 200 when installed; 202 when it stays
    stored but not installed (``install_state`` ``install-failed``, the reason in
    ``message``, the next automatic try in ``next_try_at``)."""
    [outcome] = for_reader(
        request.app.state.installer.install(p.actor, urls=[body.url]), p.actor, None
    )
    if outcome.stored_not_installed:
        response.status_code = 202
    return {**jsonable(outcome), "summary": outcome.summary()}


@router.get("/domains/managed", tags=["domains"])
def domains_managed(p: Who, d: DeskDep, tenant: str | None = None) -> Any:
    """The platform-managed domains (ACME) and where each certificate stands: waiting for
    DNS (with what to set), ordering, issued, renewing, or failed with the CA's problem."""
    return jsonable(d.run(p.actor, desk.list_managed, tenant=tenant))


class VerifyIn(BaseModel):
    url: str = Field(max_length=2048)
    tenant: str | None = Field(
        None, description="Whose claim (operators), when several tenants claim the URL."
    )


@router.post("/domains/verify", tags=["domains"])
def domain_verify(body: VerifyIn, request: Request, p: Who) -> Any:
    """Check now that a pending ownership claim is the caller's: the TXT record
    ``_certdesk.<name>`` holding the claim's token (``claim_record`` and ``claim_token``
    in the domain's JSON), or the name pointing at the platform while no other account
    claims it. The claim as it stands after the check: ``verified``, ``pending`` (with
    what DNS holds and what to set in ``message``), or ``closed`` (another account
    verified the name first). certdesk also checks pending claims by itself."""
    return jsonable(
        check_claim(
            request.app.state.desk,
            claims_config(request.app.state.settings),
            p.actor,
            url=body.url,
            tenant=body.tenant,
        )
    )


@router.get("/domains/claims", tags=["domains"])
def domain_claims(p: Who, d: DeskDep, tenant: str | None = None) -> Any:
    """The caller's pending ownership claims (with the TXT record to set and its token),
    then the latest claims closed because another account verified the name first, each
    with its message."""
    return jsonable(d.run(p.actor, desk.list_claims, tenant=tenant))


@router.delete("/domains", tags=["domains"])
def domain_remove(p: Who, d: DeskDep, url: str) -> Any:
    return jsonable(d.run(p.actor, desk.remove_domain, url=url))


# --- intake --------------------------------------------------------------------------


@router.post("/submissions", tags=["certificates"], status_code=201)
async def submit(
    request: Request,
    response: Response,
    p: Who,
    d: DeskDep,
    file: Annotated[UploadFile, File(description="The .pfx/.p12 file.")],
    common_name: Annotated[str, Form()],
    tenant: Annotated[str, Form()],
    urls: Annotated[list[str], Form()],
    password: Annotated[str | None, Form()] = None,
    portal: Annotated[desk.Portal, Form()] = desk.Portal.OTHER,
) -> Any:
    """Submit a customer's .pfx with its password, common name and URLs.

    The file is read and checked in a reader process with a time limit (``too-costly``
    past it); a tenant has at most a few files being read at once (``rate-limited``)."""
    data = await read_upload(request, file)
    result = await in_intake_thread(
        d.run,
        p.actor,
        desk.submit_pfx,
        tenant=tenant,
        data=data,
        password=password.encode("utf-8") if password else None,
        common_name=common_name,
        urls=urls,
        portal=portal,
    )
    installs = await run_in_threadpool(
        request.app.state.installer.after_intake, p.actor, result.request_id
    )
    return intake_answer(response, result, for_reader(installs, p.actor, result.request_id))


def intake_answer(response: Response, result: Any, installs: list[InstallOutcome]) -> Any:
    """An intake's JSON. Stored but not installed (the install failed; it is retried on its
    own) is its own answer: HTTP 202 with ``stored_not_installed`` and the reason and next
    try in ``message``; neither a refusal nor a duplicate."""
    body = {**jsonable(result), "installed": jsonable(installs)}
    failed = [o for o in installs if o.stored_not_installed]
    if failed:
        response.status_code = 202
        body["outcome"] = "stored-not-installed"
        body["message"] = failed[0].summary()
    return body


class CsrIn(BaseModel):
    tenant: str
    common_name: str = Field(max_length=300)
    organization: str | None = None
    unit: str | None = None
    locality: str | None = None
    state: str | None = None
    country: str | None = None
    sans: list[str] = []
    urls: list[str] = []
    key: KeyKind = KeyKind.RSA2048


def _order_json(view: desk.OrderView) -> dict[str, Any]:
    return jsonable(view)  # type: ignore[no-any-return]


@router.post("/csr", tags=["csr"], status_code=201)
def csr_new(body: CsrIn, p: Who, d: DeskDep) -> Any:
    subject = Subject(
        common_name=body.common_name,
        organization=body.organization,
        unit=body.unit,
        locality=body.locality,
        state=body.state,
        country=body.country,
    )
    return _order_json(
        d.run(
            p.actor,
            desk.order_csr,
            tenant=body.tenant,
            subject=subject,
            sans=body.sans,
            urls=body.urls,
            key_kind=body.key.value,
        )
    )


@router.get("/csr", tags=["csr"])
@quick_read
def csr_list(
    p: Who, d: DeskDep, tenant: str | None = None, status: desk.OrderStatus | None = None
) -> Any:
    return [_order_json(v) for v in d.run(p.actor, desk.list_orders, tenant=tenant, status=status)]


@router.get("/csr/{order_id}", tags=["csr"])
@quick_read
def csr_show(order_id: Id, p: Who, d: DeskDep) -> Any:
    return _order_json(d.run(p.actor, desk.show_order, order_id=order_id))


@router.get("/csr/{order_id}/csr", tags=["csr"], response_class=PlainTextResponse)
def csr_download(order_id: Id, p: Who, d: DeskDep) -> Response:
    view = d.run(p.actor, desk.show_order, order_id=order_id)
    return download(view.csr_pem, "application/pkcs10", f"{view.common_name}.csr")


@router.post("/csr/complete", tags=["csr"])
async def csr_complete(
    request: Request,
    response: Response,
    p: Who,
    d: DeskDep,
    file: Annotated[UploadFile, File(description=".crt/.pem/.cer/.p7b")],
) -> Any:
    data = await read_upload(request, file)
    result = await in_intake_thread(d.run, p.actor, desk.complete_order, data=data)
    installs = await run_in_threadpool(
        request.app.state.installer.after_intake, p.actor, result.request_id
    )
    return intake_answer(response, result, for_reader(installs, p.actor, result.request_id))


@router.post("/csr/{order_id}/cancel", tags=["csr"])
def csr_cancel(order_id: Id, p: Who, d: DeskDep) -> Any:
    return _order_json(d.run(p.actor, desk.cancel_order, order_id=order_id))


class RenewIn(BaseModel):
    url: str
    key: KeyKind | None = None


@router.post("/renewals", tags=["csr"], status_code=201)
def renew(body: RenewIn, p: Who, d: DeskDep) -> Any:
    return _order_json(
        d.run(p.actor, desk.renew, url=body.url, key_kind=body.key.value if body.key else None)
    )


class ExportIn(BaseModel):
    url: str
    to: Literal["pfx", "pem"]
    password: str | None = Field(default=None, max_length=1024)
    legacy: bool = False
    include_key: bool = Field(False, description="PEM: add the private key (a .pfx always has it).")
    clear_key: bool = Field(False, description="PEM with key: the key in clear (audited).")


@router.post("/exports", tags=["certificates"])
def export(body: ExportIn, p: Who, d: DeskDep) -> Response:
    """The certificate on a URL with its chain (audited). A .pfx carries the key and needs
    a password; a PEM carries the key only with ``include_key``, encrypted under the
    password unless ``clear_key`` asks for it in clear."""
    result = d.run(
        p.actor,
        desk.export_certificate,
        url=body.url,
        to=body.to,
        password=body.password.encode("utf-8") if body.password else None,
        legacy=body.legacy,
        include_key=body.include_key,
        clear_key=body.clear_key,
    )
    return download(result.data, result.media_type, result.filename)


# --- monitoring and reports ------------------------------------------------------------


@router.get("/reports/{kind}", tags=["reports"])
def report_preview(
    kind: Annotated[
        str, Path(max_length=40, description=f"A report kind: {', '.join(KIND_NAMES)}.")
    ],
    request: Request,
    p: Who,
    d: DeskDep,
    at: str | None = None,
    tenant: str | None = None,
    format: Literal["json", "csv", "html", "text"] = "json",
) -> Response:
    config = report_config(request.app.state.settings)
    moment = clock.parse_instant(at) if at else None
    report = d.run(p.actor, preview_report, kind=kind, config=config, at=moment, tenant=tenant)
    media = {
        "json": "application/json",
        "csv": "text/csv",
        "html": "text/html",
        "text": "text/plain",
    }[format]
    return Response(render(report, format), media_type=f"{media}; charset=utf-8")


@router.get("/report-deliveries", tags=["reports"])
def report_deliveries(p: Who, d: DeskDep, limit: int = Query(200, ge=1, le=1000)) -> Any:
    return [
        {
            "kind": r.kind,
            "period": r.period,
            "recipient": r.recipient,
            "status": r.status,
            "late": r.late,
            "rows": r.rows,
            "attempts": r.attempts,
            "sent_at": jsonable(r.sent_at),
            "last_error": r.last_error,
        }
        for r in report_history(d, p.actor, limit=limit)
    ]


class ProbeIn(BaseModel):
    urls: list[str] = []


@router.post("/probes", tags=["monitoring"], status_code=202)
def probe(body: ProbeIn, p: Who, d: DeskDep) -> Any:
    """Ask for a probe of URLs (default: every monitored URL the caller can see), answered
    at once: the request is queued and run by the server in the background; follow it at
    ``GET /api/probe-requests/{id}``. The same URLs asked again while the request still
    waits give that request again (``deduplicated``); too many requests answer 429."""
    return jsonable(d.run(p.actor, request_probe, urls=body.urls))


@router.get("/probe-requests/{request_id}", tags=["monitoring"])
def probe_request(request_id: Id, p: Who, d: DeskDep) -> Any:
    """A probe request: queued, running, done (with each URL's result) or failed."""
    return jsonable(d.run(p.actor, get_probe_request, request_id=request_id))


@router.get("/probes", tags=["monitoring"])
@quick_read
def probe_history(p: Who, d: DeskDep, url: str, limit: int = Query(50, ge=1, le=500)) -> Any:
    return jsonable(d.run(p.actor, history_of_url, url=url, limit=limit))


# --- requests, audit, accounts -------------------------------------------------------------


@router.get("/requests", tags=["requests"])
@quick_read
def requests_(
    p: Who, d: DeskDep, tenant: str | None = None, status: desk.RequestStatus | None = None
) -> Any:
    return jsonable(d.run(p.actor, desk.list_requests, tenant=tenant, status=status))


@router.get("/requests/{request_id}", tags=["requests"])
@quick_read
def request_show(request_id: Id, p: Who, d: DeskDep) -> Any:
    return jsonable(d.run(p.actor, desk.get_request, request_id=request_id))


@router.get("/audit", tags=["requests"])
def audit(
    p: Who,
    d: DeskDep,
    tenant: str | None = None,
    action: str | None = Query(None, max_length=60),
    actor: str | None = Query(None, max_length=200),
    limit: int = Query(200, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=1_000_000_000),
) -> Any:
    """The audit log, newest first, a page at a time (``X-Total-Count``: how many events the
    filters keep): ``action`` keeps an action or those starting so (``user.``), ``actor``
    those whose actor holds the text."""
    page = d.run(
        p.actor,
        desk.audit_page,
        tenant=tenant,
        action=action,
        actor=actor,
        limit=limit,
        offset=offset,
    )
    return JSONResponse(jsonable(page.rows), headers={"X-Total-Count": str(page.total)})


class TokenIn(BaseModel):
    name: str = Field(max_length=200)


@router.get("/tokens", tags=["accounts"])
def tokens(p: Who, d: DeskDep) -> Any:
    return jsonable(d.run(p.actor, accounts.list_tokens, user_id=p.user.id))


@router.post("/tokens", tags=["accounts"], status_code=201)
def token_create(body: TokenIn, p: Who, d: DeskDep) -> Any:
    """A new API token for the caller, shown once: keep it."""
    return jsonable(d.run(p.actor, accounts.create_token, user_id=p.user.id, name=body.name))


@router.delete("/tokens/{token_id}", tags=["accounts"])
def token_revoke(token_id: Id, p: Who, d: DeskDep) -> Any:
    """Revoke one of the caller's tokens; an operator revokes anyone's."""
    return jsonable(d.run(p.actor, accounts.revoke_token, user_id=p.user.id, token_id=token_id))


class UserIn(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1024)
    role: Literal["operator", "reseller"]
    tenant: str | None = None


@router.get("/users", tags=["accounts"])
def users(p: Who, d: DeskDep) -> Any:
    return jsonable(d.run(p.actor, accounts.list_users))


@router.post("/users", tags=["accounts"], status_code=201)
def user_create(body: UserIn, p: Who, d: DeskDep) -> Any:
    return jsonable(
        d.run(
            p.actor,
            accounts.create_user,
            username=body.username,
            password=body.password,
            role=body.role,
            tenant=body.tenant,
        )
    )


class UserChange(BaseModel):
    disabled: bool | None = None
    password: str | None = Field(default=None, max_length=1024)


@router.patch("/users/{username}", tags=["accounts"])
def user_change(username: str, body: UserChange, p: Who, d: DeskDep) -> Any:
    """Disable or enable an account (operators: its sessions end and its tokens are revoked
    at once) and/or set its password (one's own, or anyone's for an operator: the user's
    sessions end and its tokens are revoked)."""
    return jsonable(
        d.run(
            p.actor,
            accounts.change_user,
            username=username,
            disabled=body.disabled,
            password=body.password,
        )
    )


@router.get("/users/{username}/tokens", tags=["accounts"])
def user_tokens(username: str, p: Who, d: DeskDep) -> Any:
    """An account's API tokens (any account's, for an operator)."""
    return jsonable(d.run(p.actor, accounts.tokens_of, username=username))


def require_operator(p: Principal) -> None:
    if not p.actor.is_operator:
        raise Forbidden("this is for the platform's operators")


class DeployIn(BaseModel):
    urls: list[str] = []
    all: bool = False
    target: str | None = None
    dry_run: bool = False
    force: bool = Field(False, description="Install again even where nothing changed.")


@router.post("/deployments", tags=["certificates"])
def deploy(body: DeployIn, request: Request, p: Who) -> Any:
    """Install the certificates bound to URLs (or all the caller's) on their terminators and
    prove each with a handshake; a deploy whose proof fails is rolled back (that deploy
    only) and reported, one that changed nothing is reported and left as it was."""
    if bool(body.urls) == body.all:
        raise InvalidArgument("give urls or all=true (not both)")
    if body.target is not None:
        require_operator(p)
    outcomes = request.app.state.installer.install(
        p.actor,
        urls=body.urls,
        every=body.all,
        target=body.target,
        dry_run=body.dry_run,
        force=body.force,
    )
    return jsonable(outcomes)
