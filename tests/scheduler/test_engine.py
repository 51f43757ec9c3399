"""The job engine with a job kind of the test's own, as the lead registers install retries
and renewals: one failing unit is recorded and never stops the others, failures are
retried with backoff, a claim whose process died is taken over after its lease, units
are done once by concurrent workers, and a period that ended before the first start is
not run. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from certdesk.api.metrics import prometheus_text
from certdesk.desk import Actor, Desk
from certdesk.desk.metrics import metrics_snapshot
from certdesk.scheduler import engine
from certdesk.scheduler.engine import Job, Period, Registry, Run, Unit
from certdesk.store.jobs import EngineFact, JobUnit

OPERATOR = Actor(name="test-operator")
M = timedelta(minutes=1)
T0 = datetime(2031, 3, 4, 10, 1, tzinfo=UTC)  # one minute into an hour


class Crash(BaseException):
    """What a process killed in the middle of a unit looks like to the engine: it never
    comes back to record anything."""


class Targets:
    """Units ``a``…``e``; a unit in ``down`` fails, one in ``crash`` kills the worker."""

    def __init__(self, units: Sequence[str] = ("a", "b", "c", "d", "e")) -> None:
        self.units = list(units)
        self.down: set[str] = set()
        self.crash: set[str] = set()
        self.runs: Counter[str] = Counter()
        self.lock = threading.Lock()

    def due(self, desk: Desk, now: datetime) -> list[str]:
        return self.units

    def run(self, desk: Desk, unit: str, now: datetime) -> None:
        with self.lock:
            self.runs[unit] += 1
        if unit in self.crash:
            raise Crash(unit)
        if unit in self.down:
            raise RuntimeError(f"target {unit} is down")


def job_of(targets: Targets, **options: object) -> Job:
    return Job.every(
        "test.sweep",
        timedelta(hours=1),
        due=targets.due,
        run=targets.run,
        **options,  # type: ignore[arg-type]
    )


def rows(desk: Desk) -> dict[str, JobUnit]:
    with desk.store.transaction() as session:
        found = session.scalars(select(JobUnit).where(JobUnit.job == "test.sweep")).all()
        session.expunge_all()
    return {r.unit: r for r in found}


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_failing_unit_is_recorded_retried_and_never_stops_the_others(desk: Desk) -> None:
    targets = Targets()
    targets.down.add("c")
    job = job_of(targets)
    first = engine.tick(desk, [job], now=T0, worker="w1")
    assert {o.unit: o.status for o in first} == {
        "a": "done",
        "b": "done",
        "c": "failed",
        "d": "done",
        "e": "done",
    }
    [failed] = [o for o in first if o.unit == "c"]
    assert failed.error == "RuntimeError: target c is down"
    got = rows(desk)
    assert (got["c"].status, got["c"].attempts, got["c"].next_attempt_at) == ("failed", 1, T0 + M)
    assert got["c"].last_error == "RuntimeError: target c is down"
    assert {got[u].status for u in "abde"} == {"done"}

    # Before its retry is due nothing runs again; then the retry fails once more (2 min).
    waiting = engine.tick(desk, [job], now=T0 + M / 2, worker="w2")
    assert {o.unit: o.status for o in waiting}["c"] == "retry-pending"
    assert {o.status for o in waiting if o.unit != "c"} == {"already-done"}
    again = engine.tick(desk, [job], now=T0 + M, worker="w2")
    assert {o.unit: o.status for o in again}["c"] == "failed"
    assert rows(desk)["c"].next_attempt_at == T0 + M + 2 * M

    # The target is back: the unit is done at its next retry, and only then.
    targets.down.clear()
    done = engine.tick(desk, [job], now=T0 + 3 * M, worker="w1")
    assert {o.unit: o.status for o in done}["c"] == "done"
    assert targets.runs == Counter({"a": 1, "b": 1, "c": 3, "d": 1, "e": 1})
    got = rows(desk)
    assert {(r.status, r.last_error) for r in got.values()} == {("done", None)}
    assert got["c"].attempts == 3

    # A new period (the next hour) does every unit again, once.
    engine.tick(desk, [job], now=T0 + 60 * M, worker="w1")
    assert targets.runs == Counter({"a": 2, "b": 2, "c": 4, "d": 2, "e": 2})


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_gives_up_and_says_so_in_status_and_metrics(desk: Desk) -> None:
    targets = Targets(["ok", "bad"])
    targets.down.add("bad")
    job = job_of(targets, max_attempts=2)
    engine.tick(desk, [job], now=T0)
    [status] = engine.status(desk, OPERATOR, [job], now=T0)
    assert (status.pending, status.failed) == (1, 1)
    assert status.units == {"done": 1, "failed": 1}
    assert status.last_success == T0
    assert status.next_run == datetime(2031, 3, 4, 11, 0, tzinfo=UTC)
    gave_up = engine.tick(desk, [job], now=T0 + M)
    assert {o.unit: o.status for o in gave_up} == {"ok": "already-done", "bad": "gave-up"}
    later = engine.tick(desk, [job], now=T0 + 30 * M)
    assert {o.unit: o.status for o in later}["bad"] == "gave-up"
    assert targets.runs["bad"] == 2

    [status] = engine.status(desk, OPERATOR, [job], now=T0 + 30 * M)
    assert (status.pending, status.failed, status.last_period) == (0, 1, "2031-03-04T10:00:00Z")
    [problem] = status.problems
    assert (problem.unit, problem.status, problem.attempts) == ("bad", "gave-up", 2)
    assert problem.last_error == "RuntimeError: target bad is down"
    text = prometheus_text(desk.run(OPERATOR, metrics_snapshot))
    assert 'certdesk_job_units_failed{job="test.sweep"} 1' in text.splitlines()
    assert 'certdesk_job_units_pending{job="test.sweep"} 0' in text.splitlines()
    stamp = int(T0.timestamp())
    assert f'certdesk_job_last_success_timestamp_seconds{{job="test.sweep"}} {stamp}' in (
        text.splitlines()
    )


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_claim_whose_worker_died_is_taken_over_after_its_lease(desk: Desk) -> None:
    targets = Targets(["x", "y"])
    targets.crash.add("x")
    job = job_of(targets, lease=timedelta(minutes=5))
    with pytest.raises(Crash):
        engine.tick(desk, [job], now=T0, worker="dead")
    assert (rows(desk)["x"].status, rows(desk)["x"].claimed_by) == ("claimed", "dead")
    targets.crash.clear()
    early = engine.tick(desk, [job], now=T0 + 5 * M - timedelta(seconds=1), worker="alive")
    assert {o.unit: o.status for o in early} == {"x": "claimed-elsewhere", "y": "done"}
    later = engine.tick(desk, [job], now=T0 + 5 * M, worker="alive")
    assert {o.unit: o.status for o in later} == {"x": "done", "y": "already-done"}
    x = rows(desk)["x"]
    assert (x.status, x.claimed_by, x.attempts) == ("done", "alive", 1)
    assert targets.runs == Counter({"x": 2, "y": 1})


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_concurrent_workers_do_each_unit_once(desk: Desk) -> None:
    targets = Targets([f"u{n:02d}" for n in range(40)])
    job = job_of(targets)
    results: list[list[engine.Outcome]] = []
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            results.append(engine.tick(desk, [job], now=T0, worker=name))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert targets.runs == Counter(dict.fromkeys(targets.units, 1))
    done = Counter(o.unit for outcomes in results for o in outcomes if o.status == "done")
    assert done == Counter(dict.fromkeys(targets.units, 1))
    assert {r.status for r in rows(desk).values()} == {"done"}


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_period_that_ended_before_the_first_start_is_not_run(desk: Desk) -> None:
    with desk.store.transaction() as session:  # a database certdesk never ticked on
        session.execute(delete(EngineFact))
    runs: list[str] = []
    start = T0
    old = Period("old", start - 120 * M, start - 90 * M)  # ended 1.5 hours before
    open_ = Period("open", start - 10 * M, start + 20 * M)  # due, and still open

    def run(r: Run) -> None:
        runs.append(r.period.key)

    job = Job(
        "test.calendar",
        periods=lambda now: [old, open_],
        units=lambda desk, period, now: [Unit("all")],
        run=run,
    )
    first = engine.tick(desk, [job], now=start)
    assert {o.period: (o.status, o.late) for o in first} == {
        "old": ("before-first-start", True),
        "open": ("done", False),
    }
    assert engine.known_first_start(desk) == start
    # Later ticks keep the first start; the old period is never run, nor recorded.
    later = engine.tick(desk, [job], now=start + 60 * M)
    assert {o.period: o.status for o in later} == {
        "old": "before-first-start",
        "open": "already-done",
    }
    assert runs == ["open"]
    assert engine.known_first_start(desk) == start
    with desk.store.transaction() as session:
        periods = session.scalars(select(JobUnit.period).where(JobUnit.job == "test.calendar"))
        assert list(periods) == ["open"]
        assert session.scalar(select(func.count()).select_from(EngineFact)) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_preview_claims_and_runs_nothing(desk: Desk) -> None:
    targets = Targets(["a", "b"])
    targets.down.add("b")
    job = job_of(targets)
    engine.tick(desk, [job], now=T0)
    before = {u: (r.status, r.attempts) for u, r in rows(desk).items()}
    seen = engine.preview(desk, [job], now=T0 + 2 * M)
    assert {o.unit: o.status for o in seen} == {"a": "already-done", "b": "would-run"}
    ahead = engine.preview(desk, [job], now=T0 + 120 * M)  # another period: nobody did it
    assert {o.unit: o.status for o in ahead} == {"a": "would-run", "b": "would-run"}
    assert {u: (r.status, r.attempts) for u, r in rows(desk).items()} == before
    assert targets.runs == Counter({"a": 1, "b": 1})


def test_a_job_name_is_registered_once() -> None:
    targets = Targets()
    registry = Registry([job_of(targets)])
    with pytest.raises(ValueError, match=r"test\.sweep"):
        registry.add(job_of(targets))
    assert registry.names() == ("test.sweep",)
