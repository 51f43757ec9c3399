"""What to do about a refusal, as a value: each interface words it for its reader.

An error says what is wrong in its ``message``; what to do depends on who reads it. An
operator at the command line runs a command (``certdesk convert CERT.crt --key KEY.key
…``); a reseller has the portal, where the same step is a page and a button, or the API,
where it is an endpoint and its fields; a report e-mail points to the portal. So the
desk does not write that sentence: it raises the error with a :class:`Fix`, an
:class:`Action` with its parameters and the input it is about, and each interface words
it (``certdesk.cli.hints``, ``certdesk.http.hints``, ``certdesk.web.hints``,
``certdesk.reports.hints``: each one :class:`Wording`, a text or a function of the fix for
every action, and a test that each has them all).

Advice that reads the same for everyone ("get the file again from where it was made")
stays a plain ``hint``: it never names a command, an option, an endpoint or a page
(``tests/test_hints.py`` reads every one of them in the source).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # errors imports this module
    from certdesk.errors import CertdeskError


class Action(enum.StrEnum):
    """Every step a fix can point to (its parameters, when it has some)."""

    GIVE_PASSWORD = "give-password"
    """Give the password the file was exported with."""
    GIVE_NEW_PASSWORD = "give-new-password"
    """Choose a password for the new file (a .pfx carries the private key)."""
    KEY_GIVEN_TWICE = "key-given-twice"
    """The file holds a key already: give no second one."""
    CONVERT_TO_PFX = "convert-to-pfx"
    """Make a .pfx from the certificate, its key and chain; or, for a CSR certdesk
    made, send the signed certificate to complete that order."""
    SUBMIT_PFX = "submit-pfx"
    """A certificate with its own key is submitted as a .pfx, not sent for a CSR order."""
    LIST_DOMAINS = "list-domains"
    """See the domains (``url``: the one looked for, when there is one)."""
    DOMAIN_TAKEN = "domain-taken"
    """``url`` belongs to another tenant (``owner``: its name, only for an operator)."""
    LIST_TENANTS = "list-tenants"
    """See the tenants and their names."""
    LIST_ORDERS = "list-orders"
    """See the CSR orders and their state."""
    NEW_ORDER = "new-order"
    """Order a new CSR (certdesk makes the key)."""
    ADD_NAMES = "add-names"
    """Add the host names ``hosts`` to the CSR's names, or correct the URLs."""
    WAIT_PROBES = "wait-probes"
    """Wait for the probes asked earlier to finish, then ask again."""
    CHANGE_PASSWORD = "change-password"
    """The account must choose its own password before anything else."""
    LOG_IN = "log-in"
    """Log in (or, for a program, use an API token)."""
    RENEW = "renew"
    """Order the renewal of the certificate of ``url``."""
    RESTORE_MASTER_KEY = "restore-master-key"
    """Start certdesk with the master key used before (``key_id``, when known)."""
    ROTATE_MASTER_KEY = "rotate-master-key"
    """Start with both master keys, then rotate to seal every key under one."""
    SET_DEPLOY_TARGET = "set-deploy-target"
    """No deploy target is set for where the certificate is installed."""
    CHOOSE_HOME = "choose-home"
    """The data folder cannot be made: choose another one."""
    VERIFY_CLAIM = "verify-claim"
    """Show that ``url``'s name is yours (the TXT record with the claim's token, or the
    name pointed at the platform), then have certdesk check it now."""


@dataclass(frozen=True, slots=True)
class Fix:
    """One step that resolves a refusal: ``action`` with its ``params`` (plain strings),
    about the input ``field`` (the use case's parameter name) when it is about one."""

    action: Action
    params: Mapping[str, str] = field(default_factory=dict)
    field: str | None = None

    def __post_init__(self) -> None:  # a copy of its own (errors cross to reader processes)
        object.__setattr__(self, "params", dict(self.params))

    def param(self, name: str, default: str = "") -> str:
        return self.params.get(name, default)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action.value, "params": dict(self.params), "field": self.field}


def fix(action: Action, *, field: str | None = None, **params: str) -> Fix:
    """A :class:`Fix` written as a call: ``fix(Action.RENEW, url=url)``."""
    return Fix(action, params, field)


Word = str | Callable[[Fix], str]
"""How one reader is told one action: a fixed text, or a function of the fix (its
parameters)."""


@dataclass(frozen=True, slots=True)
class Wording:
    """One reader's words: a :data:`Word` for every :class:`Action`."""

    words: Mapping[Action, Word]

    def word(self, fix: Fix) -> str:
        """``fix`` in this reader's words."""
        found = self.words[fix.action]
        return found if isinstance(found, str) else found(fix)

    def hint_for(self, error: CertdeskError) -> str | None:
        """What to do about ``error``: its fix in this reader's words, else its plain
        ``hint``."""
        return self.word(error.fix) if error.fix is not None else error.hint


__all__ = ["Action", "Fix", "Word", "Wording", "fix"]
