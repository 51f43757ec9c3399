"""Each (kind, period, recipient) is delivered exactly once: the same tick twice, several
schedulers at once (threads, and `certdesk scheduler tick` processes) on one SQLite file
and on one PostgreSQL database, and a scheduler that died between claim and send."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import datetime, timedelta

from certdesk.application.compose import open_desk, report_config
from certdesk.desk import Desk
from certdesk.notify import SmtpMailer, message_id
from certdesk.scheduler import Outcome, tick
from certdesk.settings import Settings
from certdesk.store.jobs import JobUnit
from tests.notify.smtpd import SmtpServer
from tests.scheduler.conftest import (
    OPERATORS,
    Platform,
    Small,
    by_report,
    config_for,
    deliveries,
    once_each,
    read_mail,
)

M = timedelta(minutes=1)


def sent_once_each(outcomes: list[Outcome]) -> Counter[tuple[str, str, str]]:
    return Counter((o.kind, o.period, o.recipient) for o in outcomes if o.status == "sent")


def test_the_same_tick_twice(
    desk: Desk, settings: Settings, small: Small, smtp: SmtpServer
) -> None:
    config = config_for(settings)
    mailer = SmtpMailer(smtp.url(auth=False))
    first = tick(desk, config, mailer, now=small.daily_at)
    assert [o.status for o in first] == ["sent"] * 4
    before = deliveries(desk)
    for again in (small.daily_at, small.daily_at + 29 * M, small.daily_at + 23 * 60 * M):
        second = tick(desk, config, mailer, now=again)
        assert [o.status for o in second] == ["already-done"] * 4
    assert len(once_each(smtp.received)) == 4
    assert {k: (r.status, r.attempts, r.sent_at) for k, r in deliveries(desk).items()} == {
        k: (r.status, r.attempts, r.sent_at) for k, r in before.items()
    }
    # The next day's daily report is a new period; the monthly one is not.
    next_day = tick(desk, config, mailer, now=small.daily_at + 24 * 60 * M)
    assert sorted((o.kind, o.status) for o in next_day) == [
        ("daily", "sent"),
        ("daily", "sent"),
        ("monthly", "already-done"),
        ("monthly", "already-done"),
    ]
    assert len(once_each(smtp.received)) == 6


def test_schedulers_in_threads_at_once(
    settings: Settings, desk: Desk, platform: Platform, smtp: SmtpServer
) -> None:
    """Four schedulers, each with its own engine (as separate processes would have),
    tick at the same instant: every report goes out once."""
    config = config_for(settings)
    desks = [open_desk(settings) for _ in range(4)]
    barrier = threading.Barrier(len(desks))
    results: list[list[Outcome]] = [[] for _ in desks]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = tick(
                desks[index],
                config,
                SmtpMailer(smtp.url(auth=False)),
                now=platform.daily_at + timedelta(seconds=index),
                worker=f"worker-{index}",
            )
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(desks))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for opened in desks:
            opened.store.close()
    assert errors == []
    every = [o for r in results for o in r]
    sent = sent_once_each(every)
    assert len(sent) == 6
    assert set(sent.values()) == {1}
    assert {o.status for o in every} <= {"sent", "empty", "claimed-elsewhere", "already-done"}
    received = once_each(smtp.received)
    assert len(received) == 6
    rows = deliveries(desk)
    assert len(rows) == 8  # 2 kinds x (operators + 3 tenants with e-mail)
    for (kind, period, recipient), row in rows.items():
        if row.status == "sent":
            assert row.message_id in received
            assert row.message_id == message_id(kind, period, recipient)
            assert row.attempts == 1


def test_scheduler_processes_at_once(
    settings: Settings, desk: Desk, platform: Platform, smtp: SmtpServer
) -> None:
    """Two `python -m certdesk scheduler tick` processes at once on one database."""
    env = {
        **os.environ,
        "CERTDESK_HOME": str(settings.home),
        "CERTDESK_DATABASE_URL": settings.database_url,
        "CERTDESK_SMTP_URL": smtp.url(auth=False),
        "CERTDESK_OPERATOR_EMAILS": ",".join(OPERATORS),
        "CERTDESK_MAIL_FROM": "certdesk@platform.test",
    }
    at = (platform.daily_at + 5 * M).isoformat()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "certdesk", "scheduler", "tick", "--at", at, "--send", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    every = [
        Outcome(d["kind"], d["period"], d["recipient"], d["status"], d["late"], d["rows"])
        for out, _ in outputs
        for d in json.loads(out)["deliveries"]
    ]
    sent = sent_once_each(every)
    assert len(sent) == 6
    assert set(sent.values()) == {1}
    assert len(once_each(smtp.received)) == 6
    assert {r.status for r in deliveries(desk).values()} == {"sent", "empty"}
    # And once more, in this process: nothing new.
    again = tick(
        desk, config_for(settings), SmtpMailer(smtp.url(auth=False)), now=platform.daily_at + 6 * M
    )
    assert {o.status for o in again} == {"already-done"}
    assert len(once_each(smtp.received)) == 6


def leave_dead_claim(desk: Desk, kind: str, period: str, recipient: str, at: datetime) -> None:
    """What a scheduler killed between claim and send leaves behind."""
    with desk.store.transaction() as session:
        session.add(
            JobUnit(
                job=f"report.{kind}",
                period=period,
                unit=recipient,
                tenant_id=None,
                status="claimed",
                claimed_by="dead-host:4242",
                claimed_at=at,
                attempts=0,
                late=False,
                detail={},
            )
        )


def test_a_claim_whose_scheduler_died_is_taken_over_after_the_lease(
    desk: Desk, settings: Settings, small: Small, smtp: SmtpServer
) -> None:
    key = small.day.isoformat()  # type: ignore[attr-defined]
    dead_at = small.daily_at + timedelta(seconds=5)
    leave_dead_claim(desk, "daily", key, "operators", dead_at)
    config = config_for(settings)  # lease: 10 minutes
    mailer = SmtpMailer(smtp.url(auth=False))

    def operators_daily(now: datetime) -> Outcome:
        [outcome] = [
            o
            for o in tick(desk, config, mailer, now=now, worker="survivor")
            if (o.kind, o.recipient) == ("daily", "operators")
        ]
        return outcome

    assert operators_daily(small.daily_at + M).status == "claimed-elsewhere"
    assert operators_daily(dead_at + 10 * M - timedelta(seconds=1)).status == "claimed-elsewhere"
    assert (f"daily {key}", OPERATORS) not in by_report(smtp.received)
    taken = operators_daily(dead_at + 10 * M)  # the lease ends: taken over, still in time
    assert (taken.status, taken.late, taken.rows) == ("sent", False, 2)
    assert operators_daily(dead_at + 11 * M).status == "already-done"
    received = once_each(smtp.received)
    assert message_id("daily", key, "operators") in received
    row = deliveries(desk)[("daily", key, "operators")]
    assert (row.status, row.claimed_by, row.late, row.attempts) == ("sent", "survivor", False, 1)
    mail = by_report(smtp.received)[(f"daily {key}", OPERATORS)]
    assert "(late)" not in str(mail.message["Subject"])


def test_taken_over_past_the_deadline_is_late(
    desk: Desk, settings: Settings, small: Small, smtp: SmtpServer
) -> None:
    key = small.day.isoformat()  # type: ignore[attr-defined]
    month = key[:7]
    # Both reports were claimed by schedulers that died.
    leave_dead_claim(desk, "daily", key, "operators", small.daily_at + 25 * M)
    leave_dead_claim(desk, "monthly", month, "operators", small.daily_at - 10 * 60 * M)
    config = config_for(settings)
    mailer = SmtpMailer(smtp.url(auth=False))
    now = small.daily_at + 35 * M  # 10:35, past the 10:30 deadline
    outcomes = {(o.kind, o.recipient): o for o in tick(desk, config, mailer, now=now)}
    daily = outcomes[("daily", "operators")]
    assert (daily.status, daily.late) == ("sent", True)
    assert (outcomes[("monthly", "operators")].status, outcomes[("monthly", "operators")].late) == (
        "sent",
        True,
    )
    mail = by_report(smtp.received)[(f"daily {key}", OPERATORS)]
    assert str(mail.message["Subject"]).endswith("10:35 UTC+02:00 (late)")
    assert mail.message["Date"].datetime == now
    assert deliveries(desk)[("daily", key, "operators")].late is True
    assert {o.status for o in tick(desk, config, mailer, now=now + M)} == {"already-done"}
    assert len(once_each(smtp.received)) == 4


def test_a_shorter_lease(desk: Desk, settings: Settings, small: Small, smtp: SmtpServer) -> None:
    key = small.day.isoformat()  # type: ignore[attr-defined]
    leave_dead_claim(desk, "daily", key, "operators", small.daily_at)
    config = report_config(
        dataclasses.replace(settings, operator_emails=OPERATORS), lease=timedelta(minutes=2)
    )
    mailer = SmtpMailer(smtp.url(auth=False))
    early = tick(desk, config, mailer, now=small.daily_at + 2 * M - timedelta(seconds=1))
    assert {(o.kind, o.recipient): o.status for o in early}[("daily", "operators")] == (
        "claimed-elsewhere"
    )
    later = tick(desk, config, mailer, now=small.daily_at + 2 * M)
    assert {(o.kind, o.recipient): o.status for o in later}[("daily", "operators")] == "sent"
    assert len(once_each(smtp.received)) == 4


def test_a_missed_report_goes_out_at_the_next_tick_marked_late(
    desk: Desk, settings: Settings, platform: Platform, smtp: SmtpServer
) -> None:
    p = platform
    config = config_for(settings)
    mailer = SmtpMailer(smtp.url(auth=False))
    yesterday = p.daily_at - 24 * 60 * M
    first = tick(desk, config, mailer, now=yesterday + 5 * M)
    assert {o.status for o in first if o.kind == "daily"} == {"sent", "empty"}
    assert not any(o.late for o in first if o.kind == "daily")
    # certdesk is down from yesterday 10:05 until today 15:00 (report time).
    back = p.daily_at + 5 * 60 * M
    outcomes = tick(desk, config, mailer, now=back)
    key = p.day.isoformat()  # type: ignore[attr-defined]
    daily = [o for o in outcomes if o.kind == "daily"]
    assert {o.period for o in daily} == {key}
    assert all(o.late for o in daily)
    assert {o.status for o in daily} == {"sent", "empty"}
    mail = by_report(smtp.received)[(f"daily {key}", OPERATORS)]
    assert str(mail.message["Subject"]).endswith(f"{key} 15:00 UTC+02:00 (late)")
    rows = {r["url"]: r for r in read_mail(mail.message).csv_rows}
    # Measured from when it is sent: gamma-soon expired at 13:00, two hours ago.
    assert rows["https://gamma-soon.test.com"]["status"] == "expired"
    assert "https://gamma-soon.test.com" in [
        r["URL"] for r in read_mail(mail.message).html_tables[0]
    ]
    assert {o.status for o in tick(desk, config, mailer, now=back + M)} == {"already-done"}
    once_each(smtp.received)
