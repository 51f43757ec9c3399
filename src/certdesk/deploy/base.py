"""The seam every deploy target sits behind, and the values it deals in.

A target installs certificates somewhere a TLS terminator reads them. Like certbot's
``Installer``, it offers ``deploy``, ``config_test``, ``reload`` and ``rollback``,
each raising :class:`DeployError` when it cannot do what was asked; ``plan`` tells
what ``deploy`` would change without touching anything (``--dry-run``). A host is
unchanged only when its certificate *and* the configuration the target renders for it
(an nginx server block: ``listen``, extra directives; its HAProxy crt-list line:
``ssl_options``) are what is installed; a changed option is ``reconfigure``, applied like
a renewal.

``deploy`` adds or replaces the given host names and leaves every other one as it
is. A ``deploy`` that changes nothing writes nothing and reloads nothing.

Undoing is per deploy: the :class:`DeployResult` a ``deploy`` returns names that
deploy's undo record (``undo``, None when it wrote nothing). ``rollback(result)``
undoes exactly what that deploy wrote — never an earlier or a later one — and
``keep(result)`` forgets the record once the deploy is proven. A record a process
left behind (it stopped between deploy and proof) is never applied to another deploy.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from cryptography import x509

from certdesk.errors import CertdeskError, InvalidArgument
from certdesk.pki.export import ensure_key_matches
from certdesk.pki.facts import fingerprint, iso_utc
from certdesk.pki.load import PrivateKey
from certdesk.pki.urls import DomainUrl, install_name


class DeployError(CertdeskError):
    """A target could not install, test, reload or roll back.

    ``target`` names the target, ``reason`` is what the terminator said (nginx's or
    HAProxy's own message), and ``rolled_back`` tells whether the previous files and
    configuration were put back, and made live again, before the error was raised.
    ``pending`` is the failed deploy when what it replaced could not be put back: once
    the cause is fixed, ``target.rollback(error.pending)`` does it.
    """

    code: ClassVar[str] = "deploy-failed"
    # The terminator (an upstream system) failed, not the caller's request.
    http_status: ClassVar[int] = 502

    def __init__(
        self,
        message: str,
        *,
        target: str,
        reason: str | None = None,
        rolled_back: bool = False,
        hint: str | None = None,
        pending: DeployResult | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.target = target
        self.reason = reason
        self.rolled_back = rolled_back
        self.pending = pending

    def describe(self) -> str:
        """The message, with the terminator's own words once (many messages quote them)."""
        if not self.reason or self.reason in self.message:
            return self.message
        return f"{self.message} ({self.reason})"

    def to_dict(self, hint: str | None = None) -> dict[str, Any]:
        data = super().to_dict(hint)
        data["target"] = self.target
        data["reason"] = self.reason
        return data


@dataclass(frozen=True, slots=True)
class DeployItem:
    """One certificate to install for one URL.

    ``hostname`` is the custom domain in A-label form (a wildcard ``*.example.com``
    is allowed), ``chain`` the certificates leaf first, ``key`` the leaf's private
    key. ``sha256`` is the leaf's fingerprint; it is computed when left empty and
    checked when given. The key must belong to the leaf.
    """

    hostname: str
    url: str
    chain: tuple[x509.Certificate, ...]
    key: PrivateKey = field(repr=False)
    port: int = 443
    sha256: str = ""

    def __post_init__(self) -> None:
        if not self.chain:
            raise InvalidArgument(f"no certificate to deploy for {self.url!r}")
        name = install_name(self.hostname)
        object.__setattr__(self, "hostname", name)
        object.__setattr__(self, "chain", tuple(self.chain))
        if not 0 < self.port < 65536:
            raise InvalidArgument(f"the port {self.port} of {self.url!r} is out of range")
        actual = fingerprint(self.chain[0])
        given = self.sha256.replace(":", "").strip().lower()
        if given and given != actual:
            raise InvalidArgument(
                f"the fingerprint given for {self.url!r} is not the leaf's",
                hint="leave sha256 empty to have it computed from the leaf",
            )
        object.__setattr__(self, "sha256", actual)
        ensure_key_matches(self.key, self.chain[0])

    @classmethod
    def for_url(cls, url: str, chain: Sequence[x509.Certificate], key: PrivateKey) -> DeployItem:
        """An item for ``url`` (a URL or ``host[:port]``; port 443 unless given)."""
        parsed = DomainUrl.parse(url)
        return cls(hostname=parsed.hostname, url=url, chain=tuple(chain), key=key, port=parsed.port)

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def not_after(self) -> datetime:
        return self.chain[0].not_valid_after_utc


def file_stem(hostname: str) -> str:
    """The file name stem for a host: ``*.test.com`` is written ``_wildcard.test.com``."""
    if hostname.startswith("*."):
        return "_wildcard." + hostname[2:]
    return hostname


class Action(enum.StrEnum):
    """What a deploy does to one host name."""

    ADD = "add"  # the target does not serve this name yet
    REPLACE = "replace"  # another certificate is installed for it (a renewal)
    UNCHANGED = "unchanged"  # this very certificate is installed already, configured alike
    RECONFIGURE = "reconfigure"  # this certificate is installed; its configuration changed
    REINSTALL = "reinstall"  # forced: installed and made live again though nothing changed


@dataclass(frozen=True, slots=True)
class HostChange:
    """The plan for one host name: its action, the new and the previous fingerprints."""

    hostname: str
    action: Action
    sha256: str
    previous_sha256: str | None
    not_after: datetime
    urls: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "action": self.action.value,
            "sha256": self.sha256,
            "previous_sha256": self.previous_sha256,
            "not_after": iso_utc(self.not_after),
            "urls": list(self.urls),
        }


