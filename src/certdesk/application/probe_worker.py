"""The probe worker of ``certdesk serve``: runs the queued "probe now" requests.

A small stand-in for the job engine to come: ``slots`` threads each claim the oldest
queued request of a tenant that has none running (``desk.probe_requests``), probe its URLs
as the tenant that asked (so a reseller's request sees only its own domains) with at
most ``concurrency`` handshakes at once, and record the results. So the work of one
request is bounded, and one tenant never holds more than one slot while others wait.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from certdesk.application.probing import ProbeConfig, probe_and_record
from certdesk.desk import probe_requests as queue
from certdesk.desk.context import Actor, Desk

log = logging.getLogger("certdesk.application.probe_worker")
WORKER = Actor(name="probe-worker")


def run_one(desk: Desk, config: ProbeConfig, *, worker: str, concurrency: int) -> bool:
    """Claim and run one queued request; False when there was none."""
    with desk.context(WORKER) as ctx:
        claimed = queue.claim_probe_request(ctx, worker=worker)
    if claimed is None:
        return False
    # The probe runs as the one who asked: a reseller's request reaches only its domains.
    actor = Actor(name=claimed.requested_by, tenant_id=claimed.tenant_id)
    try:
        results = probe_and_record(
            desk,
            config,
            actor,
            urls=claimed.urls,
            concurrency=concurrency,
        )
    except Exception as exc:  # one request that fails is recorded, never the worker's end
        log.exception("probe request %s failed", claimed.id)
        with desk.context(WORKER) as ctx:
            queue.finish_probe_request(
                ctx, request_id=claimed.id, worker=worker, results=None, error=str(exc)
            )
        return True
    with desk.context(WORKER) as ctx:
        queue.finish_probe_request(
            ctx,
            request_id=claimed.id,
            worker=worker,
            results=[r.to_json(details=False) for r in results],
        )
    return True


class ProbeWorker:
    """``slots`` threads running queued probe requests until stopped."""

    def __init__(
        self, desk: Desk, config: ProbeConfig, *, slots: int = 2, poll: float = 1.0
    ) -> None:
        self.desk = desk
        self.config = config
        self.poll = poll
        self.stopping = threading.Event()
        self.concurrency = max(1, config.concurrency // max(1, slots))
        self.threads = [
            threading.Thread(target=self._run, args=(i,), name=f"certdesk-probe-{i}", daemon=True)
            for i in range(slots)
        ]

    def _run(self, index: int) -> None:
        worker = f"{socket.gethostname()}:{os.getpid()}:probe-{index}"
        while not self.stopping.is_set():
            try:
                busy = run_one(self.desk, self.config, worker=worker, concurrency=self.concurrency)
            except Exception:  # the database was away: try again at the next poll
                log.exception("the probe worker could not claim a request")
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
