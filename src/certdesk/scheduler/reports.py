"""Delivering the daily and monthly reports exactly once per (kind, period, recipient).

Each delivery is first *claimed*: a row with a unique (kind, period, recipient) is
inserted in its own transaction, and only the process whose insert succeeded sends.
A claim whose process died before sending is taken over once its lease has passed;
a failed send is retried with backoff on later ticks. So a restart, a crash between
claim and send, or several certdesk processes on one database never send a report
twice, and a report missed during downtime goes out when certdesk is back, marked late.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certdesk.addresses import email_address
from certdesk.desk.context import Actor, Desk
from certdesk.errors import InvalidArgument
from certdesk.notify import Mailer, SendError, message_id, report_message
from certdesk.reports.select import build_report
from certdesk.reports.windows import Period, Schedule, parse_clock, parse_timezone
from certdesk.settings import Settings
from certdesk.store.models import Tenant
from certdesk.store.monitoring import ReportDelivery

log = logging.getLogger("certdesk.scheduler")
SCHEDULER = Actor(name="scheduler")
MAX_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class ReportConfig:
    tz: tzinfo
    schedules: tuple[Schedule, ...]
    operator_emails: tuple[str, ...]
    mail_from: str
    send_empty: bool
    daily_days: int
    monthly_min_days: int
    monthly_max_days: int
    lease: timedelta = timedelta(minutes=10)


def report_config(settings: Settings, *, lease: timedelta | None = None) -> ReportConfig:
    tz = parse_timezone(settings.report_timezone)
    return ReportConfig(
        tz=tz,
        schedules=(
            Schedule(
                "daily",
                tz,
                parse_clock(settings.daily_time),
                timedelta(minutes=settings.daily_window_minutes),
            ),
            Schedule(
                "monthly",
                tz,
                parse_clock(settings.monthly_time),
                timedelta(minutes=settings.monthly_window_minutes),
                settings.monthly_day,
            ),
        ),
        operator_emails=settings.operator_emails,
        mail_from=settings.mail_from,
        send_empty=settings.send_empty_reports,
        daily_days=settings.daily_days,
        monthly_min_days=settings.monthly_min_days,
        monthly_max_days=settings.monthly_max_days,
        lease=lease or timedelta(minutes=10),
    )


@dataclass(frozen=True, slots=True)
class Audience:
    recipient: str  # "operators" or "tenant:<id>": the claim key
    tenant_id: int | None
    name: str
    emails: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str
    period: str
    recipient: str
    status: str  # sent | empty | failed | retry-pending | already-done | claimed-elsewhere
    # | gave-up
    late: bool = False
    rows: int = 0
    error: str | None = None


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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


def tick(
    desk: Desk,
    config: ReportConfig,
    mailer: Mailer,
    *,
    now: datetime,
    worker: str | None = None,
) -> list[Outcome]:
    """Deliver every report due at ``now`` that is not delivered yet."""
    worker = worker or worker_name()
    outcomes: list[Outcome] = []
    targets = audiences(desk, config)
    for schedule in config.schedules:
        period = schedule.latest(now)
        for audience in targets:
            outcomes.append(_deliver(desk, config, mailer, period, audience, now, worker))
    return outcomes


def _deliver(
    desk: Desk,
    config: ReportConfig,
    mailer: Mailer,
    period: Period,
    audience: Audience,
    now: datetime,
    worker: str,
) -> Outcome:
    def outcome(
        status: str, *, late: bool = False, rows: int = 0, error: str | None = None
    ) -> Outcome:
        return Outcome(period.kind, period.key, audience.recipient, status, late, rows, error)

    claimed = _claim(desk, config, period, audience, now, worker)
    if claimed is not None:
        return outcome(claimed)
    late = period.is_late(now)
    at = now if late else period.due
    with desk.context(SCHEDULER, at=now) as ctx:
        report = build_report(
            ctx,
            period.kind,
            at,
            config.tz,
            tenant_id=audience.tenant_id,
            audience=audience.name,
            daily_days=config.daily_days,
            monthly_min_days=config.monthly_min_days,
            monthly_max_days=config.monthly_max_days,
            period=period.key,
            late=late,
        )
    rows = len(report.rows)
    if report.empty and not config.send_empty:
        _finish(desk, period, audience, worker, now, status="empty", late=late, rows=0)
        return outcome("empty", late=late)
    msg_id = message_id(period.kind, period.key, audience.recipient)
    accepted = False

    def record_sent() -> None:
        # Called by the mailer the moment the message is accepted (over SMTP: at the 250
        # to DATA, before QUIT), so that a crash after it cannot send the report again.
        nonlocal accepted
        accepted = True
        _finish(
            desk,
            period,
            audience,
            worker,
            now,
            status="sent",
            late=late,
            rows=rows,
            message_id=msg_id,
        )

    # Building the message is part of this one delivery: whatever fails here is recorded
    # as this delivery's failure (retried later), never an end to the tick.
    try:
        _check_addresses(audience)
        message = report_message(report, sender=config.mail_from, to=audience.emails, msg_id=msg_id)
        mailer.send(message, on_accepted=record_sent)
    except (SendError, InvalidArgument) as exc:
        if accepted:
            raise
        reason = str(exc)
    except Exception as exc:  # one delivery must never stop the others
        if accepted:  # sent, but not recorded (the database failed): never mark it failed
            raise
        log.exception("the %s report for %s failed", period.kind, audience.recipient)
        reason = f"cannot build or send this report: {type(exc).__name__}: {exc}"
    else:
        if not accepted:  # a mailer that does not call back: recorded after it returns
            record_sent()
        return outcome("sent", late=late, rows=rows)
    status = _failed(desk, period, audience, worker, now, reason)
    return outcome(status, late=late, rows=rows, error=reason)


def _check_addresses(audience: Audience) -> None:
    """Addresses stored before they were checked on write are checked here."""
    for address in audience.emails:
        try:
            email_address(address)
        except InvalidArgument as exc:
            where = "CERTDESK_OPERATOR_EMAILS" if audience.tenant_id is None else "its contacts"
            raise InvalidArgument(f"cannot mail {audience.name}: {exc}; correct {where}") from exc


def _claim(
    desk: Desk,
    config: ReportConfig,
    period: Period,
    audience: Audience,
    now: datetime,
    worker: str,
) -> str | None:
    """Claim the delivery; None when this worker now owns it, else why not."""
    try:
        with desk.context(SCHEDULER, at=now) as ctx:
            ctx.session.add(
                ReportDelivery(
                    kind=period.kind,
                    period=period.key,
                    recipient=audience.recipient,
                    tenant_id=audience.tenant_id,
                    status="claimed",
                    claimed_by=worker,
                    claimed_at=now,
                    attempts=0,
                )
            )
            ctx.session.flush()
        return None
    except IntegrityError:
        pass
    with desk.context(SCHEDULER, at=now) as ctx:
        row = ctx.session.scalars(
            select(ReportDelivery).where(
                ReportDelivery.kind == period.kind,
                ReportDelivery.period == period.key,
                ReportDelivery.recipient == audience.recipient,
            )
        ).one()
        if row.status in ("sent", "empty"):
            return "already-done"
        stale = row.status == "claimed" and row.claimed_at <= now - config.lease
        retry = (
            row.status == "failed"
            and row.next_attempt_at is not None
            and row.next_attempt_at <= now
        )
        if not (stale or retry):
            if row.status == "failed":
                return "gave-up" if row.next_attempt_at is None else "retry-pending"
            return "claimed-elsewhere"
        # Take it over only if nobody else did meanwhile (compare and swap).
        taken = ctx.session.execute(
            update(ReportDelivery)
            .where(
                ReportDelivery.id == row.id,
                ReportDelivery.status == row.status,
                ReportDelivery.claimed_by == row.claimed_by,
                ReportDelivery.claimed_at == row.claimed_at,
                ReportDelivery.attempts == row.attempts,
            )
            .values(status="claimed", claimed_by=worker, claimed_at=now)
            .execution_options(synchronize_session=False)
        )
        return None if cast(CursorResult[Any], taken).rowcount == 1 else "claimed-elsewhere"


def _finish(
    desk: Desk,
    period: Period,
    audience: Audience,
    worker: str,
    now: datetime,
    *,
    status: str,
    late: bool,
    rows: int,
    message_id: str | None = None,
) -> None:
    with desk.context(SCHEDULER, at=now) as ctx:
        row = _owned(ctx.session, period, audience, worker)
        if row is None:
            return
        row.status = status
        row.sent_at = now
        row.late = late
        row.rows = rows
        row.message_id = message_id
        row.attempts += 1
        row.next_attempt_at = None
        ctx.audit(
            f"report.{status}",
            "report",
            row.id,
            audience.tenant_id,
            kind=period.kind,
            period=period.key,
            recipient=audience.recipient,
            rows=rows,
            late=late,
            recipients=len(audience.emails),
        )


def _failed(
    desk: Desk, period: Period, audience: Audience, worker: str, now: datetime, error: str
) -> str:
    with desk.context(SCHEDULER, at=now) as ctx:
        row = _owned(ctx.session, period, audience, worker)
        if row is None:
            return "claimed-elsewhere"
        row.attempts += 1
        row.status = "failed"
        row.last_error = error[:2000]
        if row.attempts >= MAX_ATTEMPTS:
            row.next_attempt_at = None
            ctx.audit(
                "report.gave-up",
                "report",
                row.id,
                audience.tenant_id,
                kind=period.kind,
                period=period.key,
                recipient=audience.recipient,
                attempts=row.attempts,
            )
            return "gave-up"
        row.next_attempt_at = now + backoff(row.attempts)
        return "failed"


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8… minutes after each failure, at most 30."""
    return timedelta(minutes=min(30, 2 ** (attempts - 1)))


def _owned(
    session: Session, period: Period, audience: Audience, worker: str
) -> ReportDelivery | None:
    return session.scalars(
        select(ReportDelivery).where(
            ReportDelivery.kind == period.kind,
            ReportDelivery.period == period.key,
            ReportDelivery.recipient == audience.recipient,
            ReportDelivery.claimed_by == worker,
            ReportDelivery.status == "claimed",
        )
    ).one_or_none()


def history(desk: Desk, actor: Actor, *, limit: int = 200) -> Sequence[ReportDelivery]:
    """Delivered (and failed) reports, newest first; a reseller sees only its own."""
    with desk.context(actor, readonly=True) as ctx:
        stmt = select(ReportDelivery).order_by(ReportDelivery.id.desc()).limit(limit)
        return ctx.session.scalars(ctx.scoped(stmt, ReportDelivery.tenant_id)).all()
