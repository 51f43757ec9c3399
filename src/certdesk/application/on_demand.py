"""The on-demand workers of ``certdesk serve``: they run the queued work requests of
``desk.work_requests`` — "probe now" and "install now" (after a portal upload, or its
"retry now").

Periodic work (reports, sweeps, install retries) is the job engine's
(``certdesk.scheduler``); work somebody asked for right now is this queue's, answered at
once with a request id that the API and the portal's pages follow. Each kind has its own
threads (``slots``), so a long probe of a large tenant never holds up an install. A
thread claims the oldest request of a tenant that has none of its kind running, and runs
it *as the one who asked* (a reseller's request reaches only its own domains): a probe
with at most ``probe_concurrency / slots`` handshakes at once, an install through the
:class:`~certdesk.application.installer.Installer` (deploy, handshake proof, the
bindings' install states). While it runs, its lease (``CERTDESK_WORK_LEASE``) is renewed
every third of it; a process that dies holding a request loses it when the lease passes,
and another process's worker takes it over. If no process takes an install over, the
job engine's ``install.retry`` still finds the binding ``installing`` and tries again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from certdesk.application.installer import Installer, InstallOutcome
from certdesk.application.probing import ProbeConfig, probe_and_record
from certdesk.desk import work_requests as queue
from certdesk.desk.context import Actor, Desk
from certdesk.desk.work_requests import Claimed, WorkKind
from certdesk.errors import CertdeskError
from certdesk.pki import iso_utc

log = logging.getLogger("certdesk.application.on_demand")
WORKER = Actor(name="on-demand-worker")
SLOTS: Mapping[WorkKind, int] = {WorkKind.PROBE: 2, WorkKind.INSTALL: 2}


def outcome_json(outcome: InstallOutcome) -> dict[str, Any]:
    """One URL's install outcome as a request's results keep it."""
    return {
        "url": outcome.url,
        "target": outcome.target,
        "ok": outcome.ok,
        "sha256": outcome.sha256,
        "message": outcome.message,
        "action": outcome.action,
        "state": outcome.state,
        "next_try_at": iso_utc(outcome.next_try_at) if outcome.next_try_at else None,
        "request_id": outcome.request_id,
    }


class Runner:
    """What runs one claimed request of each kind, with the probe configuration and the
    installer in force (``serve`` applies a changed ``certdesk.toml`` by handing new ones)."""

    def __init__(
        self,
        desk: Desk,
        probes: Callable[[], ProbeConfig],
        installer: Callable[[], Installer],
    ) -> None:
        self.desk = desk
        self.probes = probes
        self.installer = installer

    def __call__(self, claimed: Claimed, concurrency: int) -> list[dict[str, Any]]:
        # As the one who asked: a reseller's request reaches only its own domains.
        actor = Actor(name=claimed.requested_by, tenant_id=claimed.tenant_id)
        if claimed.kind is WorkKind.INSTALL:
            outcomes = self.installer().install(actor, urls=claimed.urls)
            return [outcome_json(o) for o in outcomes]
        results = probe_and_record(
            self.desk, self.probes(), actor, urls=claimed.urls, concurrency=concurrency
        )
        return [r.to_json(details=False) for r in results]


def run_one(
    desk: Desk,
    runner: Callable[[Claimed, int], list[dict[str, Any]]],
    *,
    worker: str,
    kinds: tuple[WorkKind, ...] = tuple(WorkKind),
    concurrency: int = 50,
    lease: float = 120.0,
    at: datetime | None = None,
) -> bool:
    """Claim one request of ``kinds`` and run it, renewing its lease while it runs;
    False when there was none. ``at``: the instant of the claim (a test's takeover)."""
    held = timedelta(seconds=lease)
    with desk.context(WORKER, at=at) as ctx:
        claimed = queue.claim_work(ctx, worker=worker, kinds=kinds, lease=held)
    if claimed is None:
        return False
    done = threading.Event()

    def renew() -> None:
        while not done.wait(lease / 3):
            try:
                with desk.context(WORKER) as ctx:
                    if not queue.renew_lease(ctx, request_id=claimed.id, worker=worker, lease=held):
                        log.warning("request %s was taken over by another worker", claimed.id)
                        return
            except Exception:  # the database was away: try again at the next renewal
                log.exception("could not renew the lease of request %s", claimed.id)

    renewer = threading.Thread(target=renew, name=f"certdesk-lease-{claimed.id}", daemon=True)
    renewer.start()
    results: list[dict[str, Any]] | None = None
    error: str | None = None
    try:
        results = runner(claimed, concurrency)
    except CertdeskError as exc:  # a refusal (no certificate bound, no target): its words
        error = f"{exc.code}: {exc.message}"
    except Exception as exc:  # one request that fails is recorded, never the worker's end
        log.exception("%s request %s failed", claimed.kind.value, claimed.id)
        error = str(exc) or type(exc).__name__
    finally:
        done.set()
        renewer.join()
    with desk.context(WORKER) as ctx:
        queue.finish_work(ctx, request_id=claimed.id, worker=worker, results=results, error=error)
    return True


class OnDemandWorker:
    """Threads running queued work requests until stopped: ``slots[kind]`` of each kind."""

    def __init__(
        self,
        desk: Desk,
        probes: Callable[[], ProbeConfig],
        installer: Callable[[], Installer],
        *,
        lease: float = 120.0,
        slots: Mapping[WorkKind, int] = SLOTS,
        poll: float = 1.0,
    ) -> None:
        self.desk = desk
        self.lease = lease
        self.runner = Runner(desk, probes, installer)
        self.poll = poll
        self.stopping = threading.Event()
        threads = max(1, slots.get(WorkKind.PROBE, 1))
        self.concurrency = max(1, probes().concurrency // threads)
        self.threads = [
            threading.Thread(
                target=self._run,
                args=(kind, i),
                name=f"certdesk-{kind.value}-{i}",
                daemon=True,
            )
            for kind, count in slots.items()
            for i in range(count)
        ]

    def _run(self, kind: WorkKind, index: int) -> None:
        worker = f"{socket.gethostname()}:{os.getpid()}:{kind.value}-{index}"
        while not self.stopping.is_set():
            try:
                busy = run_one(
                    self.desk,
                    self.runner,
                    worker=worker,
                    kinds=(kind,),
                    concurrency=self.concurrency,
                    lease=self.lease,
                )
            except Exception:  # the database was away: try again at the next poll
                log.exception("the %s worker could not claim a request", kind.value)
                busy = False
            if not busy:
                self.stopping.wait(self.poll)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout)
