"""The jobs ``certdesk serve`` and ``certdesk scheduler`` run: the one place where the job
kinds are registered with the engine (``certdesk.scheduler.engine``).

A new kind of job is one more ``registry.add(...)`` here: a :class:`Job` of its own, or
``Job.every(name, interval, due=…, run=…)`` for work that is retried until done (install
retries, ACME renewals), with ``due(desk, now) -> list of unit keys`` and
``run(desk, unit, now)``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from certdesk.application.claims import due_claim_checks, run_claim_unit
from certdesk.application.compose import (
    claims_config,
    install_config,
    managed_config,
    probe_config,
    report_config,
)
from certdesk.application.installer import Installer, due_install_retries, retry_install
from certdesk.application.managed import due_acme_work, run_acme_unit
from certdesk.application.sweeps import SweepFirst, sweep_job
from certdesk.desk.context import Desk
from certdesk.errors import CertdeskError
from certdesk.notify import Mailer, mailer_for
from certdesk.scheduler.engine import Job, Registry, UnitFailed
from certdesk.scheduler.reports import report_jobs
from certdesk.settings import Settings

# Failed installs whose next try has come (their own backoff: 5 minutes doubling to 6
# hours, in desk/installs.py), and platform-managed domains due for a DNS check, an order
# or a renewal (only when an ACME directory is configured; their own backoff, in
# desk/managed.py: DNS 1 minute doubling to 1 hour, a failed order 5 minutes doubling to
# 24 hours, never sooner than the CA's Retry-After). Each unit (a URL) is done once per
# period across processes; the period is one minute, the shortest of those backoffs, so
# that a unit whose own next try has come is not held back to a later period (with a
# 5-minute period, a domain told to look at DNS again in 1 minute waited up to 5). What a
# unit's run decides is recorded on the domain (its state, reason and next try), so the
# engine records the unit done with that outcome, never "failed" for the engine to retry
# on a schedule of its own; a run that raises all the same (the database failing) is
# recorded as given up for its period (``max_attempts=1``: shown by ``scheduler status``,
# never left "pending" in a period that will not come again), and the unit is looked at
# afresh in the next period if it is still due.
INSTALL_RETRY = "install.retry"
ACME = "acme.issue"
# Pending ownership claims of domains due for a DNS check (desk/ownership.py: 1 minute
# doubling to 1 hour), each unit a claim (a domain's id: several tenants may claim one
# URL); its outcome is the claim's state after the check (verified, pending, closed). Only
# with domain verification on (``Settings.verifies_domains``).
CLAIMS = "claim.verify"
RETRY_PERIOD = timedelta(minutes=1)


def job_registry(
    settings: Settings, *, mailer: Mailer | None = None, sweeps: bool = False
) -> Registry:
    """Every job kind, configured from ``settings``; with ``sweeps``, the probe sweep too
    (``certdesk serve`` runs it in a thread of its own), completed before each daily
    report is built."""
    mail = mailer or mailer_for(settings.smtp_url, settings.outbox)
    registry = Registry()
    sweep = sweep_job(probe_config(settings)) if sweeps else None
    before = {"daily": SweepFirst(sweep)} if sweep is not None else {}
    for job in report_jobs(report_config(settings), mail, before=before):
        registry.add(job)
    if sweep is not None:
        registry.add(sweep)

    def retry(desk: Desk, unit: str, now: datetime) -> str:
        outcome = retry_install(desk, Installer(desk, install_config(settings), mail), unit, now)
        if not outcome.target:  # not due any more (installed meanwhile, replaced, removed)
            return "not-retried"
        return outcome.state or ("installed" if outcome.ok else "install-failed")

    registry.add(
        Job.every(INSTALL_RETRY, RETRY_PERIOD, due=due_install_retries, run=retry, max_attempts=1)
    )

    if settings.verifies_domains:
        claims = claims_config(settings)

        def claim(desk: Desk, unit: str, now: datetime) -> str:
            return run_claim_unit(desk, claims, unit, now)

        registry.add(
            Job.every(CLAIMS, RETRY_PERIOD, due=due_claim_checks, run=claim, max_attempts=1)
        )
    if settings.acme_directory:

        def acme_due(desk: Desk, now: datetime) -> list[str]:
            # A setting ordering needs is missing (the platform's addresses): said at every
            # tick (the log, ``scheduler tick``), and nothing is claimed, rather than one
            # unit given up per managed domain and minute.
            try:
                managed_config(settings)
            except CertdeskError as exc:  # the reason with the setting to give, for operators
                raise UnitFailed("; ".join(filter(None, (exc.message, exc.hint)))) from exc
            return due_acme_work(desk, now)

        def acme(desk: Desk, unit: str, now: datetime) -> str:
            installer = Installer(desk, install_config(settings), mail)
            return run_acme_unit(
                desk, unit, now, config=managed_config(settings), installer=installer
            ).state

        registry.add(Job.every(ACME, RETRY_PERIOD, due=acme_due, run=acme, max_attempts=1))
    return registry
