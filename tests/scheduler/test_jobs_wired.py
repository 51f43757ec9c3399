"""The install retries wired to the job engine (``application.jobs``): an install that
failed on a real nginx that is down is retried by the engine's ticks — not before its
backoff, once per attempt across two schedulers ticking at the same instant — and ends
``installed``, served and proven by a handshake, once nginx is up; ``certdesk scheduler
tick --send`` does it as a process, and ``scheduler status --json`` tells the outcome."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from certdesk import clock
from certdesk import desk as d
from certdesk.application.compose import install_config
from certdesk.application.installer import Installer
from certdesk.application.jobs import ACME, INSTALL_RETRY, RETRY_PERIOD, job_registry
from certdesk.desk import Actor, Desk
from certdesk.desk.installs import (
    ALERT_AFTER,
    FIRST_RETRY,
    InstallState,
    install_state,
    retry_delay,
)
from certdesk.errors import InvalidArgument
from certdesk.notify import OutboxMailer, SmtpMailer
from certdesk.pki import iso_utc
from certdesk.scheduler import engine
from certdesk.settings import CONFIG_FILE, Settings, load_settings
from certdesk.store.jobs import JobUnit
from tests.deploy.servers import Nginx, settled_sha256, start_nginx, stop
from tests.edge import edge_toml
from tests.flows import new_tenant, submit_leaf
from tests.notify.smtpd import SmtpServer
from tests.openssl_pki import OpenSSLPKI, openssl_fingerprint

OPERATOR = Actor(name="test")
URL = "https://store.test.com"


@pytest.fixture
def edge(settings: Settings, nginx: Nginx) -> Settings:
    """The nginx as the default deploy target, in ``certdesk.toml`` (as an operator sets
    it up), so that the process and the command line read the same settings."""
    settings.home.mkdir(parents=True, exist_ok=True)
    (settings.home / CONFIG_FILE).write_text(edge_toml(nginx))
    env = {
        "CERTDESK_DATABASE_URL": settings.database_url,
        "CERTDESK_CA_BUNDLE": str(settings.ca_bundle),
        "CERTDESK_LAB_SUFFIXES": ",".join(settings.lab_suffixes),
    }
    loaded = load_settings(settings.home, env)
    assert loaded.deploy_target("edge") is not None
    return loaded


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "CERTDESK_HOME": str(settings.home),
        "CERTDESK_DATABASE_URL": settings.database_url,
        "CERTDESK_CA_BUNDLE": str(settings.ca_bundle),
        "CERTDESK_LAB_SUFFIXES": ",".join(settings.lab_suffixes),
    }


def _certdesk(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certdesk", *args],
        capture_output=True,
        text=True,
        env=_env(settings),
        timeout=180,
        check=False,
    )


def _attempts(desk: Desk) -> tuple[InstallState, int]:
    with desk.context(OPERATOR) as ctx:
        state = install_state(ctx, url=URL)
        assert state is not None
        return state.state, state.attempts


def _retries(outcomes: list[engine.Outcome]) -> list[tuple[str, str]]:
    return [(o.unit, o.status) for o in outcomes if o.job == INSTALL_RETRY]


def _period_start(at: datetime) -> datetime:
    """The next instant that begins a period of the retry jobs (so that a test's ticks a
    few seconds apart stay in one period)."""
    step = RETRY_PERIOD.total_seconds()
    stamp = at.timestamp()
    return datetime.fromtimestamp(stamp - stamp % step + step, at.tzinfo)


def test_the_engine_retries_a_failed_install_after_its_backoff_until_installed(
    desk: Desk, edge: Settings, pki: OpenSSLPKI, nginx: Nginx
) -> None:
    new_tenant(desk, OPERATOR)
    result = submit_leaf(desk, OPERATOR, pki, urls=[URL])
    assert nginx.proc is not None
    stop(nginx.proc)  # the terminator is down: the install after intake fails
    mailer = OutboxMailer(edge.outbox)
    failed_at = _period_start(clock.now())
    [first] = Installer(desk, install_config(edge), mailer).install(
        OPERATOR, request_id=result.request_id, at=failed_at
    )
    assert (first.ok, first.state) == (False, "install-failed")
    assert first.next_try_at == failed_at + FIRST_RETRY
    registry = job_registry(edge, mailer=mailer)
    assert INSTALL_RETRY in registry.names()

    # Before its backoff has passed the engine leaves it alone.
    early = engine.tick(desk, registry, now=failed_at + FIRST_RETRY - timedelta(seconds=1))
    assert _retries(early) == []
    assert _attempts(desk) == (InstallState.FAILED, 1)

    # Its next try has come: two schedulers tick at the same instant; it is tried once.
    due = failed_at + FIRST_RETRY
    both: list[list[engine.Outcome]] = []

    def scheduler(worker: str) -> None:
        both.append(engine.tick(desk, registry, now=due, worker=worker))

    threads = [threading.Thread(target=scheduler, args=(w,)) for w in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(both) == 2
    ran = [status for outcomes in both for unit, status in _retries(outcomes)]
    assert ran.count("install-failed") == 1, ran
    assert set(ran) <= {"install-failed", engine.ALREADY_DONE, engine.CLAIMED_ELSEWHERE}
    assert _attempts(desk) == (InstallState.FAILED, 2)
    with desk.store.transaction() as session:
        rows = session.scalars(select(JobUnit).where(JobUnit.job == INSTALL_RETRY)).all()
        assert [(r.unit, r.status, r.outcome) for r in rows] == [(URL, "done", "install-failed")]
    # Another tick later in the same period does nothing: not due, and done once.
    assert _retries(engine.tick(desk, registry, now=due + timedelta(seconds=30))) == []

    # nginx is up again; the next try, at its doubled backoff, is a real process's tick.
    start_nginx(nginx)
    again = due + retry_delay(2)
    assert _retries(engine.preview(desk, registry, now=again - timedelta(seconds=1))) == []
    ticked = _certdesk(edge, "scheduler", "tick", "--at", iso_utc(again), "--send", "--json")
    assert ticked.returncode == 0, ticked.stdout + ticked.stderr
    units = json.loads(ticked.stdout)["units"]
    assert [(u["unit"], u["status"]) for u in units if u["job"] == INSTALL_RETRY] == [
        (URL, "installed")
    ]
    assert _attempts(desk) == (InstallState.INSTALLED, 0)
    leaf = openssl_fingerprint(pki.leaf_crt)
    assert settled_sha256(nginx.address, "store.test.com", leaf) == leaf  # served, proven

    status = _certdesk(edge, "scheduler", "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    [job] = [j for j in json.loads(status.stdout)["jobs"] if j["job"] == INSTALL_RETRY]
    assert job["last_period"] == iso_utc(again)  # again begins a period
    assert job["units"] == {"installed": 1}
    assert (job["pending"], job["failed"]) == (0, 0)
    # Installed: nothing is due any more.
    later = again + timedelta(hours=7)
    assert _retries(engine.tick(desk, registry, now=later)) == []


def test_the_operators_are_told_once_when_the_engine_s_retries_keep_failing(
    desk: Desk, edge: Settings, pki: OpenSSLPKI, nginx: Nginx, smtp: SmtpServer
) -> None:
    """nginx stays down: the engine's retries fail one after the other, each at its
    backoff; after ``ALERT_AFTER`` failures in a row the operators get one e-mail (a real
    SMTP server counts them), and no other after the failures that follow."""
    new_tenant(desk, OPERATOR)
    result = submit_leaf(desk, OPERATOR, pki, urls=[URL])
    assert nginx.proc is not None
    stop(nginx.proc)
    settings = dataclasses.replace(
        edge, operator_emails=("noc@platform.test",), smtp_url=smtp.url(auth=False)
    )
    mailer = SmtpMailer(smtp.url(auth=False))
    failed_at = _period_start(clock.now())
    [first] = Installer(desk, install_config(settings), mailer).install(
        OPERATOR, request_id=result.request_id, at=failed_at
    )
    assert first.state == "install-failed"
    registry = job_registry(settings, mailer=mailer)
    at = failed_at + FIRST_RETRY
    told: list[int] = []
    for attempt in range(2, ALERT_AFTER + 3):
        assert _retries(engine.tick(desk, registry, now=at)) == [(URL, "install-failed")]
        assert _attempts(desk) == (InstallState.FAILED, attempt)
        told.append(len([r for r in smtp.received if "keep failing" in r.message["Subject"]]))
        at += retry_delay(attempt)
    # Nobody told after the first two failures; told once at the third, not again after.
    assert told == [0, 1, 1, 1]
    [alert] = [r for r in smtp.received if "keep failing" in r.message["Subject"]]
    assert alert.rcpt_tos == ["noc@platform.test"]
    body = alert.message.get_body(("plain",))
    assert body is not None
    assert URL in body.get_content()
    assert f"{ALERT_AFTER} failures in a row" in body.get_content()
    status = _certdesk(settings, "scheduler", "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    [job] = [j for j in json.loads(status.stdout)["jobs"] if j["job"] == INSTALL_RETRY]
    assert job["units"] == {"install-failed": 1}


def test_the_scheduler_interval_of_serve_is_seconds_or_a_duration() -> None:
    def interval(text: str) -> float:
        env = {"CERTDESK_HOME": "/nonexistent/certdesk", "CERTDESK_SCHEDULER_INTERVAL": text}
        return load_settings(env=env).scheduler_interval

    assert load_settings(env={"CERTDESK_HOME": "/nonexistent/certdesk"}).scheduler_interval == 60
    assert [interval(t) for t in ("30s", "2m", "5", "0.5")] == [30, 120, 5, 0.5]
    for bad in ("soon", "0", "-1s"):
        with pytest.raises(InvalidArgument, match="the setting scheduler_interval must be"):
            interval(bad)


def test_acme_without_the_platforms_addresses_is_said_at_each_tick_and_claims_nothing(
    desk: Desk, settings: Settings
) -> None:
    new_tenant(desk, OPERATOR)
    desk.run(OPERATOR, d.add_domain, url=URL, tenant="Acme Hosting", managed="acme")
    config = dataclasses.replace(settings, acme_directory="https://127.0.0.1:9/dir")
    registry = job_registry(config)
    assert ACME in registry.names()
    now = clock.now()
    for at in (now, now + timedelta(minutes=5)):
        [said] = [o for o in engine.tick(desk, registry, now=at) if o.job == ACME]
        assert (said.unit, said.status) == ("", engine.FAILED)
        assert said.error is not None
        assert "CERTDESK_PLATFORM_TARGETS" in said.error
    with desk.store.transaction() as session:
        assert session.scalars(select(JobUnit).where(JobUnit.job == ACME)).all() == []
    assert desk.run(OPERATOR, d.managed_status, url=URL).state == "waiting-for-dns"
