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

One install of a group (one target, one request) is five small steps, each a function
here: :func:`plan_group` (the deploy items), :func:`begin_group` (the bindings become
``installing``), :func:`apply_group` (deploy, prove, keep or roll back: ``deploy.install``),
:func:`judge` (what the proof means: ok, the message, whether the target still holds the
certificates), :func:`record_group` (the bindings' states, the requests, the audit, the
proof's handshakes as probes) and :func:`notify_installed` / :func:`notify_failing`.

A failed install is ``install-failed`` with the reason and its next try;
:func:`due_install_retries` and :func:`retry_install` are what the job engine calls to
try it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from certdesk import clock
from certdesk.deploy import (
    DeployError,
    DeployItem,
    Installation,
    Target,
    install,
    load_target,
)
from certdesk.desk.claims import HELD_REASON, claim_record
from certdesk.desk.context import Actor, Desk
from certdesk.desk.installs import (
    BindingState,
    InstallRecord,
    InstallState,
    InstallWork,
    Recorded,
    begin_install,
    due_retries,
    install_state,
    install_work,
    record_install,
)
from certdesk.desk.monitoring import record_probes
from certdesk.errors import CertdeskError, InvalidArgument
from certdesk.fixes import Action, fix
from certdesk.notify import Mailer, SendError
from certdesk.notify.message import install_failing_message, install_message
from certdesk.pki import iso_utc

log = logging.getLogger("certdesk.application.installer")

# Who retries failed installs: an operator of the platform (sees every tenant).
ENGINE = Actor(name="certdesk-engine")


@dataclass(frozen=True, slots=True)
class InstallOutcome:
    url: str
    target: str
    ok: bool
    sha256: str
    message: str
    action: str = ""  # add | replace | unchanged (dry run and deploy)
    state: str = ""  # the binding's install state after this (empty on a dry run)
    next_try_at: datetime | None = None  # install-failed: when it is tried again
    request_id: int | None = None  # the request the certificate came with

    @property
    def stored_not_installed(self) -> bool:
        """The certificate is stored (bound) but not installed: the intake's answer."""
        return self.state in (InstallState.FAILED, InstallState.STORED)

    def summary(self) -> str:
        """ "stored; not installed: <reason>; next try at <time>" (or the message)."""
        if not self.stored_not_installed:
            return self.message
        when = f"; next try at {iso_utc(self.next_try_at)}" if self.next_try_at else ""
        return f"stored; not installed: {self.message}{when}"


@dataclass(frozen=True, slots=True)
class TargetApplied:
    """What :meth:`Installer.apply_targets` did on one target: ``written`` (the files that
    differed), ``reloaded``, or ``error`` (nothing changed: the target put it back)."""

    target: str
    written: tuple[str, ...] = ()
    reloaded: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str:
        if self.error is not None:
            return f"not applied: {self.error}"
        if not self.written:
            return "configuration unchanged"
        return "configuration applied" + (" and reloaded" if self.reloaded else "")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What an install's deploy and proof mean (:func:`judge`)."""

    ok: bool
    message: str
    installed: bool  # failed, but the target still holds these very certificates
    probes: tuple[tuple[int, Any], ...]  # (domain id, ProbeResult) of the proof
    actions: dict[str, str]  # host name → add | replace | unchanged
    proven: bool  # a handshake proved it (False: the target has no address)


@dataclass(frozen=True, slots=True)
class InstallConfig:
    """What installing takes of the settings (made by
    ``application.compose.install_config``): the deploy targets by name (kind, options),
    the default one, and the sender of the mails and the operators told of failing
    installs."""

    targets: Mapping[str, tuple[str, Mapping[str, Any]]]
    default: str | None
    mail_from: str
    operator_emails: tuple[str, ...]


class Installer:
    def __init__(self, desk: Desk, config: InstallConfig, mailer: Mailer | None) -> None:
        self.desk = desk
        self.config = config
        self.mailer = mailer

    @property
    def configured(self) -> bool:
        """Intakes install by themselves when a default deploy target is configured."""
        return self.config.default is not None

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
        at: datetime | None = None,
        force: bool = False,
        started: Callable[[int], object] | None = None,
        progress: Callable[[InstallOutcome], object] | None = None,
    ) -> list[InstallOutcome]:
        """Install (or, ``dry_run``, plan) the certificates bound to ``urls`` (``every``:
        all the actor's; or those of ``request_id``) on their targets and prove them, a
        deploy per target and request. ``force``: installed and made live again even where
        certificate and configuration are unchanged. ``started`` is told how many URLs
        there are; ``progress`` gets each URL's outcome (as probing's)."""
        with self.desk.context(actor, at=at) as ctx:
            work = install_work(ctx, urls=urls, every=every, request_id=request_id)
        if started is not None:
            started(len(work))
        outcomes = [held_outcome(w) for w in work if w.held]
        work = [w for w in work if not w.held]
        for name, items in group_work(work, target or None, self.config.default):
            done = self._install_group(actor, name, items, dry_run=dry_run, at=at, force=force)
            outcomes += done
            if progress is not None:
                for outcome in done:
                    progress(outcome)
        return outcomes

    def apply_targets(self, names: Sequence[str] | None = None) -> list[TargetApplied]:
        """Write and make live each target's own configuration, with no certificate (a
        deploy of no host): nginx's and HAProxy's port-80 routing of ACME challenges
        (``http_listen``, ``acme_http``) is there before the first certificate of a
        name. ``names``: those targets; None: every configured one. Nothing is written
        where nothing differs."""
        if names is None:
            names = list(self.config.targets)
        done = []
        for name in names:
            target = self.target(name)
            try:
                result = target.deploy([])
            except DeployError as exc:
                done.append(TargetApplied(name, error=exc.describe()))
                continue
            done.append(TargetApplied(name, result.written, result.reloaded))
            try:
                target.keep(result)  # nothing to prove: no certificate was installed
            except DeployError as exc:
                log.warning("%s", exc.describe())
        return done

    def prepare_challenges(self) -> None:
        """Before an ACME order: the port-80 routing of every target that routes ACME
        challenges (option ``acme_http``) is in place (applied when it differs). A target
        that fails is logged, not raised: the certificate authority's validation then
        says what it met."""
        routing = [
            name for name, (_kind, options) in self.config.targets.items() if "acme_http" in options
        ]
        if not routing:
            return
        try:
            applied = self.apply_targets(routing)
        except CertdeskError as exc:  # a target's options are wrong: installs say so too
            log.warning("deploy targets: %s", exc.message)
            return
        for one in applied:
            if not one.ok:
                log.warning("deploy target %s: %s", one.target, one.message)

    def target(self, name: str) -> Target:
        found = self.config.targets.get(name)
        if found is None:
            raise InvalidArgument(f"no deploy target called {name!r} is configured")
        kind, options = found
        return load_target(kind, dict(options))

    def _install_group(
        self,
        actor: Actor,
        name: str,
        work: list[InstallWork],
        *,
        dry_run: bool,
        at: datetime | None = None,
        force: bool = False,
    ) -> list[InstallOutcome]:
        target = self.target(name)
        items = plan_group(work)
        if dry_run:
            return dry_run_outcomes(name, target, work, items)
        begin_group(self.desk, actor, work, at=at)
        try:
            done = apply_group(target, items, roots=self.desk.policy.roots, force=force)
        except CertdeskError as exc:  # not the deploy's own failure (that is in ``done``)
            message = f"install on {name} failed: {exc.message}"
            verdict = Verdict(False, message, False, (), {}, False)
        else:
            verdict = judge(name, work, target, items, done)
        recorded = record_group(self.desk, actor, name, work, verdict, at=at)
        if verdict.ok and verdict.proven:
            notify_installed(self.mailer, self.config.mail_from, recorded.requests, work)
        if recorded.alerts:
            notify_failing(
                self.mailer, self.config.mail_from, self.config.operator_emails, recorded
            )
        return outcomes_of(name, work, verdict, recorded)


