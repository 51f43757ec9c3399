"""Fixes worded for the API: a program's author calls endpoints and fills in fields.

The API's JSON errors carry the structured ``fix`` (action, params, field) for programs,
and ``hint``, this wording, for the person reading the answer. It names endpoints and
their fields, never a command: an API client has no command line.
"""

from __future__ import annotations

from collections.abc import Callable

from certdesk.errors import CertdeskError
from certdesk.fixes import Action, Fix

_OPERATORS = (
    "certdesk's operators must fix this on the server; nothing was changed: try again later"
)


def _fixed(text: str) -> Callable[[Fix], str]:
    return lambda fix: text


def _domain_taken(fix: Fix) -> str:
    owner = fix.param("owner")
    if owner:
        return (
            f"it belongs to the tenant {owner!r} (GET /api/domains?tenant={owner}); to move "
            "it, remove it there first (DELETE /api/domains?url=…)"
        )
    return "it is used by another account; ask the platform's operators"


WORDS: dict[Action, Callable[[Fix], str]] = {
    Action.GIVE_PASSWORD: _fixed(
        "send the file's password in the password field (it is the one chosen when the "
        "file was exported)"
    ),
    Action.GIVE_NEW_PASSWORD: _fixed(
        "send a password of your own for the new file in the password field: the .pfx "
        "carries the private key"
    ),
    Action.KEY_GIVEN_TWICE: _fixed("send the key once: in the file or on its own, not both"),
    Action.CONVERT_TO_PFX: _fixed(
        "send a .pfx/.p12 holding the certificate, its private key and chain (the portal's "
        "Convert page makes one); for a CSR certdesk made, send the signed certificate to "
        "POST /api/csr/complete instead"
    ),
    Action.SUBMIT_PFX: _fixed(
        "the key of a CSR certdesk made never leaves it: send only the signed certificate; "
        "a certificate with its own key goes to POST /api/submissions as a .pfx"
    ),
    Action.LIST_DOMAINS: _fixed("GET /api/domains lists your domains"),
    Action.DOMAIN_TAKEN: _domain_taken,
    Action.LIST_TENANTS: _fixed("GET /api/tenants lists the tenants"),
    Action.LIST_ORDERS: _fixed("GET /api/csr lists your CSR orders"),
    Action.NEW_ORDER: _fixed("order a new CSR with POST /api/csr"),
    Action.ADD_NAMES: lambda fix: (
        f"add {fix.param('hosts', 'the missing host names')} to sans, or correct urls"
    ),
    Action.WAIT_PROBES: _fixed(
        "wait for them to finish (GET /api/probe-requests/{id}), then ask again"
    ),
    Action.CHANGE_PASSWORD: _fixed(
        "POST /api/me/password with current_password and new_password (or log in to the "
        "portal, which asks for a new password)"
    ),
    Action.LOG_IN: _fixed("POST /api/login, or send an API token (Authorization: Bearer …)"),
    Action.RENEW: lambda fix: (
        f"order the renewal: POST /api/renewals with url {fix.param('url', 'URL')}"
    ),
    Action.RESTORE_MASTER_KEY: _fixed(_OPERATORS),
    Action.ROTATE_MASTER_KEY: _fixed(_OPERATORS),
    Action.SET_DEPLOY_TARGET: _fixed(
        "the platform has no place set to install certificates: ask its operators to set one"
    ),
    Action.CHOOSE_HOME: _fixed(_OPERATORS),
    Action.VERIFY_CLAIM: lambda fix: (
        "set the TXT record claim_record to claim_token (both in the domain's JSON, "
        "GET /api/domains), or point the name at the platform, then POST "
        f"/api/domains/verify with url {fix.param('url', 'URL')}; certdesk also checks "
        "again by itself"
    ),
}


def word(fix: Fix) -> str:
    return WORDS[fix.action](fix)


def hint_for(error: CertdeskError) -> str | None:
    """What to do about ``error``, worded for the API's reader."""
    return word(error.fix) if error.fix is not None else error.hint
