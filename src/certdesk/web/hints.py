"""Fixes worded for the portal: a reseller (or an operator) uses pages, fields and buttons.

The portal is all a reseller has, so its hints name its pages ("the Convert page") and
the fields of the form on screen, never a command or an endpoint.
"""

from __future__ import annotations

from certdesk.fixes import Action, Fix, Wording

_OPERATORS = (
    "certdesk's operators must fix this on the server; nothing was changed: try again later"
)


def _domain_taken(fix: Fix) -> str:
    owner = fix.param("owner")
    if owner:
        return f"it belongs to the tenant {owner!r}: remove it from that tenant first"
    return "it is used by another account; ask the platform's operators"


WORDING = Wording(
    {
        Action.GIVE_PASSWORD: (
            "type the file's password in the Password field (it is the one chosen when the "
            "file was exported)"
        ),
        Action.GIVE_NEW_PASSWORD: (
            "type a password of your own for the new file in the Password field: the .pfx "
            "carries the private key"
        ),
        Action.KEY_GIVEN_TWICE: (
            "the file holds its key already: leave the key out, or choose a file that holds "
            "only the certificate"
        ),
        Action.CONVERT_TO_PFX: (
            "make a .pfx from the certificate, its key and chain on the Convert page, then "
            "upload that .pfx here; if certdesk made its CSR, upload the certificate on the "
            "Signed certificate page instead"
        ),
        Action.SUBMIT_PFX: (
            "the key of a CSR certdesk made never leaves it: upload only the signed "
            "certificate; a certificate with its own key is uploaded as a .pfx on the "
            "Upload .pfx page"
        ),
        Action.LIST_DOMAINS: "the Dashboard lists your domains",
        Action.DOMAIN_TAKEN: _domain_taken,
        Action.LIST_TENANTS: "the Tenants page lists the tenants",
        Action.LIST_ORDERS: "the CSR orders page (linked from Requests) lists your orders",
        Action.NEW_ORDER: "order a new CSR on the Request a CSR page",
        Action.ADD_NAMES: lambda fix: (
            f"add {fix.param('hosts', 'the missing host names')} to the other names of the "
            "request, or correct the URLs"
        ),
        Action.WAIT_PROBES: "wait for the checks asked earlier to finish, then ask again",
        Action.CHANGE_PASSWORD: "choose your own password on the page that asks for it",
        Action.LOG_IN: "log in again",
        Action.RENEW: "order the renewal with the Renew (new CSR) button on the domain's page",
        Action.RESTORE_MASTER_KEY: _OPERATORS,
        Action.ROTATE_MASTER_KEY: _OPERATORS,
        Action.SET_DEPLOY_TARGET: (
            "the platform has no place set to install certificates: ask its operators to set one"
        ),
        Action.CHOOSE_HOME: _OPERATORS,
        Action.VERIFY_CLAIM: (
            "set the TXT record shown on the domain's page (or point the name at the platform), "
            "then press Check now there; certdesk also checks again by itself"
        ),
    }
)
