"""The job engine: every periodic job of certdesk, each unit of work done once.

A job kind is a :class:`Job`: its name, which periods are due at an instant
(``periods``), the units of work of a period (``units``) and the function that runs one
unit (``run``). A tick asks every job for its due periods and their units, and runs each
unit that nobody has done yet:

- a unit is first *claimed*: a row with a unique (job, period, unit) is inserted into
  ``job_units`` in its own transaction, and only the process whose insert succeeded runs
  it, so several certdesk processes on one database never run a unit twice;
- a claim whose runner died is taken over once its lease has passed (compare and swap);
- a unit that fails is recorded (``failed``, its error, the attempts) and retried with
  backoff on a later tick, until it gives up (``gave-up``); it never stops the tick;
- a unit run after its period's deadline is marked late;
- a period whose deadline passed before certdesk's first start (the first tick on this
  database, kept in ``engine_facts``) is not run at all: it is not "missed", it was
  before certdesk existed;
- a period left unfinished when it was no longer due (a unit claimed by a process that
  died, or failed and waiting for its retry, when the job's next period came) is still
  finished, marked late: its units left over are taken over and those nobody claimed
  are run, until the instant its job keeps it for (``Job.keep``: a report while the
  dates it lists are still ahead; by default until the next period is due). After it,
  the units left over are closed as ``overtaken``, recorded and not run (a shard of a
  sweep that the next sweep replaces). Each claim keeps its period's bounds for this
  (``job_units.period_due``, ``period_deadline``, ``keep_until``).

A job that is not tied to a calendar (retry what is due now) is made with
:meth:`Job.every`: its periods are slices of ``interval`` and its units come from a
``due(desk, now)`` function.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certdesk.desk.context import Actor, Ctx, Desk
from certdesk.errors import CertdeskError
from certdesk.pki import iso_utc
from certdesk.store.jobs import EngineFact, JobUnit

log = logging.getLogger("certdesk.scheduler")
ENGINE = Actor(name="scheduler")
FIRST_START = "first-start"

# What a tick says of one unit: the job's own word for a done unit (``done``, ``sent``,
# ``empty``…), or one of these.
FAILED = "failed"  # this attempt failed; retried at next_attempt_at
GAVE_UP = "gave-up"  # failed too often: not retried
RETRY_PENDING = "retry-pending"  # failed earlier; its retry is not due yet
ALREADY_DONE = "already-done"
CLAIMED_ELSEWHERE = "claimed-elsewhere"  # another process holds it (its lease runs)
BEFORE_FIRST_START = "before-first-start"  # its period ended before certdesk first started
WOULD_RUN = "would-run"  # a preview: due, and nobody has done it
OVERTAKEN = "overtaken"  # left unfinished in a past period, and closed unrun


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def default_backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8… minutes after each failure, at most 30."""
    return timedelta(minutes=min(30, 2 ** (attempts - 1)))


@dataclass(frozen=True, slots=True)
class Period:
    """One occurrence of a job: its key (``2026-12-01``), when it is due, and the
    deadline after which a unit of it is done late (None: never late)."""

    key: str
    due: datetime  # UTC
    deadline: datetime | None = None

    def is_late(self, now: datetime) -> bool:
        return self.deadline is not None and now > self.deadline


@dataclass(frozen=True, slots=True)
class Unit:
    """One unit of work of a period: its key (unique in the period), the tenant it is
    for (what a reseller may see of it), what the run needs (``payload``) and what the
    audit log names it by (``labels``)."""

    key: str
    tenant_id: int | None = None
    payload: Any = None
    labels: Mapping[str, Any] = field(default_factory=dict)


class UnitFailed(Exception):
    """Raised by a job's ``run`` with the reason a unit failed, in words for its reader."""


class ClaimLost(Exception):
    """Raised by :meth:`Run.renew` when another process took the unit over (its lease
    had passed): that process does it, and this one stops."""


