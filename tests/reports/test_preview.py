"""`certdesk report daily|monthly --at … --tenant … --format …` prints the report and sends
nothing: the outbox stays empty and no delivery is recorded."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import datetime

import pytest

from certdesk.desk import Desk
from certdesk.settings import Settings
from tests.cli.conftest import Run
from tests.openssl_pki import OpenSSLPKI
from tests.reports.certs import CertMaker
from tests.reports.world import (
    DAY,
    add_tenant,
    boundary_hosts,
    first_of_month,
    install,
    install_all,
    local,
)
from tests.scheduler.conftest import deliveries

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

Cli = Callable[..., Run]


@pytest.fixture
def world(
    desk: Desk, certs: CertMaker, pki: OpenSSLPKI, settings: Settings
) -> tuple[datetime, dict[str, str]]:
    at = local(first_of_month(pki), 10)
    add_tenant(desk, "Acme Hosting", ["ops@acme.test"])
    add_tenant(desk, "Beta Cloud", ["ops@beta.test"])
    install_all(desk, certs, "Acme Hosting", boundary_hosts(at))
    install(desk, certs, tenant="Beta Cloud", host="beta-soon.test.com", not_after=at + 2 * DAY)
    env = {
        "CERTDESK_HOME": str(settings.home),
        "CERTDESK_DATABASE_URL": settings.database_url,
        "CERTDESK_OPERATOR_EMAILS": "noc@platform.test",
        "CERTDESK_SMTP_URL": "",
    }
    return at, env


def nothing_sent(desk: Desk, settings: Settings) -> None:
    assert not settings.outbox.exists() or list(settings.outbox.iterdir()) == []
    assert deliveries(desk) == {}


def test_csv(
    certdesk_cli: Cli, desk: Desk, settings: Settings, world: tuple[datetime, dict[str, str]]
) -> None:
    at, env = world
    run = certdesk_cli("report", "daily", "--at", at.isoformat(), "--format", "csv", env=env)
    assert run.exit_code == 0, run.stderr
    rows = list(csv.DictReader(io.StringIO(run.stdout, newline="")))
    assert [(r["url"], r["status"]) for r in rows] == [
        ("https://past.test.com", "expired"),
        ("https://at.test.com", "expired"),
        ("https://plus1s.test.com", "expiring"),
        ("https://beta-soon.test.com", "expiring"),
        ("https://d3.test.com", "expiring"),
    ]
    assert [r["days_left"] for r in rows] == ["-5", "0", "0", "2", "3"]
    nothing_sent(desk, settings)


def test_json_for_one_tenant(
    certdesk_cli: Cli, desk: Desk, settings: Settings, world: tuple[datetime, dict[str, str]]
) -> None:
    at, env = world
    run = certdesk_cli(
        "report",
        "monthly",
        "--at",
        at.isoformat(),
        "--tenant",
        "Acme Hosting",
        "--format",
        "json",
        env=env,
    )
    assert run.exit_code == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["schema"] == "certdesk.report/1"
    assert (data["kind"], data["audience"], data["late"]) == ("monthly", "Acme Hosting", False)
    assert datetime.fromisoformat(data["at"].replace("Z", "+00:00")) == at
    assert [r["url"] for r in data["expired"]] == ["https://past.test.com", "https://at.test.com"]
    assert [r["url"] for r in data["expiring"]] == ["https://m30.test.com", "https://m60.test.com"]
    assert {r["tenant"] for r in data["expired"] + data["expiring"]} == {"Acme Hosting"}
    assert [r["days_left"] for r in data["expiring"]] == [30, 60]
    nothing_sent(desk, settings)


def test_html_and_text(
    certdesk_cli: Cli, desk: Desk, settings: Settings, world: tuple[datetime, dict[str, str]]
) -> None:
    at, env = world
    html = certdesk_cli("report", "daily", "--at", at.isoformat(), "--format", "html", env=env)
    assert html.exit_code == 0, html.stderr
    assert html.stdout.startswith("<!doctype html>")
    order = [
        html.stdout.index(f"<td>https://{h}</td>")
        for h in (
            "past.test.com",
            "at.test.com",
            "plus1s.test.com",
            "beta-soon.test.com",
            "d3.test.com",
        )
    ]
    assert order == sorted(order)
    assert "d3-plus1s.test.com" not in html.stdout
    text = certdesk_cli(
        "report", "daily", "--at", at.isoformat(), "--tenant", "Beta Cloud", env=env
    )
    assert text.exit_code == 0, text.stderr
    assert "Daily SSL expiration report for Beta Cloud" in text.stdout
    assert "https://beta-soon.test.com" in text.stdout
    assert "test.com  [Acme" not in text.stdout
    assert "Expired and still monitored (0)" in text.stdout
    nothing_sent(desk, settings)


def test_refusals(
    certdesk_cli: Cli, desk: Desk, settings: Settings, world: tuple[datetime, dict[str, str]]
) -> None:
    _at, env = world
    unknown = certdesk_cli("report", "daily", "--tenant", "Nobody", "--format", "json", env=env)
    assert unknown.exit_code != 0
    assert "not-found" in unknown.stdout + unknown.stderr
    bad_time = certdesk_cli("report", "daily", "--at", "yesterday-ish", env=env)
    assert bad_time.exit_code != 0
    nothing_sent(desk, settings)
