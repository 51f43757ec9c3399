"""`certdesk scheduler tick --at … [--json]`: without CERTDESK_SMTP_URL the reports are
.eml files in the outbox, written once; a failed send exits 1."""

from __future__ import annotations

import json
from collections.abc import Callable
from email import policy
from email.parser import BytesParser

import pytest

from certdesk.desk import Desk
from certdesk.settings import Settings
from tests.cli.conftest import Run
from tests.notify.smtpd import free_port
from tests.scheduler.conftest import OPERATORS, Small, deliveries, read_mail

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

Cli = Callable[..., Run]


def env_for(settings: Settings, smtp_url: str = "") -> dict[str, str]:
    return {
        "CERTDESK_HOME": str(settings.home),
        "CERTDESK_DATABASE_URL": settings.database_url,
        "CERTDESK_OPERATOR_EMAILS": ",".join(OPERATORS),
        "CERTDESK_SMTP_URL": smtp_url,
    }


def test_tick_writes_the_outbox_once(
    certdesk_cli: Cli, desk: Desk, settings: Settings, small: Small
) -> None:
    at = small.daily_at.isoformat()
    run = certdesk_cli("scheduler", "tick", "--at", at, "--send", "--json", env=env_for(settings))
    assert run.exit_code == 0, run.stderr
    data = json.loads(run.stdout)
    assert sorted((d["kind"], d["recipient"], d["status"]) for d in data["deliveries"]) == [
        ("daily", "operators", "sent"),
        ("daily", f"tenant:{small.acme}", "sent"),
        ("monthly", "operators", "sent"),
        ("monthly", f"tenant:{small.acme}", "sent"),
    ]
    files = sorted(settings.outbox.glob("*.eml"))
    assert len(files) == 4
    messages = [BytesParser(policy=policy.default).parsebytes(f.read_bytes()) for f in files]
    assert {str(m["Message-ID"]) for m in messages} == {
        r.message_id for r in deliveries(desk).values()
    }
    for message in messages:
        mail = read_mail(message)  # type: ignore[arg-type]
        assert [r["url"] for r in mail.csv_rows][:1] == ["https://acme-old.test.com"]
    before = {f.name: f.read_bytes() for f in files}

    again = certdesk_cli("scheduler", "tick", "--at", at, "--send", env=env_for(settings))
    assert again.exit_code == 0, again.stderr
    assert again.stdout.count("already-done") == 4
    assert {f.name: f.read_bytes() for f in settings.outbox.glob("*.eml")} == before


def test_tick_exits_1_when_a_send_fails(
    certdesk_cli: Cli, desk: Desk, settings: Settings, small: Small
) -> None:
    url = f"smtp://127.0.0.1:{free_port()}"
    run = certdesk_cli(
        "scheduler",
        "tick",
        "--at",
        small.daily_at.isoformat(),
        "--send",
        "--json",
        env=env_for(settings, url),
    )
    assert run.exit_code == 1
    data = json.loads(run.stdout)
    assert {d["status"] for d in data["deliveries"]} == {"failed"}
    assert all(d["error"] and "refused" in d["error"].lower() for d in data["deliveries"])
    assert not settings.outbox.exists() or not any(settings.outbox.iterdir())
    assert {r.status for r in deliveries(desk).values()} == {"failed"}
