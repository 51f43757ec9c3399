"""The report jobs: each report kind (``reports.kinds``) is one job of the engine,
``report.<kind>``, whose units are its recipients (the operators, each tenant with
e-mail addresses), delivered exactly once per (kind, period, recipient).

The engine claims each delivery before it is sent (``scheduler.engine``); the mailer
records it sent the moment the message is accepted, so that a crash after it cannot send
the report again. A failed send is retried with backoff on later ticks; a report missed
during downtime goes out when certdesk is back, marked late, unless its period ended
before certdesk first started. A delivery left unfinished when the next period of its
kind came (its process died holding it, or it was waiting for a retry) still goes out,
marked late and built at its own instant (so it lists what it would have listed), as
long as the dates it lists are still ahead (until the end of its window: 3 days after
it was due for the daily report, 60 for the monthly one); after that it is closed as
``overtaken``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import select

from certdesk.addresses import email_address
from certdesk.desk.context import Actor, Desk
from certdesk.errors import InvalidArgument
from certdesk.notify import Mailer, SendError, message_id, report_message
from certdesk.reports.kinds import ReportKind
from certdesk.reports.select import build_report
from certdesk.scheduler import engine
from certdesk.scheduler.engine import Job, Period, Run, Unit, UnitFailed
from certdesk.store.jobs import JobUnit
from certdesk.store.models import Tenant

log = logging.getLogger("certdesk.scheduler")
SCHEDULER = engine.ENGINE
MAX_ATTEMPTS = 8
JOB_PREFIX = "report."


@dataclass(frozen=True, slots=True)
class ReportConfig:
    """What the report jobs take of the settings (made by
    ``application.compose.report_config``)."""

    tz: tzinfo
    kinds: tuple[ReportKind, ...]
    operator_emails: tuple[str, ...]
    mail_from: str
    send_empty: bool
    lease: timedelta = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Audience:
    recipient: str  # "operators" or "tenant:<id>": the unit's key
    tenant_id: int | None
    name: str
    emails: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str
    period: str
    recipient: str
    status: str  # sent | empty | failed | retry-pending | already-done | claimed-elsewhere
    # | gave-up | before-first-start | would-run (a preview)
    late: bool = False
    rows: int = 0
    error: str | None = None


def audiences(desk: Desk, config: ReportConfig) -> list[Audience]:
    out: list[Audience] = []
    if config.operator_emails:
        out.append(Audience("operators", None, "the platform's operators", config.operator_emails))
    with desk.context(SCHEDULER) as ctx:
        for tenant in ctx.session.scalars(select(Tenant).order_by(Tenant.id)):
            if tenant.emails:
                out.append(
                    Audience(f"tenant:{tenant.id}", tenant.id, tenant.name, tuple(tenant.emails))
                )
    return out


# Run before a report of a kind is built (the daily report's probe sweep): (desk, now).
Prepare = Callable[[Desk, datetime], object]


def report_jobs(
    config: ReportConfig, mailer: Mailer, *, before: Mapping[str, Prepare] | None = None
) -> list[Job]:
    """One engine job per report kind; ``before[kind]`` runs before each of its reports
    is built."""
    hooks = before or {}
    return [_job(config, mailer, kind, hooks.get(kind.name)) for kind in config.kinds]


def _job(config: ReportConfig, mailer: Mailer, kind: ReportKind, prepare: Prepare | None) -> Job:
    def periods(now: datetime) -> Sequence[Period]:
        latest = kind.schedule.latest(now)
        return [Period(latest.key, latest.due, latest.deadline)]

    def units(desk: Desk, period: Period, now: datetime) -> Sequence[Unit]:
        return [
            Unit(
                a.recipient,
                a.tenant_id,
                a,
                {"kind": kind.name, "recipient": a.recipient, "recipients": len(a.emails)},
            )
            for a in audiences(desk, config)
        ]

    def run(r: Run) -> None:
        if prepare is not None:
            prepare(r.desk, r.now)
            # The wait may have outlasted the lease: still ours, or another process's.
            r.renew()
        _deliver(r, config, mailer, kind)

    return Job(
        name=JOB_PREFIX + kind.name,
        periods=periods,
        units=units,
        run=run,
        next_due=lambda now: kind.schedule.following(now).due,
        lease=config.lease,
        max_attempts=MAX_ATTEMPTS,
        audit="report",
        keep=lambda period: kind.window(period.due).high,
    )


def tick(
    desk: Desk,
    config: ReportConfig,
    mailer: Mailer,
    *,
    now: datetime,
    worker: str | None = None,
) -> list[Outcome]:
    """Deliver every report due at ``now`` that is not delivered yet."""
    return as_deliveries(engine.tick(desk, report_jobs(config, mailer), now=now, worker=worker))


def as_deliveries(outcomes: Iterable[engine.Outcome]) -> list[Outcome]:
    """The engine's outcomes of report jobs, as report deliveries."""
    return [
        Outcome(
            o.job.removeprefix(JOB_PREFIX),
            o.period,
            o.unit,
            o.status,
            o.late,
            int(o.detail.get("rows", 0)),
            o.error,
        )
        for o in outcomes
        if o.job.startswith(JOB_PREFIX)
    ]