@dataclass
class Run:
    """What ``Job.run`` is given: the unit, the instant, and :meth:`done` to record it."""

    desk: Desk
    job: Job
    period: Period
    unit: Unit
    now: datetime
    late: bool
    worker: str
    overtaken: bool = False  # its period is no longer due: a unit left over, done late
    outcome: str | None = None
    finishing: bool = False
    pending: tuple[str, Mapping[str, Any]] | None = None  # marked by done_in, not yet committed
    detail: Mapping[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def renew(self) -> None:
        """Say that this worker still does the unit: its lease starts again from the
        present (``now`` plus the time the run took so far). A run that waited long (the
        daily report, for its sweep) calls it before it does what must happen once;
        raises :class:`ClaimLost` if another process has taken the unit over meanwhile."""
        at = self.now + timedelta(seconds=time.monotonic() - self.started)
        with self.desk.context(ENGINE, at=at) as ctx:
            renewed = ctx.session.execute(
                update(JobUnit)
                .where(*_held(self))
                .values(claimed_at=at)
                .execution_options(synchronize_session=False)
            )
            if cast(CursorResult[Any], renewed).rowcount != 1:
                raise ClaimLost(
                    f"{self.job.name} {self.period.key} {self.unit.key} was taken over by "
                    "another process while this one waited"
                )

    def done_in(self, ctx: Ctx, outcome: str = "done", **detail: Any) -> None:
        """Record the unit done inside ``ctx``'s transaction, so that what the run wrote
        there and the unit's end commit together or not at all: a process killed between
        the two can no longer leave work recorded and its unit open for another process to
        do again. Raises :class:`ClaimLost` if another process has taken the unit over (the
        caller's transaction is then rolled back: the unit is that process's to do)."""
        if self.outcome is not None or self.pending is not None:
            return
        if not _mark_done(ctx, self, outcome, detail):
            raise ClaimLost(
                f"{self.job.name} {self.period.key} {self.unit.key} was taken over by "
                "another process while this one ran"
            )
        # Recorded once the caller's transaction commits; until then "done, not recorded".
        self.finishing = True
        self.pending = (outcome, detail)

    def done(self, outcome: str = "done", **detail: Any) -> None:
        """Record the unit done, now (a mailer calls it the moment its message is
        accepted, so that a crash after it cannot do the unit again)."""
        if self.outcome is not None:
            return
        self.finishing = True
        _finish(self, outcome, detail)
        self.outcome = outcome
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Job:
    """A kind of job: registering one is ``Registry.add(Job(...))``."""

    name: str
    periods: Callable[[datetime], Sequence[Period]]  # due at ``now``: usually the latest
    units: Callable[[Desk, Period, datetime], Sequence[Unit]]
    run: Callable[[Run], None]
    next_due: Callable[[datetime], datetime | None] = lambda now: None
    lease: timedelta = timedelta(minutes=10)
    max_attempts: int = 8
    backoff: Callable[[int], timedelta] = default_backoff
    audit: str | None = None  # the audit log's object type; None: not audited
    # Until when a unit of ``period`` left unfinished (its runner died, or it failed) is
    # still run once the period is no longer due; after it, it is closed as overtaken.
    # None: until the next period is due (``next_due``), i.e. the next period replaces it.
    keep: Callable[[Period], datetime | None] | None = None

    def keep_until(self, period: Period) -> datetime | None:
        if self.keep is not None:
            return self.keep(period)
        return self.next_due(period.due)

    @classmethod
    def every(
        cls,
        name: str,
        interval: timedelta,
        *,
        due: Callable[[Desk, datetime], Iterable[str]],
        run: Callable[[Desk, str, datetime], object],
        **options: Any,
    ) -> Job:
        """A job that does, every ``interval``, each unit ``due(desk, now)`` names, by
        ``run(desk, unit, now)`` (an install retry, an ACME renewal): one call. A ``run``
        that returns a word (``installed``, ``install-failed``…) has the unit recorded
        done with that outcome; anything else is recorded ``done``."""
        seconds = interval.total_seconds()
        if seconds <= 0:
            raise ValueError("a job's interval must be positive")

        def start(now: datetime) -> datetime:
            stamp = now.timestamp()
            return datetime.fromtimestamp(stamp - stamp % seconds, UTC)

        def periods(now: datetime) -> Sequence[Period]:
            begins = start(now)
            return [Period(iso_utc(begins), begins)]

        def units(desk: Desk, period: Period, now: datetime) -> Sequence[Unit]:
            return [Unit(key) for key in due(desk, now)]

        def run_one(r: Run) -> None:
            said = run(r.desk, r.unit.key, r.now)
            if isinstance(said, str) and said:
                r.done(said)

        return cls(
            name,
            periods,
            units,
            run_one,
            next_due=lambda now: start(now) + interval,
            **options,
        )


class Registry:
    """The job kinds a process runs, by name, in the order they were added."""

    def __init__(self, jobs: Iterable[Job] = ()) -> None:
        self._jobs: dict[str, Job] = {}
        for job in jobs:
            self.add(job)

    def add(self, job: Job) -> None:
        if job.name in self._jobs:
            raise ValueError(f"a job named {job.name!r} is registered already")
        self._jobs[job.name] = job

    def __iter__(self) -> Any:
        return iter(self._jobs.values())

    def __len__(self) -> int:
        return len(self._jobs)

    def names(self) -> tuple[str, ...]:
        return tuple(self._jobs)


@dataclass(frozen=True, slots=True)
class Outcome:
    job: str
    period: str
    unit: str
    status: str
    late: bool = False
    error: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


# --- first start ------------------------------------------------------------------------


def first_start(desk: Desk, now: datetime) -> datetime:
    """The instant certdesk first ticked on this database; ``now`` if this is it."""
    with desk.context(ENGINE, at=now) as ctx:
        fact = ctx.session.get(EngineFact, FIRST_START)
        if fact is not None:
            return fact.at
    try:
        with desk.context(ENGINE, at=now) as ctx:
            ctx.session.add(EngineFact(name=FIRST_START, at=now))
        return now
    except IntegrityError:  # another process started at the same time
        with desk.context(ENGINE, at=now, readonly=True) as ctx:
            fact = ctx.session.get(EngineFact, FIRST_START)
            assert fact is not None
            return fact.at


def known_first_start(desk: Desk) -> datetime | None:
    with desk.context(ENGINE, readonly=True) as ctx:
        fact = ctx.session.get(EngineFact, FIRST_START)
        return fact.at if fact is not None else None


# --- a tick -----------------------------------------------------------------------------


def tick(
    desk: Desk, jobs: Iterable[Job], *, now: datetime, worker: str | None = None
) -> list[Outcome]:
    """Run every unit of every job due at ``now`` that is not done yet."""
    worker = worker or worker_name()
    began = first_start(desk, now)
    jobs = list(jobs)
    outcomes: list[Outcome] = []
    for job in jobs:
        outcomes.extend(_left_over(desk, job, now, worker, began))
    for job, period, units in _due(desk, jobs, now, outcomes):
        for unit in units:
            outcomes.append(_run_unit(desk, job, period, unit, now, worker, began))
    return outcomes


def preview(desk: Desk, jobs: Iterable[Job], *, now: datetime) -> list[Outcome]:
    """What a tick at ``now`` would do, claiming, running and recording nothing."""
    began = known_first_start(desk) or now
    jobs = list(jobs)
    outcomes: list[Outcome] = []
    for job in jobs:
        for left in _left_rows(desk, job, now):
            if _busy(job, left, now) is None:
                closes = _closes(left, now)
                status = OVERTAKEN if closes else WOULD_RUN
                outcomes.append(Outcome(job.name, left.period, left.unit, status, not closes))
    for job, period, units in _due(desk, jobs, now, outcomes):
        with desk.context(ENGINE, at=now, readonly=True) as ctx:
            rows = {
                row.unit: row
                for row in ctx.session.scalars(
                    select(JobUnit).where(JobUnit.job == job.name, JobUnit.period == period.key)
                )
            }
        for unit in units:
            row = rows.get(unit.key)
            if row is None:
                status = BEFORE_FIRST_START if _before(period, began) else WOULD_RUN
            else:
                status = _busy(job, row, now) or WOULD_RUN
            outcomes.append(Outcome(job.name, period.key, unit.key, status, period.is_late(now)))
    return outcomes


def _due(
    desk: Desk, jobs: Iterable[Job], now: datetime, outcomes: list[Outcome]
) -> Iterable[tuple[Job, Period, Sequence[Unit]]]:
    """Each job's due periods and their units; a job that cannot say is one failed
    outcome, and the other jobs go on."""
    for job in jobs:
        try:
            periods = job.periods(now)
        except Exception as exc:
            log.exception("job %s cannot say what is due", job.name)
            outcomes.append(Outcome(job.name, "", "", FAILED, error=_reason(exc)))
            continue
        for period in periods:
            try:
                units = job.units(desk, period, now)
            except Exception as exc:
                log.exception("job %s cannot list the units of %s", job.name, period.key)
                outcomes.append(Outcome(job.name, period.key, "", FAILED, error=_reason(exc)))
                continue
            yield job, period, units


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnitFailed | CertdeskError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _before(period: Period, began: datetime) -> bool:
    return period.deadline is not None and period.deadline < began


def _run_unit(
    desk: Desk,
    job: Job,
    period: Period,
    unit: Unit,
    now: datetime,
    worker: str,
    began: datetime,
    *,
    overtaken: bool = False,
) -> Outcome:
    late = overtaken or period.is_late(now)
    refused = _claim(desk, job, period, unit, now, worker, began)
    if refused is not None:
        return Outcome(job.name, period.key, unit.key, refused, late)
    return _execute(Run(desk, job, period, unit, now, late, worker, overtaken))


def _execute(run: Run) -> Outcome:
    """Run a unit this worker has claimed, and record how it ended."""
    job, period, unit, late = run.job, run.period, run.unit, run.late
    try:
        job.run(run)
    except ClaimLost as exc:
        log.warning("%s: not done here", exc)
        return Outcome(job.name, period.key, unit.key, CLAIMED_ELSEWHERE, late, str(exc))
    except Exception as exc:
        if run.outcome is not None:  # done and recorded: what fails after it is only logged
            log.exception("job %s unit %s failed after it was done", job.name, unit.key)
            return Outcome(job.name, period.key, unit.key, run.outcome, late, detail=run.detail)
        if run.finishing:  # done, but not recorded (the database failed): never "failed"
            log.exception("job %s unit %s was done but not recorded", job.name, unit.key)
            return Outcome(job.name, period.key, unit.key, "claimed", late, _reason(exc))
        if not isinstance(exc, UnitFailed | CertdeskError):
            log.exception("job %s unit %s failed", job.name, unit.key)
        reason = _reason(exc)
        status = _failed(run, reason)
        return Outcome(job.name, period.key, unit.key, status, late, reason)
    if run.outcome is None and run.pending is not None:  # done_in's transaction committed
        run.outcome, run.detail = run.pending
    if run.outcome is None:
        run.done()
    assert run.outcome is not None
    return Outcome(job.name, period.key, unit.key, run.outcome, late, detail=run.detail)


def _claim(
    desk: Desk,
    job: Job,
    period: Period,
    unit: Unit,
    now: datetime,
    worker: str,
    began: datetime,
) -> str | None:
    """Claim the unit; None when this worker now owns it, else why not."""
    if _before(period, began):
        with desk.context(ENGINE, at=now, readonly=True) as ctx:
            if _row(ctx.session, job, period, unit.key) is None:
                return BEFORE_FIRST_START
    try:
        with desk.context(ENGINE, at=now) as ctx:
            ctx.session.add(
                JobUnit(
                    job=job.name,
                    period=period.key,
                    unit=unit.key,
                    tenant_id=unit.tenant_id,
                    status="claimed",
                    claimed_by=worker,
                    claimed_at=now,
                    attempts=0,
                    late=False,
                    detail={},
                    period_due=period.due,
                    period_deadline=period.deadline,
                    keep_until=job.keep_until(period),
                )
            )
            ctx.session.flush()
        return None
    except IntegrityError:
        pass
    with desk.context(ENGINE, at=now) as ctx:
        row = _row(ctx.session, job, period, unit.key)
        assert row is not None
        busy = _busy(job, row, now)
        if busy is not None:
            return busy
        taken = _swap(ctx.session, row, status="claimed", claimed_by=worker, claimed_at=now)
        return None if taken else CLAIMED_ELSEWHERE


def _swap(session: Session, row: JobUnit, **values: Any) -> bool:
    """Change ``row`` only if nobody else did since it was read (compare and swap)."""
    changed = session.execute(
        update(JobUnit)
        .where(
            JobUnit.id == row.id,
            JobUnit.status == row.status,
            JobUnit.claimed_by == row.claimed_by,
            JobUnit.claimed_at == row.claimed_at,
            JobUnit.attempts == row.attempts,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], changed).rowcount == 1


def _busy(job: Job, row: JobUnit, now: datetime) -> str | None:
    """Why the unit of ``row`` cannot be run at ``now``; None when it can be taken."""
    if row.status == "done":
        return ALREADY_DONE
    if row.status in (GAVE_UP, OVERTAKEN):
        return str(row.status)
    if row.status == FAILED:
        due = row.next_attempt_at is not None and row.next_attempt_at <= now
        return None if due else RETRY_PENDING
    stale = row.claimed_at <= now - job.lease
    return None if stale else CLAIMED_ELSEWHERE


# --- units left over in past periods ---------------------------------------------------------


def _left_rows(desk: Desk, job: Job, now: datetime) -> list[JobUnit]:
    """The job's units left unfinished (claimed or failed) in periods that are not due at
    ``now``, oldest first."""
    try:
        current = [period.key for period in job.periods(now)]
    except Exception:  # said by the tick's own look at the job's periods
        return []
    with desk.context(ENGINE, at=now, readonly=True) as ctx:
        rows = ctx.session.scalars(
            select(JobUnit)
            .where(
                JobUnit.job == job.name,
                JobUnit.status.in_(("claimed", FAILED)),
                JobUnit.period.not_in(current),
            )
            .order_by(JobUnit.id)
        ).all()
        ctx.session.expunge_all()
    return list(rows)


def _closes(row: JobUnit, now: datetime) -> bool:
    """Whether ``row``, left over in a past period, is closed rather than run at ``now``."""
    return row.period_due is None or row.keep_until is None or now > row.keep_until


def _left_over(desk: Desk, job: Job, now: datetime, worker: str, began: datetime) -> list[Outcome]:
    """Finish, late, the past periods of the job left unfinished (a unit claimed by a
    process that died, or failed and waiting for its retry) while the job keeps them: the
    units left over are taken over once their lease or retry time has come, and the units
    nobody claimed yet are run; past the instant the job keeps them for, the units left
    over are closed as overtaken."""
    outcomes: list[Outcome] = []
    by_period: dict[str, list[JobUnit]] = {}
    for row in _left_rows(desk, job, now):
        by_period.setdefault(row.period, []).append(row)
    for key, rows in by_period.items():
        kept = [row for row in rows if not _closes(row, now)]
        for row in rows:
            if row in kept:
                continue
            busy = _busy(job, row, now)
            if busy is not None:
                outcomes.append(Outcome(job.name, key, row.unit, busy, row.late))
            else:
                outcomes.append(_close(desk, job, row, now, "its period is over"))
        if not kept:
            continue
        due, deadline = kept[0].period_due, kept[0].period_deadline
        assert due is not None  # else it closes
        period = Period(key, due, deadline)
        try:
            units = {unit.key: unit for unit in job.units(desk, period, now)}
        except Exception as exc:
            log.exception("job %s cannot list the units of %s", job.name, key)
            outcomes.append(Outcome(job.name, key, "", FAILED, error=_reason(exc)))
            continue
        for row in kept:
            busy = _busy(job, row, now)
            if busy is not None:
                outcomes.append(Outcome(job.name, key, row.unit, busy, True))
                continue
            unit = units.get(row.unit)
            if unit is None:  # gone meanwhile (a tenant removed): nothing left to do
                outcomes.append(_close(desk, job, row, now, "it is no longer there"))
                continue
            with desk.context(ENGINE, at=now) as ctx:
                taken = _swap(ctx.session, row, status="claimed", claimed_by=worker, claimed_at=now)
            if not taken:
                outcomes.append(Outcome(job.name, key, row.unit, CLAIMED_ELSEWHERE, True))
                continue
            outcomes.append(_execute(Run(desk, job, period, unit, now, True, worker, True)))
        with desk.context(ENGINE, at=now, readonly=True) as ctx:
            recorded = set(
                ctx.session.scalars(
                    select(JobUnit.unit).where(JobUnit.job == job.name, JobUnit.period == key)
                )
            )
        for unit_key, unit in units.items():
            if unit_key not in recorded:
                outcomes.append(
                    _run_unit(desk, job, period, unit, now, worker, began, overtaken=True)
                )
    return outcomes


def _close(desk: Desk, job: Job, row: JobUnit, now: datetime, why: str) -> Outcome:
    """Close a unit left over in a past period as overtaken: recorded, not run."""
    with desk.context(ENGINE, at=now) as ctx:
        reason = f"not done in its period, and {why}"
        closed = _swap(
            ctx.session,
            row,
            status=OVERTAKEN,
            finished_at=now,
            next_attempt_at=None,
            last_error=row.last_error or reason,
        )
        if not closed:
            return Outcome(job.name, row.period, row.unit, CLAIMED_ELSEWHERE, row.late)
        if job.audit:
            ctx.audit(
                f"{job.audit}.{OVERTAKEN}",
                job.audit,
                row.id,
                row.tenant_id,
                period=row.period,
                unit=row.unit,
                attempts=row.attempts,
            )
    log.info("job %s %s %s closed as overtaken: %s", job.name, row.period, row.unit, reason)
    return Outcome(job.name, row.period, row.unit, OVERTAKEN, row.late, reason)


def _row(session: Session, job: Job, period: Period, unit: str) -> JobUnit | None:
    return session.scalars(
        select(JobUnit).where(
            JobUnit.job == job.name, JobUnit.period == period.key, JobUnit.unit == unit
        )
    ).one_or_none()


def _held(run: Run) -> tuple[ColumnElement[bool], ...]:
    """The unit of ``run``, while its worker still holds the claim."""
    return (
        JobUnit.job == run.job.name,
        JobUnit.period == run.period.key,
        JobUnit.unit == run.unit.key,
        JobUnit.claimed_by == run.worker,
        JobUnit.status == "claimed",
    )


def _owned(session: Session, run: Run) -> JobUnit | None:
    return session.scalars(select(JobUnit).where(*_held(run))).one_or_none()


def _finish(run: Run, outcome: str, detail: Mapping[str, Any]) -> None:
    with run.desk.context(ENGINE, at=run.now) as ctx:
        _mark_done(ctx, run, outcome, detail)


def _mark_done(ctx: Ctx, run: Run, outcome: str, detail: Mapping[str, Any]) -> bool:
    """Mark the unit done if this worker still holds it (one conditional update, so a
    takeover committed meanwhile is never overwritten) and audit it; False if it does not."""
    marked = ctx.session.execute(
        update(JobUnit)
        .where(*_held(run))
        .values(
            status="done",
            outcome=outcome,
            finished_at=run.now,
            late=run.late,
            detail=dict(detail),
            attempts=JobUnit.attempts + 1,
            next_attempt_at=None,
            last_error=None,
        )
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], marked).rowcount != 1:
        return False
    row = _row(ctx.session, run.job, run.period, run.unit.key)
    assert row is not None
    _audit(ctx, run, row, outcome, late=run.late, **detail)
    return True


