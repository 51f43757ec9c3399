"""The jobs ``certdesk serve`` and ``certdesk scheduler`` run: the one place where the job
kinds are registered with the engine (``certdesk.scheduler.engine``).

A new kind of job is one more ``registry.add(...)`` here: a :class:`Job` of its own, or
``Job.every(name, interval, due=…, run=…)`` for work that is retried until done (install
retries, ACME renewals), with ``due(desk, now) -> list of unit keys`` and
``run(desk, unit, now)``.
"""

from __future__ import annotations

from certdesk.application.sweeps import SweepFirst, sweep_job
from certdesk.notify import Mailer, mailer_for
from certdesk.scheduler.engine import Registry
from certdesk.scheduler.reports import report_config, report_jobs
from certdesk.settings import Settings


def job_registry(
    settings: Settings, *, mailer: Mailer | None = None, sweeps: bool = False
) -> Registry:
    """Every job kind, configured from ``settings``; with ``sweeps``, the probe sweep too
    (``certdesk serve`` runs it in a thread of its own), completed before each daily
    report is built."""
    mail = mailer or mailer_for(settings.smtp_url, settings.outbox)
    registry = Registry()
    sweep = sweep_job(settings) if sweeps else None
    before = {"daily": SweepFirst(sweep)} if sweep is not None else {}
    for job in report_jobs(report_config(settings), mail, before=before):
        registry.add(job)
    if sweep is not None:
        registry.add(sweep)
    return registry
