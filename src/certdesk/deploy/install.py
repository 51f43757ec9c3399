"""One install on one target: deploy, prove with a handshake, then keep or roll back.

:func:`install` is the whole of it, as the installer runs it for each target and
request: the deploy's :class:`DeployResult` is proven on the target's ``address``;
proven (or with no address to prove it on), the deploy is kept; not proven, exactly
that deploy is rolled back — and a deploy that wrote nothing has nothing to roll back,
so its failed proof changes nothing on the target. Nothing raises for a failure: the
:class:`Installation` says what happened.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from certdesk import clock
from certdesk.deploy.base import DeployError, DeployItem, DeployResult, Target
from certdesk.deploy.proof import Proof, prove
from certdesk.monitor import Clock

log = logging.getLogger("certdesk.deploy")


@dataclass(frozen=True, slots=True)
class Installation:
    """What :func:`install` did on one target.

    ``result`` is the deploy's (None when ``error``, the deploy's own failure, is set);
    ``proofs`` one per item (none when the deploy failed or the target has no address);
    ``rolled_back`` whether the deploy was undone after a failed proof, and
    ``rollback_error`` why undoing it failed.
    """

    target: str
    result: DeployResult | None = None
    error: DeployError | None = None
    proofs: tuple[Proof, ...] = ()
    rolled_back: bool = False
    rollback_error: DeployError | None = None

    @property
    def ok(self) -> bool:
        """Deployed and (when the target has an address) served: the deploy was kept."""
        return self.result is not None and all(p.ok for p in self.proofs)

    @property
    def changed(self) -> bool:
        """Whether the deploy had a certificate to add or replace (False: all installed)."""
        return self.result is None or self.result.changed

    @property
    def failed_proofs(self) -> tuple[Proof, ...]:
        return tuple(p for p in self.proofs if not p.ok)


def install(
    target: Target,
    items: Sequence[DeployItem],
    *,
    roots: Sequence[x509.Certificate] = (),
    now: datetime | Clock = clock.now,
    timeout: float = 5.0,
    settle: float = 5.0,
    force: bool = False,
) -> Installation:
    """Deploy ``items`` on ``target``, prove them, and keep or roll back that deploy.

    ``force``: installed again and made live even where nothing changed."""
    try:
        result = target.deploy(items, force=True) if force else target.deploy(items)
    except DeployError as exc:
        return Installation(target.name, error=exc)
    address = target.address
    proofs: tuple[Proof, ...] = ()
    if address is not None:
        proofs = tuple(
            prove(items, connect_to=address, roots=roots, now=now, timeout=timeout, settle=settle)
        )
    if all(p.ok for p in proofs):
        try:
            target.keep(result)
        except DeployError as exc:  # the deploy stands; its record is only left behind
            log.warning("%s", exc.describe())
        return Installation(target.name, result, proofs=proofs)
    if result.undo is None:  # nothing was written: nothing to undo
        return Installation(target.name, result, proofs=proofs)
    try:
        target.rollback(result)
    except DeployError as exc:
        return Installation(target.name, result, proofs=proofs, rollback_error=exc)
    return Installation(target.name, result, proofs=proofs, rolled_back=True)
