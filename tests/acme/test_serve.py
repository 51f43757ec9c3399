"""Platform-managed certificates done by the job engine alone (``acme.issue`` in
``application.jobs``): a domain added with ``--managed acme`` is issued by pebble,
installed on a real nginx and served, with no ``acme issue`` command; a tick at two
thirds of its lifetime renews it; ``scheduler status`` tells the outcome. And the issue's
"done when": a real ``certdesk serve`` process, alone, ends with the domain served with
pebble's certificate."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from cryptography import x509

from certdesk import desk as d
from certdesk.application.jobs import ACME, INSTALL_RETRY, RETRY_PERIOD, job_registry
from certdesk.desk.installs import FIRST_RETRY
from certdesk.desk.managed import DNS_BACKOFF, FAILURE_BACKOFF
from certdesk.notify import OutboxMailer
from certdesk.scheduler import engine
from certdesk.settings import CONFIG_FILE
from tests.acme.conftest import OPERATOR, TENANT, Bed, acme_bed, leaf_of, serving
from tests.deploy.servers import (
    Nginx,
    free_port,
    served_sha256,
    settled_sha256,
    start_nginx,
    stop,
)
from tests.edge import edge_target, edge_toml

URL = "https://shop.acme.test"
HOST = "shop.acme.test"


@contextlib.contextmanager
def edge_bed(folder: Path, database_url: str, nginx: Nginx, *, serve: bool) -> Iterator[Bed]:
    """The ACME bed with the nginx as the default deploy target, in the settings and in
    ``certdesk.toml`` (which a ``certdesk`` process reads)."""
    with acme_bed(folder, database_url, serve=serve, **edge_target(nginx)) as bed:
        bed.settings.home.mkdir(parents=True, exist_ok=True)
        (bed.settings.home / CONFIG_FILE).write_text(edge_toml(nginx))
        yield bed


def _acme(outcomes: list[engine.Outcome]) -> list[tuple[str, str]]:
    return [(o.unit, o.status) for o in outcomes if o.job == ACME]


def _acme_status(bed: Bed) -> dict[str, object]:
    shown = bed.certdesk("scheduler", "status", "--json")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    [job] = [j for j in json.loads(shown.stdout)["jobs"] if j["job"] == ACME]
    return dict(job)


def _served_by_pebble(bed: Bed, nginx: Nginx, sha256: str) -> x509.Certificate:
    """nginx serves ``sha256`` for the host, and it is a certificate pebble issued."""
    assert settled_sha256(nginx.address, HOST, sha256) == sha256
    leaf = leaf_of(bed, sha256)
    assert "Pebble Intermediate CA" in leaf.issuer.rfc4514_string()
    return leaf


def _next_period(at: datetime) -> datetime:
    """The first instant after ``at`` that begins a period of the job (a whole minute)."""
    step = RETRY_PERIOD.total_seconds()
    stamp = at.timestamp()
    return datetime.fromtimestamp(stamp - stamp % step + step, UTC)


def test_the_engine_issues_installs_and_renews_a_managed_domain(
    tmp_path: Path, database_url: str, nginx: Nginx
) -> None:
    with edge_bed(tmp_path, database_url, nginx, serve=True) as bed:
        registry = job_registry(bed.settings, mailer=OutboxMailer(bed.settings.outbox))
        assert ACME in registry.names()
        bed.add_managed(URL)

        # One tick of the engine: DNS checked, ordered, validated, taken in, installed.
        now = bed.desk.now()
        assert _acme(engine.tick(bed.desk, registry, now=now)) == [(URL, "issued")]
        view = bed.desk.run(OPERATOR, d.managed_status, url=URL)
        assert view.state == "issued", view.message
        assert "proven by a handshake" in view.message
        first = view.certificate_sha256
        assert first is not None
        leaf = _served_by_pebble(bed, nginx, first)
        domain = bed.desk.run(OPERATOR, d.show_domain, url=URL)
        assert (domain.certificate_sha256, domain.install_state) == (first, "installed")
        # Issued: later ticks before two thirds of its lifetime leave it alone.
        assert _acme(engine.tick(bed.desk, registry, now=now + timedelta(minutes=3))) == []
        renew_at = view.renew_at
        assert renew_at is not None
        life = leaf.not_valid_after_utc - leaf.not_valid_before_utc
        assert renew_at == leaf.not_valid_before_utc + life * 2 / 3
        early = renew_at - timedelta(minutes=2)
        assert _acme(engine.tick(bed.desk, registry, now=early)) == []

        # At two thirds of its lifetime a tick renews it: a new certificate, served.
        at = _next_period(renew_at)
        assert _acme(engine.tick(bed.desk, registry, now=at)) == [(URL, "issued")]
        renewed = bed.desk.run(OPERATOR, d.managed_status, url=URL)
        assert renewed.state == "issued", renewed.message
        assert renewed.certificate_sha256 not in (None, first)
        assert renewed.certificate_sha256 is not None
        _served_by_pebble(bed, nginx, renewed.certificate_sha256)
        # Done once: another tick in the same period orders nothing. (The new certificate's
        # own renewal instant may have come by then in this test, which moves the clock
        # ahead while pebble issues at the real time; the period's unit is done already.)
        again = _acme(engine.tick(bed.desk, registry, now=at + timedelta(seconds=20)))
        assert again in ([], [(URL, engine.ALREADY_DONE)])
        assert bed.desk.run(OPERATOR, d.managed_status, url=URL) == renewed

        job = _acme_status(bed)
        assert job["units"] == {"issued": 1}
        assert (job["pending"], job["failed"]) == (0, 0)
        assert job["last_success"] is not None


def test_an_issued_certificate_whose_install_failed_is_installed_by_the_install_retries(
    tmp_path: Path, database_url: str, nginx: Nginx
) -> None:
    """The two jobs together: ``acme.issue`` takes the certificate in while nginx is down
    (stored; not installed), and ``install.retry`` installs it once nginx is up."""
    with edge_bed(tmp_path, database_url, nginx, serve=True) as bed:
        registry = job_registry(bed.settings, mailer=OutboxMailer(bed.settings.outbox))
        bed.add_managed(URL)
        assert nginx.proc is not None
        stop(nginx.proc)
        start = _next_period(bed.desk.now())

        ticked = engine.tick(bed.desk, registry, now=start)
        assert _acme(ticked) == [(URL, "issued")]
        assert [o for o in ticked if o.job == INSTALL_RETRY] == []
        view = bed.desk.run(OPERATOR, d.managed_status, url=URL)
        assert "not installed yet" in view.message
        domain = bed.desk.run(OPERATOR, d.show_domain, url=URL)
        assert domain.install_state == "install-failed"
        assert domain.certificate_sha256 == view.certificate_sha256 is not None

        start_nginx(nginx)
        later = engine.tick(bed.desk, registry, now=start + FIRST_RETRY)
        assert [(o.unit, o.status) for o in later if o.job == INSTALL_RETRY] == [(URL, "installed")]
        assert _acme(later) == []  # issued already: nothing ordered again
        assert bed.desk.run(OPERATOR, d.show_domain, url=URL).install_state == "installed"
        _served_by_pebble(bed, nginx, view.certificate_sha256)


def test_a_domain_waiting_for_dns_is_tried_again_when_its_own_backoff_has_passed(
    bed: Bed,
) -> None:
    """Its next DNS check is a minute later: the engine does it then, not at a later
    period of its own (a unit is done once per period; a minute later is another unit)."""
    bed.pebble.dns("add-a", host=f"{HOST}.", addresses=["198.51.100.7"])
    bed.add_managed(URL)
    registry = job_registry(bed.settings, mailer=OutboxMailer(bed.settings.outbox))
    # At the start of a 5-minute slice, so that a 5-minute period would hold it back.
    stamp = bed.desk.now().timestamp()
    start = datetime.fromtimestamp(stamp - stamp % 300 + 300, UTC)

    assert _acme(engine.tick(bed.desk, registry, now=start)) == [(URL, "waiting-for-dns")]
    waiting = bed.desk.run(OPERATOR, d.managed_status, url=URL)
    assert "198.51.100.7" in waiting.message
    assert waiting.next_try_at == start + DNS_BACKOFF[0]
    assert _acme(engine.tick(bed.desk, registry, now=start + timedelta(seconds=30))) == []

    bed.pebble.dns("clear-a", host=f"{HOST}.")  # the reseller points it at the platform
    at = start + DNS_BACKOFF[0]
    assert _acme(engine.tick(bed.desk, registry, now=at)) == [(URL, "issued")]
    issued = bed.desk.run(OPERATOR, d.managed_status, url=URL)
    assert issued.state == "issued", issued.message
    assert issued.certificate_sha256 is not None
    leaf = leaf_of(bed, issued.certificate_sha256)
    assert "Pebble Intermediate CA" in leaf.issuer.rfc4514_string()


def test_a_failed_order_is_tried_again_by_the_engine_after_its_backoff_not_before(
    tmp_path: Path, database_url: str
) -> None:
    """Nothing answers HTTP-01 at first: the order fails with the CA's problem; the ticks
    of the next minutes leave it alone (no hot loop); the tick at its next try issues."""
    with acme_bed(tmp_path, database_url, serve=False) as bed:
        bed.add_managed(URL)
        registry = job_registry(bed.settings, mailer=OutboxMailer(bed.settings.outbox))
        start = _next_period(bed.desk.now())
        assert _acme(engine.tick(bed.desk, registry, now=start)) == [(URL, "failed")]
        failed = bed.desk.run(OPERATOR, d.managed_status, url=URL)
        assert failed.problem is not None
        assert failed.problem["type"] == "urn:ietf:params:acme:error:connection"
        assert failed.next_try_at == start + FAILURE_BACKOFF[0]
        minutes = int(FAILURE_BACKOFF[0] / timedelta(minutes=1))
        for minute in range(1, minutes):
            at = start + timedelta(minutes=minute)
            assert _acme(engine.tick(bed.desk, registry, now=at)) == []
        assert _acme_status(bed)["units"] == {"failed": 1}

        with serving(bed.desk, bed.settings, bed.http_port):  # certdesk answers again
            later = engine.tick(bed.desk, registry, now=start + FAILURE_BACKOFF[0])
        assert _acme(later) == [(URL, "issued")]
        assert bed.desk.run(OPERATOR, d.managed_status, url=URL).state == "issued"
        assert [o.status for o in bed.desk.run(OPERATOR, d.list_orders)] == ["fulfilled"]
        assert _acme_status(bed)["units"] == {"issued": 1}


def _wait(
    what: str,
    check: Callable[[], bool],
    procs: list[tuple[subprocess.Popen[bytes], Path]],
    timeout: float = 60,
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        logs = "\n".join(log.read_text() for _proc, log in procs)
        for proc, log in procs:
            assert proc.poll() is None, f"certdesk serve exited:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{logs}"
        time.sleep(0.2)


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


@pytest.mark.parametrize(
    ("database_url", "replicas"), [("sqlite", 1), ("postgresql", 2)], indirect=["database_url"]
)
def test_serve_alone_issues_and_installs_a_domain_added_as_managed(
    tmp_path: Path, database_url: str, replicas: int, nginx: Nginx
) -> None:
    """The issue's "done when": ``certdesk serve`` (its HTTP port the one pebble validates
    HTTP-01 on; on PostgreSQL a second replica beside it), then ``domain add --managed
    acme``, then nothing: no cron, no command. One order, whichever replica ticks."""
    with edge_bed(tmp_path, database_url, nginx, serve=False) as bed:
        ports = [bed.http_port] + [free_port() for _ in range(replicas - 1)]
        procs: list[tuple[subprocess.Popen[bytes], Path]] = []
        try:
            for port in ports:
                log = tmp_path / f"serve-{port}.log"
                with log.open("wb") as out:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "certdesk", "serve", "--port", str(port)],
                        env=bed.env(
                            CERTDESK_ADMIN_PASSWORD="operator password 1",
                            CERTDESK_SCHEDULER_INTERVAL="1s",
                        ),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                procs.append((proc, log))
            for port in ports:
                _wait(f"serve to listen on {port}", partial(_listening, port), procs)
            added = bed.certdesk("domain", "add", URL, "--tenant", TENANT, "--managed", "acme")
            assert added.returncode == 0, added.stdout + added.stderr

            def served() -> bool:
                view = bed.desk.run(OPERATOR, d.managed_status, url=URL)
                sha256 = view.certificate_sha256
                if view.state != "issued" or sha256 is None:
                    return False
                with contextlib.suppress(OSError):
                    return served_sha256(nginx.address, HOST) == sha256
                return False

            # Within 45 s, less than serve's default interval: its first tick ran before the
            # domain was added, so only a later one (CERTDESK_SCHEDULER_INTERVAL) issues it.
            _wait("the managed domain issued and served by nginx", served, procs, 45)
            sha256 = bed.desk.run(OPERATOR, d.show_domain, url=URL).certificate_sha256
            assert sha256 is not None
            _served_by_pebble(bed, nginx, sha256)
            view = bed.desk.run(OPERATOR, d.managed_status, url=URL)
            assert (view.state, view.certificate_sha256) == ("issued", sha256)
            # Ordered once, by one of the replicas.
            assert len(bed.desk.run(OPERATOR, d.list_orders)) == 1
            assert _acme_status(bed)["units"] == {"issued": 1}
        finally:
            for proc, _log in procs:
                proc.send_signal(signal.SIGTERM)
            for proc, _log in procs:
                try:
                    proc.wait(timeout=30)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait(timeout=30)
