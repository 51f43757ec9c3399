"""Fixes worded for e-mail: its reader acts in the portal, so each names a portal page.

Reports go to a tenant's contacts, who have the portal (and maybe the API), never the
command line: a step is "order the renewal with the Renew (new CSR) button on the
domain's page of the portal", not a command.
"""

from __future__ import annotations

from certdesk.fixes import Action, Wording

_OPERATORS = "the platform's operators must fix this on the server; nothing was changed"


WORDING = Wording(
    {
        Action.GIVE_PASSWORD: (
            "upload it again in the portal with the password chosen when it was exported"
        ),
        Action.GIVE_NEW_PASSWORD: "choose a password for the new file in the portal",
        Action.KEY_GIVEN_TWICE: "upload a file that holds the key once, in the portal",
        Action.CONVERT_TO_PFX: (
            "make a .pfx on the portal's Convert page, then upload it on the Upload .pfx page"
        ),
        Action.SUBMIT_PFX: (
            "upload a certificate with its own key as a .pfx on the portal's Upload .pfx page"
        ),
        Action.LIST_DOMAINS: "the portal's Dashboard lists your domains",
        Action.DOMAIN_TAKEN: "it is used by another account; ask the platform's operators",
        Action.LIST_TENANTS: "the portal's Tenants page lists the tenants",
        Action.LIST_ORDERS: "the portal's CSR orders page lists your orders",
        Action.NEW_ORDER: "order a new CSR on the portal's Request a CSR page",
        Action.ADD_NAMES: lambda fix: (
            f"add {fix.param('hosts', 'the missing host names')} to the CSR's names in the portal"
        ),
        Action.WAIT_PROBES: "wait for the checks asked earlier to finish",
        Action.CHANGE_PASSWORD: "log in to the portal: it asks for a new password",
        Action.LOG_IN: "log in to the portal",
        Action.RENEW: lambda fix: (
            f"order the renewal of {fix.param('url', 'the domain')} with the Renew (new CSR) "
            "button on its page in the portal"
        ),
        Action.RESTORE_MASTER_KEY: _OPERATORS,
        Action.ROTATE_MASTER_KEY: _OPERATORS,
        Action.SET_DEPLOY_TARGET: (
            "the platform has no place set to install certificates: ask its operators to set one"
        ),
        Action.CHOOSE_HOME: _OPERATORS,
        Action.VERIFY_CLAIM: (
            "set the TXT record shown on the domain's page in the portal (or point the name at "
            "the platform), then press Check now there"
        ),
    }
)
