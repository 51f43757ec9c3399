"""Report kinds come from one registry (a third kind is one entry: selected, rendered and
delivered); a report whose period ended before certdesk first started is not sent late;
``scheduler tick --at`` in the future only previews unless ``--send``; ``scheduler
status`` shows each job's last run, next run and outcomes."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import delete, func, select

from certdesk.application.compose import kinds_config, report_config
from certdesk.desk import Desk
from certdesk.notify import SmtpMailer
from certdesk.reports import ReportKind, Schedule, Window, report_kinds
from certdesk.scheduler import tick
from certdesk.scheduler.engine import known_first_start
from certdesk.settings import Settings
from certdesk.store.jobs import EngineFact, JobUnit
from tests.cli.conftest import Run
from tests.notify.smtpd import SmtpServer
from tests.reports.world import PLUS2
from tests.scheduler.conftest import OPERATORS, Small, by_report, once_each, read_mail
from tests.scheduler.test_cli import env_for

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

M = timedelta(minutes=1)
Cli = Callable[..., Run]


def within_12_hours(at: datetime) -> Window:
    return Window(at, at + timedelta(hours=12), low_inclusive=False)


# A kind of the test's own: every day at 09:00 report time, what expires within 12 hours.
URGENT = ReportKind(
    name="urgent",
    title="Urgent",
    schedule=Schedule("urgent", PLUS2, time(9, 0), timedelta(minutes=30)),
    window=within_12_hours,
    window_text="expiring within 12 hours",
)


def test_a_third_kind_is_one_entry(
    desk: Desk, settings: Settings, small: Small, smtp: SmtpServer
) -> None:
    configured = dataclasses.replace(settings, operator_emails=OPERATORS)
    config = report_config(configured, kinds=(*report_kinds(kinds_config(configured)), URGENT))
    mailer = SmtpMailer(smtp.url(auth=False))
    outcomes = tick(desk, config, mailer, now=small.daily_at)
    key = small.day.isoformat()  # type: ignore[attr-defined]
    assert {(o.kind, o.recipient): (o.status, o.rows) for o in outcomes} == {
        ("daily", "operators"): ("sent", 2),
        ("daily", f"tenant:{small.acme}"): ("sent", 2),
        ("monthly", "operators"): ("sent", 1),
        ("monthly", f"tenant:{small.acme}"): ("sent", 1),
        # Due at 09:00, delivered by 09:30: sent at 10:00, late, measured from 10:00.
        ("urgent", "operators"): ("sent", 1),
        ("urgent", f"tenant:{small.acme}"): ("sent", 1),
    }
    assert {o.kind: o.late for o in outcomes} == {"daily": False, "monthly": True, "urgent": True}
    mail = by_report(smtp.received)[(f"urgent {key}", OPERATORS)]
    assert str(mail.message["Subject"]).startswith(
        "Urgent SSL expiration report for the platform's operators"
    )
    report = read_mail(mail.message)
    # acme-soon expires in a day: not within the urgent window, in the daily one.
    assert [r["url"] for r in report.csv_rows] == ["https://acme-old.test.com"]
    assert "Certificates expiring within 12 hours (0)" in report.text
    assert report.csv_name == f"certdesk-urgent-{key}.csv"
    daily = read_mail(by_report(smtp.received)[(f"daily {key}", OPERATORS)].message)
    assert [r["url"] for r in daily.csv_rows] == [
        "https://acme-old.test.com",
        "https://acme-soon.test.com",
    ]
    with desk.store.transaction() as session:
        jobs = session.scalars(select(JobUnit.job).where(JobUnit.outcome == "sent"))
        assert sorted(set(jobs)) == ["report.daily", "report.monthly", "report.urgent"]
    assert {o.status for o in tick(desk, config, mailer, now=small.daily_at + M)} == {
        "already-done"
    }
    assert len(once_each(smtp.received)) == 6


def test_a_report_of_before_the_first_start_is_not_sent(
    desk: Desk, settings: Settings, small: Small, smtp: SmtpServer
) -> None:
    with desk.store.transaction() as session:  # certdesk starts for the first time
        session.execute(delete(EngineFact))
    config = report_config(dataclasses.replace(settings, operator_emails=OPERATORS))
    mailer = SmtpMailer(smtp.url(auth=False))
    start = small.daily_at + 5 * M  # 10:05 on the 1st: the monthly was due at 00:00–01:00
    outcomes = tick(desk, config, mailer, now=start)
    assert {(o.kind, o.status, o.late) for o in outcomes} == {
        ("daily", "sent", False),  # its window (10:00–10:30) is still open: on time
        ("monthly", "before-first-start", True),
    }
    assert known_first_start(desk) == start
    assert {str(r.message["X-Certdesk-Report"]) for r in smtp.received} == {
        f"daily {small.day.isoformat()}"  # type: ignore[attr-defined]
    }
    with desk.store.transaction() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(JobUnit).where(JobUnit.job == "report.monthly")
            )
            == 0
        )
    # The next month's report goes out as usual.
    next_month = small.daily_at + 31 * 24 * 60 * M
    later = tick(desk, config, mailer, now=next_month)
    assert {(o.kind, o.status) for o in later if o.kind == "monthly"} == {("monthly", "sent")}


def test_tick_at_a_future_instant_previews_unless_send(
    certdesk_cli: Cli, desk: Desk, settings: Settings, small: Small
) -> None:
    at = small.daily_at.isoformat()  # the tests' reports are months ahead of now
    preview = certdesk_cli("scheduler", "tick", "--at", at, "--json", env=env_for(settings))
    assert preview.exit_code == 0, preview.stderr
    data = json.loads(preview.stdout)
    assert data["preview"] is True
    assert {(d["kind"], d["status"]) for d in data["deliveries"]} == {
        ("daily", "would-run"),
        ("monthly", "would-run"),
    }
    assert list(settings.outbox.glob("*.eml")) == []
    with desk.store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(JobUnit)) == 0

    text = certdesk_cli("scheduler", "tick", "--at", at, env=env_for(settings))
    assert "nothing is sent or claimed; add --send to run it" in text.stdout

    sent = certdesk_cli("scheduler", "tick", "--at", at, "--send", "--json", env=env_for(settings))
    assert sent.exit_code == 0, sent.stderr
    assert json.loads(sent.stdout)["preview"] is False
    assert len(list(settings.outbox.glob("*.eml"))) == 4

    status = certdesk_cli("scheduler", "status", "--json", env=env_for(settings))
    assert status.exit_code == 0, status.stderr
    jobs = {j["job"]: j for j in json.loads(status.stdout)["jobs"]}
    # Install retries are a job too; ACME issuance only with an ACME directory (none here).
    assert set(jobs) == {"report.daily", "report.monthly", "probe.sweep", "install.retry"}
    sweep = jobs["probe.sweep"]  # serve sweeps; this tick did not (no --sweep)
    assert (sweep["last_run"], sweep["units"], sweep["pending"]) == (None, {}, 0)
    assert sweep["next_run"] is not None
    daily = jobs["report.daily"]
    assert daily["last_period"] == small.day.isoformat()  # type: ignore[attr-defined]
    assert daily["units"] == {"sent": 2}
    assert (daily["pending"], daily["failed"], daily["problems"]) == (0, 0, [])
    assert daily["last_success"] == at.replace("+00:00", "Z")
    assert daily["next_run"] is not None
    table = certdesk_cli("scheduler", "status", env=env_for(settings))
    assert table.exit_code == 0, table.stderr
    assert "report.daily" in table.stdout
    assert "2 sent" in table.stdout
