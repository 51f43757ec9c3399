"""Probe sweeps: every monitored URL probed once per ``CERTDESK_PROBE_INTERVAL``, by the
job engine, so that what each URL serves is known without a cron job.

A sweep (the job ``probe.sweep``) is one period of the interval; its monitored domains
are split by their id modulo :data:`SHARDS` (64) into units of consecutive residues
(:func:`shard_plan`): large units first (4 residues, a 16th of the URLs: few claims and
transactions), then smaller ones, down to single residues at the end, so that when
several processes share a sweep none of them is left probing a large unit alone at
its end. Every process that ticks the engine finds the same units, claims those nobody
has, and each URL is probed once per sweep however many processes share the database.
Within a unit the tenants take turns, and at most ``CERTDESK_PROBE_CONCURRENCY``
handshakes run at once.

The daily report is built after the sweep due at its instant is complete
(:class:`SweepFirst`), so its "served" dates are those of that sweep.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from certdesk.application.probing import ProbeConfig, probe_and_record
from certdesk.desk.context import Ctx, Desk
from certdesk.monitor import ProbeResult
from certdesk.pki import iso_utc
from certdesk.scheduler import engine
from certdesk.scheduler.engine import ENGINE, Job, Period, Run, Unit
from certdesk.store.jobs import JobUnit

JOB = "probe.sweep"
SHARDS = 64


def shard_plan(shards: int) -> list[range]:
    """The units of a sweep over ``shards`` residues: consecutive residues, each unit at
    most a 16th of them and at most an 8th of those still left, at least one; e.g. for
    64: nine units of 4, two of 3, four of 2, then fourteen of 1."""
    plan: list[range] = []
    start = 0
    while start < shards:
        size = max(1, min(shards // 16, (shards - start) // 8))
        plan.append(range(start, start + size))
        start += size
    return plan


def unit_key(residues: range, shards: int) -> str:
    """``shard-03-of-64`` (one residue), ``shard-00-03-of-64`` (residues 0 to 3)."""
    first, last = residues[0], residues[-1]
    span = f"{first:02d}" if first == last else f"{first:02d}-{last:02d}"
    return f"shard-{span}-of-{shards:02d}"


def sweep_job(config: ProbeConfig, *, shards: int = SHARDS) -> Job:
    """The probe sweep as a job of the engine, over ``shards`` residues."""
    plan = shard_plan(shards)
    seconds = config.interval

    def start(now: datetime) -> datetime:
        stamp = now.timestamp()
        return datetime.fromtimestamp(stamp - stamp % seconds, UTC)

    def periods(now: datetime) -> Sequence[Period]:
        begins = start(now)
        # Late once the next sweep is due: a sweep is never "missed", only overtaken.
        return [Period(iso_utc(begins), begins, begins + timedelta(seconds=seconds))]

    def units(desk: Desk, period: Period, now: datetime) -> Sequence[Unit]:
        return [Unit(unit_key(residues, shards), payload=residues) for residues in plan]

    def run(r: Run) -> None:
        def recorded(ctx: Ctx, results: list[ProbeResult]) -> None:
            # In the probes' own transaction: a process killed after it has both or neither.
            r.done_in(ctx, "probed", urls=len(results), ok=sum(1 for x in results if x.ok))

        probe_and_record(r.desk, config, ENGINE, shard=(r.unit.payload, shards), recorded=recorded)

    return Job(
        JOB,
        periods,
        units,
        run,
        next_due=lambda now: start(now) + timedelta(seconds=seconds),
        # A shard of many slow URLs may take minutes: not taken over while it runs.
        lease=timedelta(seconds=max(600.0, min(seconds, 3600.0))),
    )


class SweepFirst:
    """Before a report is built: the sweep due at its instant is completed first. The
    shards nobody has are probed here; those another process holds are waited for (at
    most ``wait`` seconds, then the report goes out with what is known)."""

    def __init__(self, job: Job, *, wait: float = 600.0, poll: float = 1.0) -> None:
        self.job = job
        self.wait = wait
        self.poll = poll

    def __call__(self, desk: Desk, now: datetime) -> bool:
        [period] = self.job.periods(now)
        engine.tick(desk, [self.job], now=now)  # each shard done already is one lookup
        deadline = time.monotonic() + self.wait
        while self._open(desk, period):
            if time.monotonic() > deadline:
                return False
            time.sleep(self.poll)
        return True

    def _open(self, desk: Desk, period: Period) -> int:
        with desk.context(ENGINE, readonly=True) as ctx:
            return int(
                ctx.session.scalar(
                    select(func.count(JobUnit.id)).where(
                        JobUnit.job == self.job.name,
                        JobUnit.period == period.key,
                        JobUnit.status == "claimed",
                    )
                )
                or 0
            )
