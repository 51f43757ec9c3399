"""Fixes worded for the command line: the operator runs real commands with real options.

A command named in a hint is quoted whole (``'certdesk csr list'``), so that it can be
copied and so that a test can check that each one exists with the options it shows; an
option named alone belongs to the command that is running, and a wording names it only
when that command has it (``csr complete`` has no ``--password-file``).
"""

from __future__ import annotations

import re
from collections.abc import Collection

# Typer bundles its own Click: the command that is running is read from its context.
from typer._click.globals import get_current_context

from certdesk.errors import CertdeskError
from certdesk.fixes import Action, Fix, Wording

_PLAIN = re.compile(r"[\w@%+=:,./-]+")


def current_options() -> frozenset[str]:
    """The options (``--out``…) of the command that is running; none outside one."""
    context = get_current_context(silent=True)
    if context is None:
        return frozenset()
    return frozenset(
        name
        for param in context.command.params
        for name in getattr(param, "opts", ())
        if name.startswith("--")
    )


def _give_password(options: Collection[str]) -> str:
    if "--password-file" in options:
        return (
            "give the password with --password-file or --password-env (it is the one "
            "chosen when the file was exported)"
        )
    return (
        "this command reads no password: give the certificate as .crt, .pem, .cer or "
        ".p7b (a .pfx with its own key is for 'certdesk submit FILE.pfx --url URL "
        "--password-file PW')"
    )


def _give_new_password(options: Collection[str]) -> str:
    if "--out-password-file" in options:
        return "give the new file's password with --out-password-file or --out-password-env"
    return "give a password for the new file: a .pfx carries the private key"


def _key_given_twice(options: Collection[str]) -> str:
    if "--key" in options:
        return "leave out --key, or give a file that holds only the certificate"
    return "give a file that holds only the certificate"


def _arg(value: str) -> str:
    """``value`` as one argument of a command shown in single quotes."""
    if _PLAIN.fullmatch(value):
        return value
    return '"' + re.sub(r'(["\\$`])', r"\\\1", value) + '"'


def _domain_taken(fix: Fix) -> str:
    owner, url = fix.param("owner"), fix.param("url", "URL")
    if owner:
        return (
            f"it belongs to the tenant {owner!r} ('certdesk domain list --tenant "
            f"{_arg(owner)}'); to move it, remove it there first: 'certdesk domain remove "
            f"{_arg(url)}'"
        )
    return "it belongs to another tenant: 'certdesk domain list' shows every tenant's"


def _add_names(fix: Fix, options: Collection[str]) -> str:
    hosts = fix.param("hosts", "the missing host names")
    if "--san" in options:
        return f"add {hosts} with --san, or correct the URLs"
    return f"add {hosts} to the request's names, or correct the URLs"


def _set_deploy_target(options: Collection[str]) -> str:
    text = "set [deploy] in certdesk.toml or CERTDESK_DEPLOY_TARGET"
    return text + (", or give --target" if "--target" in options else "")


def _restore_master_key(fix: Fix) -> str:
    wanted = fix.param("key_id")
    which = f"the master key with id {wanted}" if wanted else "the master key used before"
    return (
        f"set CERTDESK_MASTER_KEY (or put back the master.key file) to {which}; change it "
        "only with 'certdesk vault rotate'"
    )


def wording(options: Collection[str]) -> Wording:
    """The command line's words for a command that has ``options``."""
    return Wording(
        {
            Action.GIVE_PASSWORD: _give_password(options),
            Action.GIVE_NEW_PASSWORD: _give_new_password(options),
            Action.KEY_GIVEN_TWICE: _key_given_twice(options),
            Action.CONVERT_TO_PFX: (
                "convert it first: 'certdesk convert CERT.crt --key KEY.key --chain "
                "CHAIN.crt --to pfx --out CERT.pfx --out-password-file PW', then submit "
                "CERT.pfx (if certdesk made its CSR, send the certificate alone: 'certdesk "
                "csr complete CERT.crt')"
            ),
            Action.SUBMIT_PFX: (
                "the key of a CSR certdesk made never leaves it: give only the signed "
                "certificate; a certificate with its own key is submitted as a .pfx: "
                "'certdesk submit FILE.pfx --url URL --password-file PW'"
            ),
            Action.LIST_DOMAINS: "see 'certdesk domain list'",
            Action.DOMAIN_TAKEN: _domain_taken,
            Action.LIST_TENANTS: "see 'certdesk tenant list'",
            Action.LIST_ORDERS: "see 'certdesk csr list'",
            Action.NEW_ORDER: "order a new CSR with 'certdesk csr new'",
            Action.ADD_NAMES: lambda fix: _add_names(fix, options),
            Action.WAIT_PROBES: "wait for the probes asked earlier to finish, then ask again",
            Action.CHANGE_PASSWORD: (
                "set it with 'certdesk user password USERNAME --password-file PW'"
            ),
            Action.LOG_IN: "log in to the portal, or use an API token",
            Action.RENEW: lambda fix: (
                f"order the renewal: 'certdesk renew {fix.param('url', 'URL')}'"
            ),
            Action.RESTORE_MASTER_KEY: _restore_master_key,
            Action.ROTATE_MASTER_KEY: (
                "start with one of these keys as CERTDESK_MASTER_KEY (or master.key) and the "
                "other as master.key.new in the data folder, then run 'certdesk vault "
                "rotate': it seals every key under one master key"
            ),
            Action.SET_DEPLOY_TARGET: _set_deploy_target(options),
            Action.CHOOSE_HOME: "choose another folder with --home or CERTDESK_HOME",
            Action.VERIFY_CLAIM: lambda fix: (
                "once the TXT record (or the name's pointing at the platform) is in DNS, check "
                f"it now with 'certdesk domain verify {fix.param('url', 'URL')}', or assign the "
                "name with 'certdesk domain add URL --tenant TENANT'"
            ),
        }
    )


def word(fix: Fix, options: Collection[str] | None = None) -> str:
    """``fix`` for the operator running a command with ``options`` (by default, the
    command that is running)."""
    return wording(current_options() if options is None else options).word(fix)


def hint_for(error: CertdeskError) -> str | None:
    """What to do about ``error``, worded for the command that is running."""
    return wording(current_options()).hint_for(error)
