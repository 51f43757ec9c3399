"""One's own account: its API tokens (list, create — the token shown once —, revoke) and
the way to the password page; the tenant's audit log.

The same desk functions as ``/api/tokens`` and ``/api/audit``, as the viewer: a reseller
sees its own tokens and its own tenant's events only.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from certdesk import desk
from certdesk.desk import accounts
from certdesk.desk.accounts import TokenView
from certdesk.http.auth import Principal
from certdesk.http.bounds import Id
from certdesk.http.threads import quick_read
from certdesk.web.common import render, run, viewer
from certdesk.web.overview import PAGE, one_page

router = APIRouter(include_in_schema=False)

Csrf = Annotated[str, Form(max_length=200)]
NOTES = {"revoked": "Token revoked: requests that use it are refused from now on."}


def _account_page(
    request: Request, who: Principal, *, made: TokenView | None = None, note: str | None = None
) -> HTMLResponse:
    tokens = run(request, who, accounts.list_tokens, user_id=who.user.id)
    return render(
        request,
        "account.html",
        {"tokens": list(reversed(tokens)), "made": made, "note": note},
        who=who,
    )


@router.get("/account")
@quick_read
def account(request: Request, done: str = Query("", max_length=20)) -> HTMLResponse:
    who = viewer(request)
    return _account_page(request, who, note=NOTES.get(done))


@router.post("/account/tokens")
def token_create(
    request: Request, csrf_token: Csrf = "", name: Annotated[str, Form(max_length=200)] = ""
) -> HTMLResponse:
    """A new API token, shown on this answer only (never in a URL, never again)."""
    who = viewer(request, form_csrf=csrf_token)
    made = run(request, who, accounts.create_token, user_id=who.user.id, name=name)
    return _account_page(request, who, made=made)


@router.post("/account/tokens/{token_id}/revoke")
def token_revoke(request: Request, token_id: Id, csrf_token: Csrf = "") -> Response:
    who = viewer(request, form_csrf=csrf_token)
    # user_id is the viewer's own: another's token is not found, even for an operator here
    # (operators revoke others' tokens on the Accounts pages).
    run(request, who, accounts.revoke_token_of, username=who.user.username, token_id=token_id)
    return RedirectResponse("/account?done=revoked", status_code=303)


@router.get("/audit")
@quick_read
def audit(
    request: Request,
    action: str | None = Query(None, max_length=100),
    actor: str | None = Query(None, max_length=200),
    page: int = Query(1, ge=1, le=100_000),
) -> HTMLResponse:
    """The events of the viewer's tenant (an operator: of every tenant), newest first, a
    page at a time; filtered by the start of the action and words of the actor."""
    who = viewer(request)
    chosen = {"action": (action or "").strip() or None, "actor": (actor or "").strip() or None}

    def page_of(page: int) -> desk.AuditPage:
        return run(
            request,
            who,
            desk.audit_page,
            action=chosen["action"],
            actor=chosen["actor"],
            limit=PAGE,
            offset=(page - 1) * PAGE,
        )

    found, page, pages = one_page(page_of, page)
    return render(
        request,
        "audit.html",
        {
            "events": found.rows,
            "total": found.total,
            "page": page,
            "pages": pages,
            "chosen": {k: v or "" for k, v in chosen.items()},
            "query": urlencode({k: v for k, v in chosen.items() if v}),
        },
        who=who,
    )
