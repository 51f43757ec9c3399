"""``certdesk serve``: the portal, the JSON API and the scheduler in one process.

The app itself is built above, by ``certdesk.asgi`` (``build_app``), which hands it to
:func:`with_services` here to start the job engine, the on-demand workers and the configuration
watcher with it: this module knows no interface."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

from certdesk import clock
from certdesk.application.compose import open_installer, policy_for, probe_config
from certdesk.application.jobs import job_registry
from certdesk.application.on_demand import OnDemandWorker
from certdesk.application.sweeps import JOB as SWEEP
from certdesk.desk.accounts import ensure_first_operator, operators_exist
from certdesk.desk.context import Actor, Desk
from certdesk.errors import CertdeskError
from certdesk.scheduler import engine
from certdesk.settings import CONFIG_FILE, Settings, load_settings

log = logging.getLogger("certdesk.application.server")


class SchedulerThread(threading.Thread):
    """Ticks the job engine every ``interval`` seconds until stopped: the registered jobs
    (``application.jobs``), or the ``jobs`` given (the probe sweep has a thread of its own,
    so that a long sweep never delays a report)."""

    def __init__(
        self,
        desk: Desk,
        settings: Settings,
        interval: float = 60.0,
        *,
        jobs: Iterable[engine.Job] | None = None,
        name: str = "certdesk-scheduler",
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.desk = desk
        self.settings = settings
        self.interval = interval
        self.jobs = list(jobs) if jobs is not None else list(job_registry(settings))
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                for outcome in engine.tick(self.desk, self.jobs, now=clock.now()):
                    if outcome.status not in QUIET:
                        log.info(
                            "job %s %s %s: %s%s",
                            outcome.job,
                            outcome.period,
                            outcome.unit,
                            outcome.status,
                            f" ({outcome.error})" if outcome.error else "",
                        )
            except Exception:  # one bad tick must not stop the scheduler
                log.exception("scheduler tick failed")
            self.stopping.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()


# What a tick says of units that need no line in the log.
QUIET = frozenset(
    {
        engine.ALREADY_DONE,
        engine.CLAIMED_ELSEWHERE,
        engine.RETRY_PENDING,
        engine.BEFORE_FIRST_START,
        engine.GAVE_UP,
    }
)


def _jobs(settings: Settings) -> tuple[list[engine.Job], list[engine.Job]]:
    """The jobs of the scheduler thread, and those of the sweep thread."""
    jobs = list(job_registry(settings, sweeps=True))
    return [j for j in jobs if j.name != SWEEP], [j for j in jobs if j.name == SWEEP]


class ConfigWatcher(threading.Thread):
    """Reads ``certdesk.toml`` again when it changes (looked at every ``every`` seconds)
    or when ``wanted`` is set (SIGHUP), and hands the new settings to ``apply``. A file
    that does not load is logged, and the settings in force are kept."""

    def __init__(
        self, settings: Settings, apply: Callable[[Settings], object], every: float = 2.0
    ) -> None:
        super().__init__(name="certdesk-config", daemon=True)
        self.settings = settings
        self.apply = apply
        self.every = every
        self.wanted = threading.Event()
        self.stopping = threading.Event()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            found = (self.settings.home / CONFIG_FILE).stat()
        except OSError:
            return None
        return found.st_mtime_ns, found.st_size

    def run(self) -> None:
        seen = self._stamp()
        while not self.stopping.is_set():
            self.wanted.wait(self.every)
            if self.stopping.is_set():
                return
            stamp = self._stamp()
            if stamp == seen and not self.wanted.is_set():
                continue
            self.wanted.clear()
            seen = stamp
            try:
                new = load_settings(self.settings.home)
                self.apply(new)
            except CertdeskError as exc:
                log.error("%s not reloaded: %s", CONFIG_FILE, exc)
                continue
            except Exception:  # a reload must never end the server
                log.exception("%s not reloaded", CONFIG_FILE)
                continue
            self.settings = new
            log.info("%s reloaded", CONFIG_FILE)

    def stop(self) -> None:
        self.stopping.set()
        self.wanted.set()


def _on_sighup(handler: Callable[[], object]) -> Callable[[], None]:
    """Call ``handler`` on SIGHUP (where the event loop can: the main thread on POSIX);
    returns what undoes it."""
    try:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, handler)
    except (NotImplementedError, RuntimeError, ValueError, AttributeError):
        # No SIGHUP here (Windows, or not the main thread): changes of the file are still
        # picked up by the watcher; only the signal is not.
        log.info("SIGHUP is not available here: %s is reloaded when it changes", CONFIG_FILE)
        return lambda: None

    def undo() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    return undo


def first_start(desk: Desk, admin_password: str | None) -> str | None:
    """Create the first operator account; return the one-time password if one was made.

    Replicas started together on one database race to make it: the one whose insert loses
    finds the operator the other made, and starts without making one."""
    actor = Actor(name="first-start")
    try:
        with desk.context(actor) as ctx:
            return ensure_first_operator(ctx, password=admin_password)
    except IntegrityError:
        with desk.context(actor, readonly=True) as ctx:
            if operators_exist(ctx):
                return None
        raise


def with_services(app: FastAPI, desk: Desk, settings: Settings, *, scheduler: bool) -> FastAPI:
    """``app`` (the one ASGI app, built by ``certdesk.asgi``) as ``certdesk serve`` runs it:
    with the job engine (the reports and every registered job, and the probe sweeps in a
    thread of their own; unless turned off), ticking every ``scheduler_interval`` seconds,
    the on-demand workers that run queued "probe now" and "install now" requests, and the
    watcher that applies
    a changed ``certdesk.toml`` (deploy targets, reports, trust roots) without a restart,
    started and stopped with it."""
    readers = app.router.lifespan_context  # stops the file readers at shutdown

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with readers(_app):
            others, sweeps = _jobs(settings)
            every = settings.scheduler_interval
            threads = (
                [
                    SchedulerThread(desk, settings, every, jobs=others),
                    SchedulerThread(desk, settings, every, jobs=sweeps, name="certdesk-sweeps"),
                ]
                if scheduler
                else []
            )

            def apply(new: Settings) -> None:
                _app.state.settings = new
                _app.state.installer = open_installer(new, desk)
                # Both the engine's desk and the app's own (the requests': a copy with its
                # file readers) take the new trust roots and limits.
                desk.policy = _app.state.desk.policy = policy_for(new)
                if threads:
                    threads[0].jobs, threads[1].jobs = _jobs(new)
                for thread in threads:
                    thread.interval = new.scheduler_interval

            watcher = ConfigWatcher(settings, apply)
            on_demand = OnDemandWorker(
                desk,
                lambda: probe_config(_app.state.settings),
                lambda: _app.state.installer,
                lease=settings.work_lease,
            )
            for thread in threads:
                thread.start()
            on_demand.start()
            watcher.start()
            hangup = _on_sighup(watcher.wanted.set)
            try:
                yield
            finally:
                hangup()
                watcher.stop()
                on_demand.stop()
                for thread in threads:
                    thread.stop()
                for thread in threads:
                    thread.join(timeout=10)
                watcher.join(timeout=10)

    app.router.lifespan_context = lifespan
    return app