def held_outcome(work: InstallWork) -> InstallOutcome:
    """A certificate bound to a pending ownership claim: stored, not installed until the
    claim is verified (then the install retry takes it up)."""
    return InstallOutcome(
        work.url,
        "",
        False,
        work.sha256,
        f"{HELD_REASON}: it is installed once {work.hostname} is shown to be yours (the TXT "
        f"record {claim_record(work.hostname)}, or the name pointed at the platform)",
        state=InstallState.STORED.value,
    )


def group_work(
    work: Sequence[InstallWork], target: str | None, default: str | None
) -> list[tuple[str, list[InstallWork]]]:
    """The work by (target, request), each group one deploy: the target named, else the
    domain's, else the default."""
    groups: dict[tuple[str, int | None], list[InstallWork]] = {}
    for item in work:
        name = target or item.target or default
        if name is None:
            raise InvalidArgument(
                "no deploy target is configured",
                fix=fix(Action.SET_DEPLOY_TARGET),
            )
        groups.setdefault((name, item.request_id), []).append(item)
    return [(name, items) for (name, _request), items in groups.items()]


def plan_group(work: Sequence[InstallWork]) -> list[DeployItem]:
    """Plan: the deploy items of a group (the chain served, the key, the host and port)."""
    return [
        DeployItem(
            hostname=w.hostname, url=w.url, chain=w.chain, key=w.key, port=w.port, sha256=w.sha256
        )
        for w in work
    ]


