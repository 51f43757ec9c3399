"""A report accepted by the SMTP server is recorded as sent at once — at the 250 to its
data, before QUIT — so neither a lost QUIT nor a scheduler killed while saying QUIT sends
it a second time.

The SMTP server is aiosmtpd on loopback whose QUIT hangs: past the mailer's timeout (the
connection is lost after the message was accepted), or until the test has killed the
``certdesk scheduler tick`` process (``kill -9``) that is waiting for it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from certdesk.desk import Desk
from certdesk.notify import SmtpMailer
from certdesk.scheduler import tick
from certdesk.settings import Settings
from tests.notify.smtpd import Recorder, start_smtp
from tests.scheduler.conftest import OPERATORS, Small, config_for, deliveries, once_each

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@dataclass
class QuitHangs(Recorder):
    """Accepts every message; each QUIT waits ``hang`` seconds before its ``reply``."""

    hang: float = 3.0
    reply: str = "221 Bye"
    quits: threading.Event = field(default_factory=threading.Event)
    at_quit: list[str] = field(default_factory=list)  # Message-IDs received so far

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.at_quit.append(self.received[-1].message_id if self.received else "")
        self.quits.set()
        await asyncio.sleep(self.hang)
        return self.reply


@pytest.mark.parametrize(
    ("hang", "reply"),
    [(3.0, "221 Bye"), (0.0, "421 4.3.2 Shutting down")],
    ids=["quit-times-out", "quit-refused"],
)
def test_a_lost_quit_is_not_a_failed_send(
    desk: Desk, settings: Settings, small: Small, hang: float, reply: str
) -> None:
    recorder = QuitHangs(hang=hang, reply=reply)
    server = start_smtp(recorder=recorder)
    try:
        mailer = SmtpMailer(server.url(auth=False), timeout=1.0)
        first = tick(desk, config_for(settings), mailer, now=small.daily_at)
        assert [o.status for o in first] == ["sent"] * 4, first
        assert {r.status for r in deliveries(desk).values()} == {"sent"}
        later = small.daily_at + timedelta(hours=5)
        again = tick(desk, config_for(settings), mailer, now=later)
        assert {o.status for o in again} == {"already-done"}
        assert len(once_each(server.received)) == 4
    finally:
        server.stop()


def test_killed_while_saying_quit_sends_nothing_twice(
    desk: Desk, settings: Settings, small: Small
) -> None:
    recorder = QuitHangs(hang=60.0)
    server = start_smtp(recorder=recorder)
    env = {
        **os.environ,
        "CERTDESK_HOME": str(settings.home),
        "CERTDESK_DATABASE_URL": settings.database_url,
        "CERTDESK_SMTP_URL": server.url(auth=False),
        "CERTDESK_OPERATOR_EMAILS": ",".join(OPERATORS),
        "CERTDESK_MAIL_FROM": "certdesk@platform.test",
    }
    at = small.daily_at.isoformat()
    proc = subprocess.Popen(
        [sys.executable, "-m", "certdesk", "scheduler", "tick", "--at", at, "--send"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert recorder.quits.wait(120), "the scheduler never reached QUIT"
        # The server has answered 250 to the first report's data and waits in QUIT: the
        # delivery is recorded already.
        [accepted] = recorder.at_quit
        rows = {r.message_id: r.status for r in deliveries(desk).values()}
        assert rows.get(accepted) == "sent", rows
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    recorder.hang = 0.0
    try:
        # Past the 10-minute lease: whatever the killed process had claimed is taken over.
        later = small.daily_at + timedelta(minutes=15)
        outcomes = tick(desk, config_for(settings), SmtpMailer(server.url(auth=False)), now=later)
        assert {o.status for o in outcomes} <= {"sent", "already-done"}
        received = once_each(server.received)  # no Message-ID twice
        assert len(received) == 4
        assert {r.status for r in deliveries(desk).values()} == {"sent"}
    finally:
        server.stop()