def _audit(ctx: Ctx, run: Run, row: JobUnit, outcome: str, **detail: Any) -> None:
    """The audit event of a unit's end, for a job that is audited."""
    if run.job.audit:
        ctx.audit(
            f"{run.job.audit}.{outcome}",
            run.job.audit,
            row.id,
            run.unit.tenant_id,
            **run.unit.labels,
            period=run.period.key,
            **detail,
        )


def _failed(run: Run, error: str) -> str:
    with run.desk.context(ENGINE, at=run.now) as ctx:
        row = _owned(ctx.session, run)
        if row is None:
            return CLAIMED_ELSEWHERE
        row.attempts += 1
        row.last_error = error[:2000]
        row.late = run.late
        row.finished_at = run.now
        if row.attempts >= run.job.max_attempts:
            row.status = GAVE_UP
            row.next_attempt_at = None
            _audit(ctx, run, row, GAVE_UP, attempts=row.attempts)
            return GAVE_UP
        row.status = FAILED
        row.next_attempt_at = run.now + run.job.backoff(row.attempts)
        return FAILED


# --- what the engine has done -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitState:
    period: str
    unit: str
    status: str  # claimed | done | failed | gave-up | overtaken
    outcome: str | None
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    at: datetime  # finished, or claimed when not finished


