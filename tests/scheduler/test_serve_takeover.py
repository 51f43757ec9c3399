"""A real ``certdesk serve`` killed with SIGKILL while it holds a report, and a second one
started the next day: it takes the report over and sends it, late; the mail server (real
SMTP on loopback, which keeps every message it accepts) has every report exactly once.

The processes run at instants of the test's choosing through libfaketime (Debian's
``faketime``): the first on the day the daily report is due, a minute after 10:00 report
time; the second the next day. The first is killed while it holds the daily report for
the operators: the report waits for the probe sweep of its instant, and the URLs point
at a port that accepts connections and never answers, so each probe takes its timeout.
"""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from certdesk.desk import Desk
from certdesk.settings import Settings
from certdesk.store.jobs import JobUnit
from tests.notify.smtpd import SmtpServer
from tests.reports.world import point_at
from tests.scheduler.conftest import OPERATORS, Small, once_each, serve_at, stop, wait_for

DAY = timedelta(days=1)


def report_units(desk: Desk) -> dict[tuple[str, str, str], JobUnit]:
    with desk.store.transaction() as session:
        found = session.scalars(select(JobUnit).where(JobUnit.job.startswith("report."))).all()
        session.expunge_all()
    return {(r.job, r.period, r.unit): r for r in found}


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_serve_killed_holding_a_report_is_taken_over_the_next_day(
    desk: Desk, settings: Settings, small: Small, smtp: SmtpServer, silent: int, tmp_path: Path
) -> None:
    point_at(desk, ["acme-old.test.com", "acme-soon.test.com"], silent)
    day = f"{small.day}"
    next_day = f"{small.day + DAY}"  # type: ignore[operator]
    month = day[:7]
    log = tmp_path / "serve.log"
    env = {
        "CERTDESK_OPERATOR_EMAILS": ",".join(OPERATORS),
        "CERTDESK_SMTP_URL": smtp.url(auth=False),
        "CERTDESK_PROBE_ALLOW_PRIVATE": "true",
        "CERTDESK_PROBE_TIMEOUT": "4",
        "CERTDESK_PROBE_INTERVAL": "1d",
    }
    operators = ("report.daily", day, "operators")

    first = serve_at(settings, small.daily_at + timedelta(minutes=1), log, env)
    second: subprocess.Popen[bytes] | None = None
    try:

        def held() -> bool:
            assert first.poll() is None, log.read_text()
            row = report_units(desk).get(operators)
            return row is not None and row.claimed_by.endswith(f":{first.pid}")

        wait_for("the first process to hold the daily report", held)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert report_units(desk)[operators].status == "claimed"  # killed holding it
        assert smtp.received == []

        # The next day, a minute after 10:05: the daily report's period has changed.
        second = serve_at(settings, small.daily_at + DAY + timedelta(minutes=5), log, env)
        expected = {
            ("report.daily", day, "operators"),
            ("report.daily", day, f"tenant:{small.acme}"),
            ("report.daily", next_day, "operators"),
            ("report.daily", next_day, f"tenant:{small.acme}"),
            ("report.monthly", month, "operators"),
            ("report.monthly", month, f"tenant:{small.acme}"),
        }

        def all_sent() -> bool:
            assert second is not None
            assert second.poll() is None, log.read_text()
            units = report_units(desk)
            return set(units) == expected and {u.outcome for u in units.values()} == {"sent"}

        wait_for("every report sent", all_sent, timeout=180)
        time.sleep(2)  # a report sent twice would have reached the server by now
    finally:
        for process in (first, second):
            if process is not None:
                stop(process)

    units = report_units(desk)
    taken = units[operators]
    assert taken.claimed_by.endswith(f":{second.pid}")
    assert (taken.late, taken.attempts) == (True, 1)
    assert not units[("report.daily", next_day, "operators")].late
    received = once_each(smtp.received)  # by Message-ID, none twice
    assert set(received) == {str(u.detail["message_id"]) for u in units.values()}
    assert sorted(
        (str(r.message["X-Certdesk-Report"]), tuple(sorted(r.rcpt_tos))) for r in received.values()
    ) == sorted(
        [
            (f"daily {day}", OPERATORS),
            (f"daily {day}", ("ops@acme.test",)),
            (f"daily {next_day}", OPERATORS),
            (f"daily {next_day}", ("ops@acme.test",)),
            (f"monthly {month}", OPERATORS),
            (f"monthly {month}", ("ops@acme.test",)),
        ]
    )
    assert f"job report.daily {day} operators: sent" in log.read_text()  # said to operators
    late = [r for r in received.values() if str(r.message["X-Certdesk-Report"]) == f"daily {day}"]
    assert all(str(r.message["Subject"]).endswith("(late)") for r in late)
