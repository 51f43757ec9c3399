"""A period left unfinished when the job's next period came: a unit claimed by a process
that died, or failed and waiting for its retry. The engine finishes it late while its job
keeps it (a report while the dates it lists are still ahead), else closes what is left
as ``overtaken``, recorded, not run, and shown as such by ``scheduler status`` and
``/metrics``. On SQLite and PostgreSQL, with a real SMTP server for the reports."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from certdesk.api.metrics import prometheus_text
from certdesk.application.compose import probe_config
from certdesk.application.sweeps import JOB as SWEEP
from certdesk.application.sweeps import SHARDS, shard_plan, sweep_job
from certdesk.desk import Desk
from certdesk.desk.metrics import metrics_snapshot
from certdesk.notify import SmtpMailer
from certdesk.notify.mailers import Accepted
from certdesk.scheduler import ReportConfig, engine, report_jobs
from certdesk.scheduler.reports import as_deliveries
from certdesk.settings import Settings
from certdesk.store.jobs import JobUnit
from certdesk.store.models import AuditEvent
from tests.cli.conftest import Run
from tests.notify.smtpd import SmtpServer
from tests.reports.world import OPERATOR, local
from tests.scheduler.conftest import OPERATORS, Small, by_report, config_for, once_each, read_mail
from tests.scheduler.test_engine import Crash, Targets, job_of

M = timedelta(minutes=1)
Cli = Callable[..., Run]
BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


class Dies:
    """A mailer in a process that is killed as it starts to send: nothing is accepted."""

    def send(self, message: EmailMessage, *, on_accepted: Accepted | None = None) -> None:
        raise Crash("killed while sending")

    def describe(self) -> str:
        return "a process killed mid-report"


def only(config: ReportConfig, kind: str) -> ReportConfig:
    return dataclasses.replace(config, kinds=tuple(k for k in config.kinds if k.name == kind))


def units(desk: Desk, job: str) -> dict[tuple[str, str], JobUnit]:
    with desk.store.transaction() as session:
        found = session.scalars(select(JobUnit).where(JobUnit.job == job)).all()
        session.expunge_all()
    return {(r.period, r.unit): r for r in found}


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


@BOTH
def test_units_left_in_an_overtaken_period_are_closed_not_run(desk: Desk) -> None:
    """A job that keeps nothing past its period (as the probe sweep and the install
    retries): what a dead process left, and a failure whose retry never came, are closed
    once the next period is due and their lease or retry time has come."""
    targets = Targets(["z", "x", "y"])
    targets.down.add("z")
    targets.crash.add("x")
    job = job_of(targets, lease=timedelta(minutes=10))
    ten = datetime(2031, 3, 4, 10, 0, tzinfo=UTC)
    with pytest.raises(Crash):  # z fails, the process dies in x, y is never claimed
        engine.tick(desk, [job], now=ten + 55 * M, worker="dead")
    old = "2031-03-04T10:00:00Z"
    left = units(desk, "test.sweep")
    assert {k[1]: r.status for k, r in left.items()} == {"z": "failed", "x": "claimed"}
    assert left[(old, "x")].keep_until == ten + 60 * M  # the next period's start
    targets.down.clear()
    targets.crash.clear()

    # 11:01: z's retry time has come, x's lease has not (10:55 + 10 minutes).
    early = engine.tick(desk, [job], now=ten + 61 * M, worker="alive")
    assert {(o.period, o.unit): o.status for o in early if o.period == old} == {
        (old, "z"): "overtaken",
        (old, "x"): "claimed-elsewhere",
    }
    later = engine.tick(desk, [job], now=ten + 66 * M, worker="alive")
    assert {(o.period, o.unit): o.status for o in later if o.period == old} == {
        (old, "x"): "overtaken"
    }
    assert engine.tick(desk, [job], now=ten + 67 * M, worker="alive")[0].period != old
    # Not run again: x ran once (the crash), z once (the failure), y never in that period;
    # each once in the new period.
    assert targets.runs == Counter({"z": 2, "x": 2, "y": 1})
    got = units(desk, "test.sweep")
    assert (got[(old, "z")].status, got[(old, "z")].last_error) == (
        "overtaken",
        "RuntimeError: target z is down",
    )
    assert got[(old, "x")].status == "overtaken"
    assert got[(old, "x")].last_error == "not done in its period, and its period is over"
    assert (old, "y") not in got

    [status] = engine.status(desk, OPERATOR, [job], now=ten + 67 * M)
    assert (status.pending, status.failed, status.overtaken) == (0, 0, 2)
    assert status.units == {"done": 3}  # the latest period
    assert {(p.period, p.unit, p.status) for p in status.problems} == {
        (old, "z", "overtaken"),
        (old, "x", "overtaken"),
    }
    text = prometheus_text(desk.run(OPERATOR, metrics_snapshot)).splitlines()
    assert 'certdesk_job_units_overtaken{job="test.sweep"} 2' in text
    assert 'certdesk_job_units_pending{job="test.sweep"} 0' in text


@BOTH
def test_a_monthly_report_left_by_a_dead_process_goes_out_late_in_the_next_month(
    desk: Desk, settings: Settings, small: Small, smtp: SmtpServer
) -> None:
    """Claimed at 00:05 on the 1st by a process killed before its message was accepted;
    certdesk is back only on the 1st of the next month. The dates that report lists are
    still ahead, so it goes out then, late, built at its own instant, to everybody it
    was for (the reseller's unit was never claimed), besides the new month's report."""
    config = only(config_for(settings), "monthly")
    december = small.day
    january = next_month(december)  # type: ignore[arg-type]
    first = local(december, 0)  # type: ignore[arg-type]
    with pytest.raises(Crash):
        engine.tick(desk, report_jobs(config, Dies()), now=first + 5 * M, worker="dead")
    old, new = f"{december:%Y-%m}", f"{january:%Y-%m}"
    assert {k: r.status for k, r in units(desk, "report.monthly").items()} == {
        (old, "operators"): "claimed"
    }

    back = local(january, 0) + 5 * M
    mailer = SmtpMailer(smtp.url(auth=False))
    outcomes = as_deliveries(engine.tick(desk, report_jobs(config, mailer), now=back))
    assert {(o.period, o.recipient): (o.status, o.late) for o in outcomes} == {
        (old, "operators"): ("sent", True),
        (old, f"tenant:{small.acme}"): ("sent", True),
        (new, "operators"): ("sent", False),
        (new, f"tenant:{small.acme}"): ("sent", False),
    }
    received = by_report(once_each(smtp.received).values())
    assert len(received) == 4
    late = received[(f"monthly {old}", OPERATORS)].message
    assert str(late["Subject"]).endswith("(late)")
    # Built at its own instant: acme-soon (expiring a day after) was not expired yet then.
    assert {r["url"]: r["status"] for r in read_mail(late).csv_rows} == {
        "https://acme-old.test.com": "expired"
    }
    current = received[(f"monthly {new}", OPERATORS)].message
    assert {r["url"] for r in read_mail(current).csv_rows} == {
        "https://acme-old.test.com",
        "https://acme-soon.test.com",
    }
    taken = units(desk, "report.monthly")[(old, "operators")]
    assert (taken.status, taken.outcome, taken.late, taken.attempts) == ("done", "sent", True, 1)
    assert taken.claimed_by != "dead"

    again = engine.tick(desk, report_jobs(config, mailer), now=back + M)
    assert {o.status for o in again} == {"already-done"}
    assert len(smtp.received) == 4
    [status] = engine.status(desk, OPERATOR, report_jobs(config, mailer), now=back + M)
    assert (status.pending, status.failed, status.overtaken) == (0, 0, 0)


@BOTH
def test_a_daily_report_left_past_its_window_is_closed_as_overtaken(
    desk: Desk, settings: Settings, small: Small, smtp: SmtpServer, certdesk_cli: Cli
) -> None:
    """The daily report lists three days ahead: left claimed by a dead process and found
    four days later, it is not sent (the newer reports list all it would have); it is
    recorded overtaken, audited, and counted."""
    config = only(config_for(settings), "daily")
    with pytest.raises(Crash):
        engine.tick(desk, report_jobs(config, Dies()), now=small.daily_at + M, worker="dead")
    key = f"{small.day}"
    assert units(desk, "report.daily")[(key, "operators")].keep_until == (
        small.daily_at + timedelta(days=3)
    )
    mailer = SmtpMailer(smtp.url(auth=False))
    back = small.daily_at + timedelta(days=4, minutes=1)
    outcomes = as_deliveries(engine.tick(desk, report_jobs(config, mailer), now=back))
    assert {(o.period, o.recipient): o.status for o in outcomes if o.period == key} == {
        (key, "operators"): "overtaken"
    }
    assert {o.status for o in outcomes if o.period != key} == {"sent"}
    assert {str(r.message["X-Certdesk-Report"]) for r in smtp.received} == {
        f"daily {(small.daily_at + timedelta(days=4)).date()}"
    }
    with desk.store.transaction() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.startswith("report."))
        ).all()
    assert Counter(actions) == Counter({"report.overtaken": 1, "report.sent": 2})
    [status] = engine.status(desk, OPERATOR, report_jobs(config, mailer), now=back)
    assert (status.pending, status.overtaken) == (0, 1)
    text = prometheus_text(desk.run(OPERATOR, metrics_snapshot)).splitlines()
    assert 'certdesk_report_deliveries{kind="daily",status="overtaken"} 1' in text
    assert 'certdesk_job_units_overtaken{job="report.daily"} 1' in text

    # The command line says so too (its status is of the present; the counts are not).
    env = {"CERTDESK_HOME": str(settings.home), "CERTDESK_DATABASE_URL": settings.database_url}
    shown = certdesk_cli("scheduler", "status", "--json", env=env)
    assert shown.exit_code == 0, shown.stderr
    [daily] = [j for j in json.loads(shown.stdout)["jobs"] if j["job"] == "report.daily"]
    assert (daily["pending"], daily["failed"], daily["overtaken"]) == (0, 0, 1)
    [problem] = daily["problems"]
    assert (problem["period"], problem["unit"], problem["status"]) == (
        key,
        "operators",
        "overtaken",
    )
    assert problem["error"] == "not done in its period, and its period is over"
    table = certdesk_cli("scheduler", "status", env=env)
    assert table.exit_code == 0, table.stderr
    assert "overtaken" in table.stdout
    assert f"report.daily {key} operators: overtaken after 0 attempt(s)" in table.stdout


@BOTH
def test_a_report_whose_wait_outlasted_its_lease_is_sent_once(
    desk: Desk, settings: Settings, small: Small, smtp: SmtpServer
) -> None:
    """The daily report waits for its sweep while holding its claim. When the wait
    outlasts the lease (10 minutes) another process takes the report over and sends it;
    the first one, back from its wait, finds the claim no longer its own and sends
    nothing."""
    config = only(config_for(settings), "daily")
    mailer = SmtpMailer(smtp.url(auth=False))
    meanwhile: list[list[engine.Outcome]] = []

    def slow_sweep(desk: Desk, now: datetime) -> None:
        if not meanwhile:  # 11 minutes later, another process, whose sweep was quick
            other = engine.tick(desk, report_jobs(config, mailer), now=now + 11 * M, worker="b")
            meanwhile.append(other)

    slow = report_jobs(config, mailer, before={"daily": slow_sweep})
    first = engine.tick(desk, slow, now=small.daily_at, worker="a")
    tenant = f"tenant:{small.acme}"
    assert {o.unit: o.status for o in meanwhile[0]} == {"operators": "sent", tenant: "sent"}
    assert {o.unit: o.status for o in first} == {
        "operators": "claimed-elsewhere",
        tenant: "already-done",
    }
    assert len(once_each(smtp.received)) == 2
    rows = units(desk, "report.daily")
    assert {(r.unit, r.claimed_by, r.outcome) for r in rows.values()} == {
        ("operators", "b", "sent"),
        (tenant, "b", "sent"),
    }


@BOTH
def test_a_shard_of_an_overtaken_sweep_is_closed_not_probed(desk: Desk, settings: Settings) -> None:
    """The probe sweep keeps nothing past its period: a shard a dead process held when the
    next sweep began is closed as overtaken (that sweep probes every URL again)."""
    job = sweep_job(probe_config(dataclasses.replace(settings, probe_interval=3600.0)))
    ten = datetime(2031, 3, 4, 10, 0, tzinfo=UTC)
    assert {o.status for o in engine.tick(desk, [job], now=ten + M)} == {"probed"}
    old = "2031-03-04T10:00:00Z"
    with desk.store.transaction() as session:  # what a process killed mid-shard leaves
        row = session.scalars(
            select(JobUnit).where(JobUnit.job == SWEEP, JobUnit.unit == "shard-00-03-of-64")
        ).one()
        assert row.keep_until == ten + 60 * M
        row.status, row.claimed_by, row.outcome = "claimed", "dead-host:1", None
    # The next sweep; the dead's shard is closed once its lease (an hour) has passed.
    at = ten + 61 * M + M
    outcomes = engine.tick(desk, [job], now=at)
    assert {(o.period, o.unit): o.status for o in outcomes if o.period == old} == {
        (old, "shard-00-03-of-64"): "overtaken"
    }
    units = len(shard_plan(SHARDS))
    assert Counter(o.status for o in outcomes if o.period != old) == Counter({"probed": units})
    [status] = engine.status(desk, OPERATOR, [job], now=at)
    assert (status.pending, status.overtaken) == (0, 1)
