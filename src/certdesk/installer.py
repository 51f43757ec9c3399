"""Installing certificates on the deploy targets, proving them with a handshake, telling
the requester.

For each target (and each request), the certificates bound in the desk are deployed;
then every URL is probed through the terminator's address with its name as SNI. Only
when each serves the new certificate is the request completed and its requester
e-mailed (what was installed, where, valid until when). A failed deploy or proof is
rolled back on the target — the previous certificate stays served — and leaves the
request open with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from certdesk import clock
from certdesk.deploy import DeployError, DeployItem, Target, load_target, prove
from certdesk.desk.context import Actor, Desk
from certdesk.desk.installs import InstallWork, install_work, record_install
from certdesk.desk.monitoring import record_probes
from certdesk.errors import InvalidArgument
from certdesk.notify import Mailer, SendError
from certdesk.notify.message import install_message
from certdesk.pki import iso_utc
from certdesk.settings import Settings

log = logging.getLogger("certdesk.installer")


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
    ) -> list[InstallOutcome]:
        with self.desk.context(actor) as ctx:
            work = install_work(ctx, urls=urls, every=every, request_id=request_id)
        groups: dict[tuple[str, int | None], list[InstallWork]] = {}
        for item in work:
            name = target or item.target or self.settings.deploy_default
            if name is None:
                raise InvalidArgument(
                    "no deploy target is configured",
                    hint="set [deploy] in certdesk.toml or CERTDESK_DEPLOY_TARGET, or give "
                    "--target",
                )
            groups.setdefault((name, item.request_id), []).append(item)
        outcomes: list[InstallOutcome] = []
        for (name, _request), items in groups.items():
            outcomes += self._install_group(actor, name, items, dry_run=dry_run)
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
        try:
            result = target.deploy(items)
        except DeployError as exc:
            why = (
                f"install on {name} failed: {exc.message}"
                + (f" ({exc.reason})" if exc.reason else "")
                + ("; the previous certificate stays in place" if exc.rolled_back else "")
            )
            self._record(actor, name, work, ok=False, message=why)
            return [InstallOutcome(w.url, name, False, w.sha256, why) for w in work]
        actions = {h.hostname: h.action.value for h in result.plan.hosts}
        address = target.address
        if address is None:
            message = (
                f"installed on {name} ({', '.join(w.url for w in work)}); the target "
                "has no address to prove it with a handshake"
            )
            self._record(actor, name, work, ok=True, message=message)
            return [
                InstallOutcome(w.url, name, True, w.sha256, message, actions.get(w.hostname, ""))
                for w in work
            ]
        proofs = prove(items, connect_to=address, roots=self.desk.policy.roots, now=clock.now)
        probes = [
            (w.domain_id, p.probe) for w, p in zip(work, proofs, strict=True) if p.probe is not None
        ]
        failed = [p for p in proofs if not p.ok]
        if failed:
            reasons = "; ".join(f"{p.url}: {p.reason}" for p in failed)
            try:
                target.rollback()
                restored = "the previous certificate was restored"
            except DeployError as exc:
                restored = f"rolling back failed too: {exc.message}"
            why = f"installed on {name} but not served: {reasons}; {restored}"
            self._record(actor, name, work, ok=False, message=why, probes=probes)
            return [InstallOutcome(w.url, name, False, w.sha256, why) for w in work]
        until = {w.url: iso_utc(w.chain[0].not_valid_after_utc) for w in work}
        message = f"installed on {name} and proven by a handshake on " + ", ".join(
            w.url for w in work
        )
        records = self._record(actor, name, work, ok=True, message=message, probes=probes)
        self._notify(records, work, until)
        return [
            InstallOutcome(w.url, name, True, w.sha256, message, actions.get(w.hostname, ""))
            for w in work
        ]

    def _record(
        self,
        actor: Actor,
        name: str,
        work: list[InstallWork],
        *,
        ok: bool,
        message: str,
        probes: Sequence[tuple[int, Any]] = (),
    ) -> list[Any]:
        with self.desk.context(actor) as ctx:
            if probes:
                record_probes(ctx, probes)
            return record_install(ctx, target=name, work=work, ok=ok, message=message)

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
