"""Probe sweeps: every monitored URL probed once per ``CERTDESK_PROBE_INTERVAL``, by the
job engine, so that what each URL serves is known without a cron job.

A sweep (the job ``probe.sweep``) is one period of the interval, split into
:data:`SHARDS` units: shard ``k`` holds the monitored domains whose id is ``k`` modulo
``SHARDS``, so every process that ticks the engine finds the same shards, claims those
nobody has, and each URL is probed once per sweep however many processes share the
database. Within a shard the tenants take turns, and at most ``CERTDESK_PROBE_CONCURRENCY``
handshakes run at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from certdesk.application.probing import probe_and_record
from certdesk.desk.context import Desk
from certdesk.pki import iso_utc
from certdesk.scheduler.engine import ENGINE, Job, Period, Run, Unit
from certdesk.settings import Settings

JOB = "probe.sweep"
SHARDS = 16


def sweep_job(settings: Settings, *, shards: int = SHARDS) -> Job:
    """The probe sweep as a job of the engine."""
    seconds = settings.probe_interval

    def start(now: datetime) -> datetime:
        stamp = now.timestamp()
        return datetime.fromtimestamp(stamp - stamp % seconds, UTC)

    def periods(now: datetime) -> Sequence[Period]:
        begins = start(now)
        # Late once the next sweep is due: a sweep is never "missed", only overtaken.
        return [Period(iso_utc(begins), begins, begins + timedelta(seconds=seconds))]

    def units(desk: Desk, period: Period, now: datetime) -> Sequence[Unit]:
        return [Unit(f"shard-{k:02d}-of-{shards:02d}", payload=k) for k in range(shards)]

    def run(r: Run) -> None:
        results = probe_and_record(r.desk, settings, ENGINE, shard=(r.unit.payload, shards))
        r.done("probed", urls=len(results), ok=sum(1 for x in results if x.ok))

    return Job(
        JOB,
        periods,
        units,
        run,
        next_due=lambda now: start(now) + timedelta(seconds=seconds),
        # A shard of many slow URLs may take minutes: not taken over while it runs.
        lease=timedelta(seconds=max(600.0, min(seconds, 3600.0))),
    )
