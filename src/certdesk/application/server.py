"""``certdesk serve``: the portal, the JSON API and the scheduler in one process."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from certdesk import clock
from certdesk.application.compose import open_desk
from certdesk.application.probe_worker import ProbeWorker
from certdesk.asgi import create_app
from certdesk.desk.accounts import ensure_first_operator
from certdesk.desk.context import Actor, Desk
from certdesk.http.auth import proxy_networks
from certdesk.notify import mailer_for
from certdesk.scheduler import report_config, tick
from certdesk.settings import Settings, load_settings

log = logging.getLogger("certdesk.application.server")


class SchedulerThread(threading.Thread):
    """Ticks the report scheduler every ``interval`` seconds until stopped."""

    def __init__(self, desk: Desk, settings: Settings, interval: float = 60.0) -> None:
        super().__init__(name="certdesk-scheduler", daemon=True)
        self.desk = desk
        self.settings = settings
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        config = report_config(self.settings)
        mailer = mailer_for(self.settings.smtp_url, self.settings.outbox)
        while not self.stopping.is_set():
            try:
                for outcome in tick(self.desk, config, mailer, now=clock.now()):
                    if outcome.status in ("sent", "failed", "gave-up"):
                        log.info(
                            "report %s %s to %s: %s%s",
                            outcome.kind,
                            outcome.period,
                            outcome.recipient,
                            outcome.status,
                            f" ({outcome.error})" if outcome.error else "",
                        )
            except Exception:  # one bad tick must not stop the scheduler
                log.exception("scheduler tick failed")
            self.stopping.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()


def first_start(desk: Desk, admin_password: str | None) -> str | None:
    """Create the first operator account; return the one-time password if one was made."""
    with desk.context(Actor(name="first-start")) as ctx:
        return ensure_first_operator(ctx, password=admin_password)


def build_app(
    desk: Desk,
    settings: Settings,
    *,
    trust_forwarded: bool,
    scheduler: bool,
    trusted_proxies: Sequence[str] = (),
) -> FastAPI:
    """The app of ``certdesk serve``: with the report scheduler (unless turned off) and the
    probe worker that runs queued "probe now" requests, both started and stopped with it."""
    app = create_app(
        desk, settings, trust_forwarded=trust_forwarded, trusted_proxies=trusted_proxies
    )
    readers = app.router.lifespan_context  # stops the file readers at shutdown

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with readers(_app):
            thread = SchedulerThread(desk, settings) if scheduler else None
            probes = ProbeWorker(desk, settings)
            if thread is not None:
                thread.start()
            probes.start()
            try:
                yield
            finally:
                probes.stop()
                if thread is not None:
                    thread.stop()
                    thread.join(timeout=10)

    app.router.lifespan_context = lifespan
    return app


def check_proxies(proxies: Sequence[str]) -> None:
    """Refuse a mistyped trusted-proxy address (``invalid-argument``) before the server
    starts."""
    proxy_networks(proxies)


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``certdesk serve --workers N`` (uvicorn's factory).

    The parent passes the data folder and flags through the environment; every worker
    opens the store itself. Their schedulers share the database's claims, so each report
    still goes out once.
    """
    settings = load_settings()
    return build_app(
        open_desk(settings),
        settings,
        trust_forwarded=os.environ.get("CERTDESK_TRUST_FORWARDED") == "1",
        scheduler=os.environ.get("CERTDESK_SCHEDULER", "1") == "1",
    )
