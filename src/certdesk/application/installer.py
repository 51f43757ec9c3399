"""Installing certificates on the deploy targets, proving them with a handshake, telling
the requester.

For each target (and each request), the certificates bound in the desk are deployed;
then every URL is probed through the terminator's address with its name as SNI. Only
when each serves the new certificate is the request completed and its requester
e-mailed (what was installed, where, valid until when). A failed deploy is put back by
the target; a deploy whose proof fails is rolled back — exactly that deploy, nothing
another request installed — and leaves the request open with the reason. A deploy that
changed nothing (the certificate was installed already) has nothing to roll back: its
failed proof is reported and changes nothing, and a completed request stays completed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from certdesk import clock
from certdesk.deploy import DeployItem, Installation, Target, install, load_target
from certdesk.desk.context import Actor, Desk
from certdesk.desk.installs import InstallWork, install_work, record_install
from certdesk.desk.monitoring import record_probes
from certdesk.errors import CertdeskError, InvalidArgument
from certdesk.fixes import Action, fix
from certdesk.notify import Mailer, SendError
from certdesk.notify.message import install_message
from certdesk.pki import iso_utc
from certdesk.settings import Settings

log = logging.getLogger("certdesk.application.installer")


@dataclass(frozen=True, slots=True)
class InstallOutcome:
    url: str
    target: str
    ok: bool
    sha256: str
    message: str
    action: str = ""  # add | replace | unchanged (dry run and deploy)


class Installer:
    def __init__(self, desk: Desk, settings: Settings, mailer: Mailer | None) -> None:
        self.desk = desk
        self.settings = settings
        self.mailer = mailer

    @property
    def configured(self) -> bool:
        """Intakes install by themselves when a default deploy target is configured."""
        return self.settings.deploy_default is not None

    def after_intake(self, actor: Actor, request_id: int | None) -> list[InstallOutcome]:
        """With a target configured, install what an intake just stored; else nothing."""
        if request_id is None or not self.configured:
            return []
        return self.install(actor, request_id=request_id)

    def install(
        self,
        actor: Actor,
        *,
        urls: Sequence[str] = (),
        every: bool = False,
        request_id: int | None = None,
        target: str | None = None,
        dry_run: bool = False,
        started: Callable[[int], object] | None = None,
        progress: Callable[[InstallOutcome], object] | None = None,
    ) -> list[InstallOutcome]:
        """Install (or, ``dry_run``, plan) the certificates of ``urls`` (or ``every``
        domain, or request ``request_id``), a deploy per target and request. ``started`` is
        told how many URLs there are; ``progress`` gets each URL's outcome (as probing's)."""
        with self.desk.context(actor) as ctx:
            work = install_work(ctx, urls=urls, every=every, request_id=request_id)
        if started is not None:
            started(len(work))
        groups: dict[tuple[str, int | None], list[InstallWork]] = {}
        for item in work:
            name = target or item.target or self.settings.deploy_default
            if name is None:
                raise InvalidArgument(
                    "no deploy target is configured",
                    fix=fix(Action.SET_DEPLOY_TARGET),
                )
            groups.setdefault((name, item.request_id), []).append(item)
        outcomes: list[InstallOutcome] = []
        for (name, _request), items in groups.items():
            done = self._install_group(actor, name, items, dry_run=dry_run)
            outcomes += done
            if progress is not None:
                for outcome in done:
                    progress(outcome)
        return outcomes

    def _target(self, name: str) -> Target:
        found = self.settings.deploy_target(name)
        if found is None:
            raise InvalidArgument(f"no deploy target called {name!r} is configured")
        kind, options = found
        return load_target(kind, options)

    def _install_group(
        self, actor: Actor, name: str, work: list[InstallWork], *, dry_run: bool
    ) -> list[InstallOutcome]:
        target = self._target(name)
        items = [
            DeployItem(
                hostname=w.hostname,
                url=w.url,
                chain=w.chain,
                key=w.key,
                port=w.port,
                sha256=w.sha256,
            )
            for w in work
        ]
        if dry_run:
            plan = target.plan(items)
            actions = {h.hostname: h.action.value for h in plan.hosts}
            return [
                InstallOutcome(
                    w.url,
                    name,
                    True,
                    w.sha256,
                    "dry run: nothing changed",
                    actions.get(w.hostname, ""),
                )
                for w in work
            ]
        done = install(target, items, roots=self.desk.policy.roots, now=clock.now)
        probes = [
            (w.domain_id, p.probe)
            for w, p in zip(work, done.proofs, strict=False)
            if p.probe is not None
        ]
        actions = (
            {h.hostname: h.action.value for h in done.result.plan.hosts} if done.result else {}
        )

        def outcomes(ok: bool, message: str) -> list[InstallOutcome]:
            return [
                InstallOutcome(w.url, name, ok, w.sha256, message, actions.get(w.hostname, ""))
                for w in work
            ]

        if not done.ok:
            why = _failure(name, done)
            installed = _still_installed(target, items)
            self._record(
                actor, name, work, ok=False, message=why, probes=probes, installed=installed
            )
            return outcomes(False, why)
        if not done.proofs:
            message = (
                f"installed on {name} ({', '.join(w.url for w in work)}); the target "
                "has no address to prove it with a handshake"
            )
            self._record(actor, name, work, ok=True, message=message)
            return outcomes(True, message)
        until = {w.url: iso_utc(w.chain[0].not_valid_after_utc) for w in work}
        message = f"installed on {name} and proven by a handshake on " + ", ".join(
            w.url for w in work
        )
        records = self._record(actor, name, work, ok=True, message=message, probes=probes)
        self._notify(records, work, until)
        return outcomes(True, message)

    def _record(
        self,
        actor: Actor,
        name: str,
        work: list[InstallWork],
        *,
        ok: bool,
        message: str,
        probes: Sequence[tuple[int, Any]] = (),
        installed: bool = False,
    ) -> list[Any]:
        with self.desk.context(actor) as ctx:
            if probes:
                record_probes(ctx, probes)
            return record_install(
                ctx, target=name, work=work, ok=ok, message=message, installed=installed
            )

    def _notify(self, records: list[Any], work: list[InstallWork], until: dict[str, str]) -> None:
        if self.mailer is None:
            return
        for record in records:
            if not record.tenant_emails:
                continue
            rows = [
                (w.url, w.common_name, w.sha256, until[w.url])
                for w in work
                if w.request_id == record.request_id
            ]
            message = install_message(
                sender=self.settings.mail_from,
                to=record.tenant_emails,
                tenant=record.tenant,
                request_id=record.request_id,
                installed=rows,
            )
            try:
                self.mailer.send(message)
            except SendError as exc:  # the install stands; the mail is what failed
                log.warning(
                    "could not send the install notice of request %s: %s", record.request_id, exc
                )


def _failure(name: str, done: Installation) -> str:
    """What went wrong, and what was (not) changed on the target: nothing claimed untrue."""
    if done.error is not None:
        exc = done.error
        why = f"install on {name} failed: {exc.describe()}"
        if exc.rolled_back:
            return f"{why}; what {name} had before stays in place"
        if exc.pending is not None:
            return f"{why}; the files it replaced could not be put back"
        return why
    reasons = "; ".join(f"{p.url}: {p.reason}" for p in done.failed_proofs)
    undo = done.rollback_error
    if not done.changed:
        why = f"{name} already had this certificate installed, but the proof failed: {reasons}"
        if undo is not None:
            return f"{why}; undoing this deploy's bookkeeping failed: {undo.describe()}"
        return f"{why}; nothing was changed on {name}"
    why = f"installed on {name} but not served: {reasons}"
    if undo is not None:
        return f"{why}; rolling back failed too: {undo.describe()}"
    back = f"{name} has the files and configuration it had before"
    return f"{why}; the deploy was rolled back: {back}"


def _still_installed(target: Target, items: Sequence[DeployItem]) -> bool:
    """Whether the target holds these very certificates (after a failure was put back)."""
    try:
        return not target.plan(items).changed
    except CertdeskError:
        return False