def _deliver(r: Run, config: ReportConfig, mailer: Mailer, kind: ReportKind) -> None:
    audience: Audience = r.unit.payload
    # Late in its own period: as of now. Left over from a past period: as of its instant,
    # or it would only repeat the newer report of its kind.
    at = r.now if r.late and not r.overtaken else r.period.due
    with r.desk.context(SCHEDULER, at=r.now) as ctx:
        report = build_report(
            ctx,
            kind,
            at,
            config.tz,
            tenant_id=audience.tenant_id,
            audience=audience.name,
            period=r.period.key,
            late=r.late,
        )
    rows = len(report.rows)
    if report.empty and not config.send_empty:
        r.done("empty", rows=0)
        return
    msg_id = message_id(kind.name, r.period.key, audience.recipient)
    # Building the message is part of this one delivery: whatever fails here is this
    # delivery's failure (retried later), never an end to the tick.
    try:
        _check_addresses(audience)
        message = report_message(report, sender=config.mail_from, to=audience.emails, msg_id=msg_id)
        # The mailer calls back the moment the message is accepted (over SMTP: at the 250
        # to DATA, before QUIT), so that a crash after it cannot send the report again.
        mailer.send(message, on_accepted=lambda: r.done("sent", rows=rows, message_id=msg_id))
    except (SendError, InvalidArgument):
        raise
    except Exception as exc:
        if r.finishing:
            raise
        log.exception("the %s report for %s failed", kind.name, audience.recipient)
        raise UnitFailed(f"cannot build or send this report: {type(exc).__name__}: {exc}") from exc
    r.done("sent", rows=rows, message_id=msg_id)  # a mailer that does not call back


def _check_addresses(audience: Audience) -> None:
    """Addresses stored before they were checked on write are checked here."""
    for address in audience.emails:
        try:
            email_address(address)
        except InvalidArgument as exc:
            where = "CERTDESK_OPERATOR_EMAILS" if audience.tenant_id is None else "its contacts"
            raise InvalidArgument(f"cannot mail {audience.name}: {exc}; correct {where}") from exc


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8… minutes after each failure, at most 30."""
    return engine.default_backoff(attempts)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One report for one recipient in one period, as the history shows it."""

    id: int
    kind: str
    period: str
    recipient: str
    tenant_id: int | None
    status: str  # claimed | sent | empty | failed | gave-up
    claimed_by: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    sent_at: datetime | None
    late: bool
    rows: int
    message_id: str | None


def delivery(row: JobUnit) -> Delivery:
    detail: dict[str, Any] = row.detail or {}
    return Delivery(
        id=row.id,
        kind=row.job.removeprefix(JOB_PREFIX),
        period=row.period,
        recipient=row.unit,
        tenant_id=row.tenant_id,
        status=(row.outcome or "done") if row.status == "done" else row.status,
        claimed_by=row.claimed_by,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        sent_at=row.finished_at if row.status == "done" else None,
        late=row.late,
        rows=int(detail.get("rows") or 0),
        message_id=detail.get("message_id"),
    )


def history(desk: Desk, actor: Actor, *, limit: int = 200) -> list[Delivery]:
    """Delivered (and failed) reports, newest first; a reseller sees only its own."""
    with desk.context(actor, readonly=True) as ctx:
        stmt = (
            select(JobUnit)
            .where(JobUnit.job.startswith(JOB_PREFIX, autoescape=True))
            .order_by(JobUnit.id.desc())
            .limit(limit)
        )
        return [delivery(row) for row in ctx.session.scalars(ctx.scoped(stmt, JobUnit.tenant_id))]