def dry_run_outcomes(
    name: str, target: Target, work: Sequence[InstallWork], items: Sequence[DeployItem]
) -> list[InstallOutcome]:
    actions = {h.hostname: h.action.value for h in target.plan(items).hosts}
    return [
        InstallOutcome(
            w.url, name, True, w.sha256, "dry run: nothing changed", actions.get(w.hostname, "")
        )
        for w in work
    ]


def begin_group(
    desk: Desk, actor: Actor, work: Sequence[InstallWork], *, at: datetime | None = None
) -> None:
    """The bindings are ``installing`` while the deploy runs (its own short transaction)."""
    with desk.context(actor, at=at) as ctx:
        begin_install(ctx, work=work)


def apply_group(
    target: Target, items: Sequence[DeployItem], *, roots: Sequence[Any] = (), force: bool = False
) -> Installation:
    """Apply: deploy, prove by a handshake, keep or roll back exactly that deploy."""
    return install(target, items, roots=roots, now=clock.now, force=force)


def judge(
    name: str,
    work: Sequence[InstallWork],
    target: Target,
    items: Sequence[DeployItem],
    done: Installation,
) -> Verdict:
    """Prove: what the deploy and its handshakes mean, in words that claim nothing untrue."""
    probes = tuple(
        (w.domain_id, p.probe)
        for w, p in zip(work, done.proofs, strict=False)
        if p.probe is not None
    )
    actions = {h.hostname: h.action.value for h in done.result.plan.hosts} if done.result else {}
    urls = ", ".join(w.url for w in work)
    if not done.ok:
        return Verdict(
            False, _failure(name, done), _still_installed(target, items), probes, actions, False
        )
    if not done.proofs:
        message = (
            f"installed on {name} ({urls}); the target has no address to prove it with a handshake"
        )
        return Verdict(True, message, True, (), actions, False)
    message = f"installed on {name} and proven by a handshake on {urls}"
    return Verdict(True, message, True, probes, actions, True)


def record_group(
    desk: Desk,
    actor: Actor,
    name: str,
    work: Sequence[InstallWork],
    verdict: Verdict,
    *,
    at: datetime | None = None,
) -> Recorded:
    """Record: the proof's handshakes as probes, the bindings' states, requests, audit."""
    with desk.context(actor, at=at) as ctx:
        if verdict.probes:
            record_probes(ctx, verdict.probes, prove_installs=False)
        return record_install(
            ctx,
            target=name,
            work=work,
            ok=verdict.ok,
            message=verdict.message,
            installed=verdict.installed,
        )


