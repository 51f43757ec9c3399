"""What every target that writes certificates into a folder shares.

A :class:`FolderTarget` keeps, in its folder, one set of files per host name, a JSON
manifest (``manifest.json``: per host its fingerprint, expiry, URLs and files) and a
private journal (``.certdesk-rollback/``, mode 0700) of what the last deploy that wrote
replaced, under that deploy's id. Deploys, rollbacks and keeps on one folder take turns
(``flock`` on ``.certdesk-lock``). A deploy writes only the hosts whose certificate or
rendered configuration changed (and the target's own configuration when it differs), each
file atomically, then lets the subclass make them live (``_go_live``); if that fails, the
journal puts the previous files back before the error is raised.

``rollback(result)`` puts back only what the deploy that returned ``result`` recorded,
and only while its record is the journal's (no deploy wrote since, it was not kept):
a deploy that wrote nothing has no record, so its rollback touches nothing, and a
record left by a process that stopped before its proof is never taken for another's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from certdesk.deploy._fileset import (
    PUBLIC_FILE,
    Journal,
    Write,
    apply,
    differs,
    make_dir,
    new_token,
)
from certdesk.deploy.base import (
    Action,
    DeployError,
    DeployItem,
    DeployPlan,
    DeployResult,
    HostChange,
)
from certdesk.errors import InvalidArgument
from certdesk.pki.facts import iso_utc

MANIFEST = "manifest.json"
JOURNAL = ".certdesk-rollback"
LOCK = ".certdesk-lock"

Manifest = dict[str, dict[str, Any]]

_ROLLBACK_AGAIN = "the previous files are kept in the journal: fix the cause, then roll back"


def _group(items: Sequence[DeployItem]) -> dict[str, tuple[DeployItem, tuple[str, ...]]]:
    """Items by host name, with all their URLs; one certificate per host name."""
    hosts: dict[str, tuple[DeployItem, tuple[str, ...]]] = {}
    for item in items:
        if item.hostname in hosts:
            first, urls = hosts[item.hostname]
            if first.sha256 != item.sha256:
                raise InvalidArgument(
                    f"two different certificates were given for {item.hostname}",
                    hint="deploy one certificate per host name",
                )
            hosts[item.hostname] = (first, (*urls, item.url))
        else:
            hosts[item.hostname] = (item, (item.url,))
    return dict(sorted(hosts.items()))


class FolderTarget(ABC):
    """The shared flow of the folder-based targets; subclasses say what files a host has."""

    def __init__(self, folder: Path, *, name: str) -> None:
        self.folder = Path(folder).absolute()
        self._name = name
        self.journal = Journal(self.folder / JOURNAL)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r}, folder={str(self.folder)!r})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def address(self) -> tuple[str, int] | None:
        return None

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    # --- what subclasses say ----------------------------------------------------------

    @abstractmethod
    def paths(self, hostname: str) -> tuple[Path, ...]:
        """Every file this target keeps for ``hostname``."""

    @abstractmethod
    def _render(self, item: DeployItem) -> list[Write]:
        """The files of one host, ready to write."""

    def _shared_writes(self, manifest: Manifest) -> list[Write]:
        """Files that list every host (a crt-list), from the manifest after the deploy."""
        return []

    def _go_live(self, plan: DeployPlan, written: tuple[Path, ...]) -> DeployResult:
        """Make the written files live (test, reload, hot update); raise DeployError."""
        return DeployResult(plan=plan, written=tuple(map(str, written)))

    def _undo_live(self, restored: tuple[Path, ...]) -> None:  # noqa: B027 - a hook: nothing to do by default
        """After a failed ``_go_live`` and the journal put the files back: undo whatever
        ``_go_live`` had already made live (HAProxy's committed hot updates)."""

    def _revert_live(self, restored: tuple[Path, ...]) -> None:  # noqa: B027 - a hook: nothing to do by default
        """After ``rollback`` put files back (``restored``, never the manifest alone):
        make the terminator serve them again."""

    # --- the protocol -----------------------------------------------------------------

    def read_manifest(self) -> Manifest:
        """The hosts this target serves, as its manifest says (empty when there is none)."""
        try:
            data = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise DeployError(
                f"the manifest {self.manifest_path} cannot be read",
                target=self.name,
                reason=str(exc),
                hint="restore it from a backup or remove it and deploy every host again",
            ) from exc
        hosts = data.get("hosts") if isinstance(data, dict) else None
        return dict(hosts) if isinstance(hosts, dict) else {}

    def plan(self, items: Sequence[DeployItem], *, force: bool = False) -> DeployPlan:
        return self._plan(_group(items), self.read_manifest(), force=force)

    def _config_writes(self, item: DeployItem) -> list[Write]:
        """The configuration rendered for one host (deterministic, no secret): compared
        with what is on disk, a difference is a ``reconfigure``. None by default."""
        return []

    def _reconfigured(self, item: DeployItem) -> bool:
        """Whether the configuration rendered for ``item``'s host differs from what is
        on disk (by default: any of its ``_config_writes`` differs)."""
        return any(differs(w) for w in self._config_writes(item))

    def _target_writes(self) -> list[Write]:
        """Configuration of the target as a whole, the same whatever hosts it serves
        (nginx's and HAProxy's port-80 routing): written by every deploy, even one of no
        host; when it differs from what is on disk, every host deployed is a
        ``reconfigure``. None by default."""
        return []

    def _plan(
        self,
        grouped: dict[str, tuple[DeployItem, tuple[str, ...]]],
        manifest: Manifest,
        *,
        force: bool = False,
    ) -> DeployPlan:
        changes = []
        target_changed = any(differs(w) for w in self._target_writes())
        for hostname, (item, urls) in grouped.items():
            entry = manifest.get(hostname)
            previous = entry.get("sha256") if isinstance(entry, dict) else None
            present = all(p.is_file() for p in self.paths(hostname))
            if previous == item.sha256 and present:
                if target_changed or self._reconfigured(item):
                    action = Action.RECONFIGURE
                elif force:
                    action = Action.REINSTALL
                else:
                    action = Action.UNCHANGED
            elif entry is not None or any(p.exists() for p in self.paths(hostname)):
                action = Action.REPLACE
            else:
                action = Action.ADD
            changes.append(
                HostChange(
                    hostname=hostname,
                    action=action,
                    sha256=item.sha256,
                    previous_sha256=previous if isinstance(previous, str) else None,
                    not_after=item.not_after,
                    urls=urls,
                )
            )
        return DeployPlan(target=self.name, hosts=tuple(changes))

    def _entry(self, item: DeployItem, urls: Sequence[str], old: object) -> dict[str, Any]:
        known = old.get("urls", []) if isinstance(old, dict) else []
        files = []
        for path in self.paths(item.hostname):
            inside = path.parent == self.folder
            files.append(path.name if inside else str(path))
        return {
            "sha256": item.sha256,
            "not_after": iso_utc(item.not_after),
            "urls": sorted({*known, *urls}),
            "files": files,
        }

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One deploy or rollback at a time on this folder, across processes."""
        try:
            make_dir(self.folder)
            fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise DeployError(
                f"the {self.name} target cannot use its folder {self.folder}: {exc}",
                target=self.name,
                reason=str(exc),
                hint="create the folder and give certdesk write access to it",
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def deploy(self, items: Sequence[DeployItem], *, force: bool = False) -> DeployResult:
        grouped = _group(items)
        with self._locked():
            return self._deploy(grouped, force=force)

    def _deploy(
        self, grouped: dict[str, tuple[DeployItem, tuple[str, ...]]], *, force: bool = False
    ) -> DeployResult:
        manifest = self.read_manifest()
        plan = self._plan(grouped, manifest, force=force)
        writes: list[Write] = []
        after = dict(manifest)
        for change in plan.hosts:
            item, urls = grouped[change.hostname]
            after[change.hostname] = self._entry(item, urls, manifest.get(change.hostname))
            if change.action is not Action.UNCHANGED:
                writes += self._render(item)
        after = dict(sorted(after.items()))
        writes += self._shared_writes(after)
        writes += self._target_writes()
        if after or self.manifest_path.exists():  # no manifest for a target that has no host
            body = {"format": 1, "target": self.name, "hosts": after}
            text = json.dumps(body, indent=2, sort_keys=True) + "\n"
            writes.append(Write(self.manifest_path, text.encode(), PUBLIC_FILE))
        token = new_token()
        pending = DeployResult(plan=plan, undo=token)
        try:
            make_dir(self.folder)
            written = apply(writes, self.journal, token)
        except OSError as exc:
            put_back = self._restore_after(token)
            raise DeployError(
                f"the {self.name} target could not write its files: {exc}",
                target=self.name,
                reason=str(exc),
                rolled_back=put_back,
                hint=None if put_back else _ROLLBACK_AGAIN,
                pending=None if put_back else pending,
            ) from exc
        if force and plan.changed:
            # Forced: what is installed is made live again, written or not.
            rendered = [w.path for c in plan.hosts for w in self._render(grouped[c.hostname][0])]
            written = tuple(dict.fromkeys([*written, *rendered]))
        if not written:
            return DeployResult(plan=plan)  # nothing written: nothing to undo
        live = tuple(p for p in written if p != self.manifest_path)
        if not live:
            return DeployResult(plan=plan, written=tuple(map(str, written)), undo=token)
        try:
            return dataclasses.replace(self._go_live(plan, written), undo=token)
        except DeployError as exc:
            try:
                restored = self.journal.restore(token) or ()
            except OSError as again:
                raise DeployError(
                    exc.message,
                    target=self.name,
                    reason=f"{exc.reason}; then, putting the previous files back: {again}",
                    hint=_ROLLBACK_AGAIN,
                    pending=pending,
                ) from exc
            reason, undone = exc.reason, True
            try:
                self._undo_live(restored)
            except DeployError as undo:
                reason = f"{reason}; then, putting the previous certificates back: {undo.reason}"
                undone = False
            raise DeployError(
                exc.message,
                target=self.name,
                reason=reason,
                rolled_back=undone,
                hint=exc.hint,
            ) from exc

    def _restore_after(self, token: str) -> bool:
        """Put back what the deploy ``token`` wrote before it failed; False if that
        failed too (its record is then kept, for ``rollback`` once the cause is fixed)."""
        try:
            self.journal.restore(token)
        except (OSError, ValueError, KeyError):
            return False
        return True

    def config_test(self) -> None:
        """The folder exists (or can be made) and can be written."""
        try:
            make_dir(self.folder)
            probe = self.folder / ".certdesk-write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise DeployError(
                f"the folder {self.folder} of the {self.name} target cannot be written",
                target=self.name,
                reason=str(exc),
                hint="create the folder and give certdesk write access to it",
            ) from exc

    def reload(self) -> None:  # noqa: B027 - a hook: nothing to do by default
        """Files are read by their consumers when they like: nothing to do."""

    def rollback(self, result: DeployResult) -> None:
        if result.undo is None:
            return  # the deploy wrote nothing: there is nothing to undo
        with self._locked():
            self._rollback(result.undo)

    def _rollback(self, token: str) -> None:
        try:
            restored = self.journal.restore(token)
        except (OSError, ValueError, KeyError) as exc:
            raise DeployError(
                f"the {self.name} target could not put the previous files back: {exc}",
                target=self.name,
                reason=str(exc),
                hint=_ROLLBACK_AGAIN,
            ) from exc
        if restored is None:
            raise DeployError(
                f"the {self.name} target cannot roll back that deploy: it was already kept "
                "or rolled back, or another deploy has written since; nothing was changed",
                target=self.name,
                hint="deploy the certificate that should be served",
            )
        live = tuple(p for p in restored if p != self.manifest_path)
        if not live:
            return
        try:
            self._revert_live(live)
        except DeployError as exc:
            raise DeployError(
                f"the {self.name} target put the previous files back but could not make "
                f"them live: {exc.message}",
                target=self.name,
                reason=exc.reason,
                hint=exc.hint,
            ) from exc

    def keep(self, result: DeployResult) -> None:
        if result.undo is None:
            return
        with self._locked():
            try:
                self.journal.forget(result.undo)
            except OSError as exc:
                raise DeployError(
                    f"the {self.name} target could not drop the undo record of a proven "
                    f"deploy: {exc}",
                    target=self.name,
                    reason=str(exc),
                    hint=f"check that certdesk can write in {self.folder}",
                ) from exc
