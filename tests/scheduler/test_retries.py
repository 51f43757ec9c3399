"""A failed send (the server answers 451, or nothing listens) is marked failed, retried
with backoff on later ticks, never duplicated once it succeeds, and given up after a
number of attempts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from certdesk.desk import Desk
from certdesk.notify import SmtpMailer
from certdesk.scheduler import tick
from certdesk.scheduler.reports import MAX_ATTEMPTS
from certdesk.settings import Settings
from tests.notify.smtpd import SmtpServer, free_port, start_smtp
from tests.scheduler.conftest import Small, by_report, config_for, deliveries, once_each

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

M = timedelta(minutes=1)


def test_451_is_retried_with_backoff_and_sent_once(
    desk: Desk, settings: Settings, small: Small, smtp: SmtpServer
) -> None:
    config = config_for(settings)
    mailer = SmtpMailer(smtp.url(auth=False))
    t0 = small.daily_at
    smtp.recorder.failing = 1_000
    first = tick(desk, config, mailer, now=t0)
    assert [o.status for o in first] == ["failed"] * 4
    assert all("451" in (o.error or "") for o in first)
    rows = deliveries(desk)
    assert {(r.status, r.attempts, r.next_attempt_at) for r in rows.values()} == {
        ("failed", 1, t0 + M)
    }
    assert all("451" in (r.last_error or "") for r in rows.values())
    refused = smtp.recorder.refused
    assert refused == 4

    # Before the backoff ends, nothing is tried.
    waiting = tick(desk, config, mailer, now=t0 + M - timedelta(seconds=1))
    assert {o.status for o in waiting} == {"retry-pending"}
    assert smtp.recorder.refused == refused

    second = tick(desk, config, mailer, now=t0 + M)
    assert [o.status for o in second] == ["failed"] * 4
    assert smtp.recorder.refused == 8
    assert {(r.attempts, r.next_attempt_at) for r in deliveries(desk).values()} == {
        (2, t0 + M + 2 * M)
    }

    smtp.recorder.failing = 0  # the server recovers
    assert "sent" not in {o.status for o in tick(desk, config, mailer, now=t0 + 2 * M)}
    assert smtp.received == []
    third = tick(desk, config, mailer, now=t0 + 3 * M)
    assert [o.status for o in third] == ["sent"] * 4
    assert {(o.kind, o.late) for o in third} == {("daily", False), ("monthly", True)}
    for later in (t0 + 4 * M, t0 + 60 * M):
        assert {o.status for o in tick(desk, config, mailer, now=later)} == {"already-done"}
    assert len(once_each(smtp.received)) == 4
    assert {(r.status, r.attempts) for r in deliveries(desk).values()} == {("sent", 3)}


def test_a_retry_past_the_deadline_is_late(
    desk: Desk, settings: Settings, small: Small, smtp: SmtpServer
) -> None:
    config = config_for(settings)
    mailer = SmtpMailer(smtp.url(auth=False))
    key = small.day.isoformat()  # type: ignore[attr-defined]
    smtp.recorder.failing = 1_000
    at = small.daily_at + 29 * M + timedelta(seconds=30)  # 10:29:30
    assert {o.status for o in tick(desk, config, mailer, now=at)} == {"failed"}
    smtp.recorder.failing = 0
    retried = tick(desk, config, mailer, now=at + M)  # 10:30:30
    daily = [o for o in retried if o.kind == "daily"]
    assert [(o.status, o.late) for o in daily] == [("sent", True), ("sent", True)]
    assert deliveries(desk)[("daily", key, "operators")].late is True
    subject = str(
        by_report(smtp.received)[
            (f"daily {key}", ("noc@platform.test", "ops@platform.test"))
        ].message["Subject"]
    )
    assert subject.endswith("10:30 UTC+02:00 (late)")


def test_nothing_listening_then_the_server_comes_back(
    desk: Desk, settings: Settings, small: Small
) -> None:
    port = free_port()
    config = config_for(settings)
    mailer = SmtpMailer(f"smtp://127.0.0.1:{port}", timeout=5)
    failed = tick(desk, config, mailer, now=small.daily_at)
    assert {o.status for o in failed} == {"failed"}
    assert all("refused" in (o.error or "").lower() for o in failed)
    server = start_smtp(port=port)
    try:
        sent = tick(desk, config, mailer, now=small.daily_at + M)
        assert [o.status for o in sent] == ["sent"] * 4
        assert len(once_each(server.received)) == 4
    finally:
        server.stop()


def test_gives_up_after_the_last_attempt(desk: Desk, settings: Settings, small: Small) -> None:
    config = config_for(settings, operator_emails=())  # the reseller's two reports only
    mailer = SmtpMailer(f"smtp://127.0.0.1:{free_port()}", timeout=5)
    now = small.daily_at
    gaps = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        outcomes = tick(desk, config, mailer, now=now)
        expected = "gave-up" if attempt == MAX_ATTEMPTS else "failed"
        assert [o.status for o in outcomes] == [expected, expected]
        rows = list(deliveries(desk).values())
        assert {r.attempts for r in rows} == {attempt}
        if attempt < MAX_ATTEMPTS:
            [next_at] = {r.next_attempt_at for r in rows}
            assert next_at is not None
            gaps.append(next_at - now)
            now = next_at
    assert gaps == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 30, 30)][: MAX_ATTEMPTS - 1]
    assert {(r.status, r.next_attempt_at) for r in deliveries(desk).values()} == {("gave-up", None)}
    # Given up: later ticks do not try again.
    assert {o.status for o in tick(desk, config, mailer, now=now + 600 * M)} == {"gave-up"}
    assert {r.attempts for r in deliveries(desk).values()} == {MAX_ATTEMPTS}