@dataclass(frozen=True, slots=True)
class JobStatus:
    """One job as ``scheduler status`` and ``/metrics`` show it."""

    job: str
    last_period: str | None
    last_run: datetime | None  # the latest unit claimed or finished
    last_success: datetime | None  # the latest unit done
    next_run: datetime | None  # when its next period is due
    units: Mapping[str, int]  # the latest period's units by status (or outcome when done)
    pending: int  # units claimed or waiting for a retry, in any period
    failed: int  # units failed or given up, in any period
    overtaken: int  # units left over in a past period and closed unrun, in any period
    problems: tuple[UnitState, ...]  # those failed, given up, overtaken or claimed, newest
    # first


def status(desk: Desk, actor: Actor, jobs: Iterable[Job], *, now: datetime) -> list[JobStatus]:
    """Every job's last run, next run and unit outcomes, as ``actor`` may see them (a
    reseller: only its own units)."""
    out: list[JobStatus] = []
    with desk.context(actor, at=now, readonly=True) as ctx:
        for job in jobs:
            mine = ctx.scoped(select(JobUnit).where(JobUnit.job == job.name), JobUnit.tenant_id)
            last = ctx.session.scalars(
                mine.order_by(JobUnit.claimed_at.desc(), JobUnit.id.desc()).limit(1)
            ).one_or_none()
            last_done = ctx.session.scalar(
                ctx.scoped(
                    select(func.max(JobUnit.finished_at)).where(
                        JobUnit.job == job.name, JobUnit.status == "done"
                    ),
                    JobUnit.tenant_id,
                )
            )
            counts: Counter[str] = Counter()
            if last is not None:
                for row in ctx.session.scalars(mine.where(JobUnit.period == last.period)):
                    counts[row.outcome if row.status == "done" and row.outcome else row.status] += 1
            overtaken = ctx.session.scalar(
                ctx.scoped(
                    select(func.count(JobUnit.id)).where(
                        JobUnit.job == job.name, JobUnit.status == OVERTAKEN
                    ),
                    JobUnit.tenant_id,
                )
            )
            open_rows = ctx.session.scalars(
                mine.where(JobUnit.status.in_(("claimed", FAILED, GAVE_UP)))
                .order_by(JobUnit.claimed_at.desc(), JobUnit.id.desc())
                .limit(1000)
            ).all()
            closed = ctx.session.scalars(
                mine.where(JobUnit.status == OVERTAKEN)
                .order_by(JobUnit.claimed_at.desc(), JobUnit.id.desc())
                .limit(20)
            ).all()
            shown = sorted(
                [*open_rows[:20], *closed], key=lambda r: (r.claimed_at, r.id), reverse=True
            )[:20]
            last_run = None
            if last is not None:
                last_run = max(last.claimed_at, last.finished_at or last.claimed_at)
            out.append(
                JobStatus(
                    job=job.name,
                    last_period=last.period if last is not None else None,
                    last_run=last_run,
                    last_success=last_done,
                    next_run=job.next_due(now),
                    units=dict(sorted(counts.items())),
                    pending=sum(
                        1
                        for r in open_rows
                        if r.status == "claimed"
                        or (r.status == FAILED and r.next_attempt_at is not None)
                    ),
                    failed=sum(1 for r in open_rows if r.status in (FAILED, GAVE_UP)),
                    overtaken=int(overtaken or 0),
                    problems=tuple(
                        UnitState(
                            r.period,
                            r.unit,
                            r.status,
                            r.outcome,
                            r.attempts,
                            r.last_error,
                            r.next_attempt_at,
                            r.finished_at or r.claimed_at,
                        )
                        for r in shown
                    ),
                )
            )
    return out