@dataclass(frozen=True, slots=True)
class DeployPlan:
    """What a deploy would do, host by host (sorted by host name)."""

    target: str
    hosts: tuple[HostChange, ...]

    @property
    def changed(self) -> bool:
        return any(h.action is not Action.UNCHANGED for h in self.hosts)

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "hosts": [h.to_json() for h in self.hosts]}


@dataclass(frozen=True, slots=True)
class DeployResult:
    """What a deploy did: the plan it carried out, the files it wrote, how it went live.

    ``reloaded`` is true when the terminator re-read its configuration;
    ``hot_updated`` names the hosts swapped in place without a reload (HAProxy).
    ``undo`` is the id of this deploy's undo record, for ``Target.rollback`` and
    ``Target.keep``; None when the deploy wrote nothing (there is nothing to undo).
    """

    plan: DeployPlan
    written: tuple[str, ...] = ()
    reloaded: bool = False
    hot_updated: tuple[str, ...] = ()
    undo: str | None = None

    @property
    def target(self) -> str:
        return self.plan.target

    @property
    def changed(self) -> bool:
        return self.plan.changed

    def to_json(self) -> dict[str, Any]:
        return {
            **self.plan.to_json(),
            "written": list(self.written),
            "reloaded": self.reloaded,
            "hot_updated": list(self.hot_updated),
        }


@runtime_checkable
class Target(Protocol):
    """A place certificates are installed: files, nginx, HAProxy, a plugin's own.

    ``address`` is where the terminator accepts TLS connections (for the post-deploy
    proof), or None when the target only writes files.
    """

    @property
    def name(self) -> str: ...

    @property
    def address(self) -> tuple[str, int] | None: ...

    def plan(self, items: Sequence[DeployItem]) -> DeployPlan:
        """What ``deploy`` would change; touches nothing."""
        ...

    def deploy(self, items: Sequence[DeployItem], *, force: bool = False) -> DeployResult:
        """Install ``items`` (add or replace their hosts) and make them live.

        ``force``: hosts that are installed and configured alike already are written and
        made live again too (``Action.REINSTALL``).

        The result's ``undo`` names the record ``rollback`` and ``keep`` take; None
        when nothing was written. A deploy that fails puts back what it replaced
        before it raises (``DeployError.rolled_back``).
        """
        ...

    def config_test(self) -> None:
        """Check that the terminator accepts its configuration as it is on disk."""
        ...

    def reload(self) -> None:
        """Make the terminator re-read its configuration and certificates."""
        ...

    def rollback(self, result: DeployResult) -> None:
        """Undo exactly what the deploy that returned ``result`` wrote, and make that live.

        Nothing when it wrote nothing (``result.undo`` is None). A ``DeployError``,
        changing nothing, when it can no longer be undone: it was kept or rolled back
        already, or a later deploy on the target wrote since.
        """
        ...

    def keep(self, result: DeployResult) -> None:
        """The deploy that returned ``result`` is proven: forget its undo record.

        Nothing when it has none, or when it is no longer the latest.
        """
        ...