def outcomes_of(
    name: str, work: Sequence[InstallWork], verdict: Verdict, recorded: Recorded
) -> list[InstallOutcome]:
    out: list[InstallOutcome] = []
    for w in work:
        state = recorded.states.get(w.url)
        out.append(
            InstallOutcome(
                w.url,
                name,
                verdict.ok,
                w.sha256,
                verdict.message,
                verdict.actions.get(w.hostname, ""),
                state.state.value if state else "",
                state.next_try_at if state else None,
                w.request_id,
            )
        )
    return out


def notify_installed(
    mailer: Mailer | None,
    sender: str,
    records: Sequence[InstallRecord],
    work: Sequence[InstallWork],
) -> None:
    """Notify: each requester learns what was installed, where, valid until when."""
    if mailer is None:
        return
    until = {w.url: iso_utc(w.chain[0].not_valid_after_utc) for w in work}
    for record in records:
        if not record.tenant_emails or record.request_id is None:
            continue
        rows = [
            (w.url, w.common_name, w.sha256, until[w.url])
            for w in work
            if w.request_id == record.request_id
        ]
        message = install_message(
            sender=sender,
            to=record.tenant_emails,
            tenant=record.tenant,
            request_id=record.request_id,
            installed=rows,
        )
        try:
            mailer.send(message)
        except SendError as exc:  # the install stands; the mail is what failed
            log.warning(
                "could not send the install notice of request %s: %s", record.request_id, exc
            )


def notify_failing(
    mailer: Mailer | None, sender: str, operators: Sequence[str], recorded: Recorded
) -> None:
    """Notify: the operators learn, once, of installs that failed again and again."""
    if mailer is None or not operators:
        if recorded.alerts:
            log.warning(
                "installs failing again and again, and no operator to e-mail: %s",
                ", ".join(s.url for s in recorded.alerts),
            )
        return
    rows = [
        (s.url, s.attempts, s.reason or "", iso_utc(s.next_try_at) if s.next_try_at else "-")
        for s in recorded.alerts
    ]
    message = install_failing_message(sender=sender, to=operators, failing=rows)
    try:
        mailer.send(message)
    except SendError as exc:
        log.warning("could not e-mail the operators of failing installs: %s", exc)


def due_install_retries(desk: Desk, now: datetime) -> list[str]:
    """The units (URLs) whose failed install is due to be tried again at ``now``.

    For the job engine: each unit is one :func:`retry_install`.
    """
    with desk.context(ENGINE, at=now) as ctx:
        return due_retries(ctx, now=now)


def retry_install(desk: Desk, installer: Installer, unit: str, now: datetime) -> InstallOutcome:
    """Try again the failed install of ``unit`` (a URL from :func:`due_install_retries`),
    or one left ``installing`` by a process that stopped mid-deploy.

    A unit that is no longer due (installed meanwhile, replaced, removed) is answered
    with what it is and not deployed. Never raises for a target that is down: the
    outcome says so, and the binding's next try is pushed back.
    """
    with desk.context(ENGINE, at=now) as ctx:
        try:
            state: BindingState | None = install_state(ctx, url=unit)
        except CertdeskError as exc:
            return InstallOutcome(unit, "", False, "", f"not retried: {exc.message}")
    waiting = state is not None and state.state is InstallState.STORED and state.next_try_at
    if state is None or not (
        waiting or state.state in (InstallState.FAILED, InstallState.INSTALLING)
    ):
        what = state.state.value if state else "no certificate bound"
        return InstallOutcome(
            unit, "", state is not None, "", f"not retried: {what}", state=what if state else ""
        )
    if state.next_try_at is not None and state.next_try_at > now:
        return InstallOutcome(
            unit,
            "",
            False,
            "",
            f"not retried: next try at {iso_utc(state.next_try_at)}",
            state=state.state.value,
            next_try_at=state.next_try_at,
        )
    [outcome] = installer.install(ENGINE, urls=[unit], at=now)
    return outcome


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
