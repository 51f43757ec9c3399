"""Fixes worded for the API: a program's author calls endpoints and fills in fields.

The API's JSON errors carry the structured ``fix`` (action, params, field) for programs,
and ``hint``, this wording, for the person reading the answer. It names endpoints and
their fields, never a command: an API client has no command line.
"""

from __future__ import annotations

from certdesk.fixes import Action, Fix, Wording

_OPERATORS = (
    "certdesk's operators must fix this on the server; nothing was changed: try again later"
)


def _domain_taken(fix: Fix) -> str:
    owner = fix.param("owner")
    if owner:
        return (
            f"it belongs to the tenant {owner!r} (GET /api/domains?tenant={owner}); to move "
            "it, remove it there first (DELETE /api/domains?url=…)"
        )
    return "it is used by another account; ask the platform's operators"


WORDING = Wording(
    {
        Action.GIVE_PASSWORD: (
            "send the file's password in the password field (it is the one chosen when the "
            "file was exported)"
        ),
        Action.GIVE_NEW_PASSWORD: (
            "send a password of your own for the new file in the password field: the .pfx "
            "carries the private key"
        ),
        Action.KEY_GIVEN_TWICE: "send the key once: in the file or on its own, not both",
        Action.CONVERT_TO_PFX: (
            "send a .pfx/.p12 holding the certificate, its private key and chain (the portal's "
            "Convert page makes one); for a CSR certdesk made, send the signed certificate to "
            "POST /api/csr/complete instead"
        ),
        Action.SUBMIT_PFX: (
            "the key of a CSR certdesk made never leaves it: send only the signed certificate; "
            "a certificate with its own key goes to POST /api/submissions as a .pfx"
        ),
        Action.LIST_DOMAINS: "GET /api/domains lists your domains",
        Action.DOMAIN_TAKEN: _domain_taken,
        Action.LIST_TENANTS: "GET /api/tenants lists the tenants",
        Action.LIST_ORDERS: "GET /api/csr lists your CSR orders",
        Action.NEW_ORDER: "order a new CSR with POST /api/csr",
        Action.ADD_NAMES: lambda fix: (
            f"add {fix.param('hosts', 'the missing host names')} to sans, or correct urls"
        ),
        Action.WAIT_PROBES: (
            "wait for them to finish (GET /api/probe-requests/{id}), then ask again"
        ),
        Action.CHANGE_PASSWORD: (
            "POST /api/me/password with current_password and new_password (or log in to the "
            "portal, which asks for a new password)"
        ),
        Action.LOG_IN: "POST /api/login, or send an API token (Authorization: Bearer …)",
        Action.RENEW: lambda fix: (
            f"order the renewal: POST /api/renewals with url {fix.param('url', 'URL')}"
        ),
        Action.RESTORE_MASTER_KEY: _OPERATORS,
        Action.ROTATE_MASTER_KEY: _OPERATORS,
        Action.SET_DEPLOY_TARGET: (
            "the platform has no place set to install certificates: ask its operators to set one"
        ),
        Action.CHOOSE_HOME: _OPERATORS,
        Action.VERIFY_CLAIM: lambda fix: (
            "set the TXT record claim_record to claim_token (both in the domain's JSON, "
            "GET /api/domains), or point the name at the platform, then POST "
            f"/api/domains/verify with url {fix.param('url', 'URL')}; certdesk also checks "
            "again by itself"
        ),
    }
)
