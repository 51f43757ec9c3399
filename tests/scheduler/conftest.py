"""A platform with tenants and expiring certificates, a real SMTP server, and ways to read
what it received: the text and HTML parts and the CSV attachment of each report; a TLS
server and a port that never answers for the sweeps; ``certdesk serve`` processes at an
instant of the test's choosing (libfaketime)."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from certdesk.application.compose import report_config
from certdesk.desk import Desk
from certdesk.scheduler import ReportConfig
from certdesk.scheduler.engine import first_start
from certdesk.scheduler.reports import Delivery, delivery
from certdesk.settings import Settings
from certdesk.store.jobs import JobUnit
from certdesk.store.models import Domain
from certdesk.store.monitoring import Probe
from tests.monitor.conftest import TLSServer, server_context
from tests.notify.smtpd import Received, Recorder, smtp
from tests.openssl_pki import OpenSSLPKI
from tests.reports.certs import CertMaker, certs
from tests.reports.cli import certdesk_cli
from tests.reports.world import DAY, add_tenant, first_of_month, install, local

__all__ = ["certdesk_cli", "certs", "smtp"]

OPERATORS = ("noc@platform.test", "ops@platform.test")


@dataclass(frozen=True)
class Platform:
    day: object  # the date of the reports (the 1st of a month)
    daily_at: datetime  # 10:00 report time that day
    monthly_at: datetime  # 00:00 report time that day
    expiries: dict[str, datetime]
    tenant_ids: dict[str, int]


def build_platform(desk: Desk, certs: CertMaker, pki: OpenSSLPKI) -> Platform:
    """Acme (one e-mail) and Beta (two) have URLs in the reports; Gamma has URLs but no
    e-mail (only the operators hear of them); Delta has an e-mail and nothing to report."""
    day = first_of_month(pki)
    daily_at = local(day, 10)
    monthly_at = local(day, 0)
    ids = {
        "Acme Hosting": add_tenant(desk, "Acme Hosting", ["ops@acme.test"]),
        "Beta Cloud": add_tenant(desk, "Beta Cloud", ["a@beta.test", "b@beta.test"]),
        "Gamma Net": add_tenant(desk, "Gamma Net"),
        "Delta Web": add_tenant(desk, "Delta Web", ["hello@delta.test"]),
    }
    expiries = {
        # host: (tenant, expiry)
        "acme-old.test.com": ("Acme Hosting", daily_at - 2 * DAY),
        "acme-soon.test.com": ("Acme Hosting", daily_at + DAY),
        "acme-month.test.com": ("Acme Hosting", daily_at + 45 * DAY),
        "acme-fine.test.com": ("Acme Hosting", daily_at + 200 * DAY),
        "beta-soon.test.com": ("Beta Cloud", daily_at + 2 * DAY + timedelta(hours=5)),
        "beta-month.test.com": ("Beta Cloud", daily_at + 31 * DAY),
        "gamma-old.test.com": ("Gamma Net", daily_at - 10 * DAY),
        "gamma-soon.test.com": ("Gamma Net", daily_at + timedelta(hours=3)),
        "delta-fine.test.com": ("Delta Web", daily_at + 300 * DAY),
    }
    for host, (tenant, not_after) in expiries.items():
        portal = "storefront" if "soon" in host else "bss"
        install(desk, certs, tenant=tenant, host=host, not_after=not_after, portal=portal)
    return Platform(day, daily_at, monthly_at, {h: e for h, (_, e) in expiries.items()}, ids)


@pytest.fixture(autouse=True)
def running_since(desk: Desk, pki: OpenSSLPKI) -> datetime:
    """certdesk first started when the test PKI was made, before every period these tests
    use (a test of the first start itself sets its own)."""
    return first_start(desk, pki.made_at - timedelta(days=1))


@pytest.fixture
def platform(desk: Desk, certs: CertMaker, pki: OpenSSLPKI) -> Platform:
    return build_platform(desk, certs, pki)


def config_for(settings: Settings, **changes: object) -> ReportConfig:
    values: dict[str, object] = {
        "operator_emails": OPERATORS,
        "mail_from": "certdesk@platform.test",
    }
    values.update(changes)
    return report_config(dataclasses.replace(settings, **values))  # type: ignore[arg-type]


def job_units(desk: Desk, job_prefix: str) -> list[JobUnit]:
    """Every claim row of the jobs whose name starts with ``job_prefix``, detached."""
    with desk.store.transaction() as session:
        found = session.scalars(
            select(JobUnit).where(JobUnit.job.startswith(job_prefix, autoescape=True))
        ).all()
        session.expunge_all()
    return list(found)


def probes_per_url(desk: Desk) -> Counter[str]:
    """How many probes each monitored URL has (URLs never probed are absent)."""
    with desk.store.transaction() as session:
        rows = session.execute(
            select(Domain.url, func.count(Probe.id))
            .join(Probe, Probe.domain_id == Domain.id)
            .group_by(Domain.url)
        ).all()
    return Counter({str(url): int(n) for url, n in rows})


def claimer_pid(row: JobUnit) -> int:
    """The process id in a claim's worker name (``host:pid`` or ``host:pid:thread``)."""
    return int(row.claimed_by.split(":")[1])


def deliveries(desk: Desk) -> dict[tuple[str, str, str], Delivery]:
    """Every report delivery in the database, by (kind, period, recipient)."""
    with desk.store.transaction() as session:
        rows = [delivery(r) for r in session.scalars(select(JobUnit).order_by(JobUnit.id))]
    return {(r.kind, r.period, r.recipient): r for r in rows}


def once_each(received: Sequence[Received]) -> dict[str, Received]:
    """The received messages by Message-ID, asserting that none came twice."""
    counts = Counter(r.message_id for r in received)
    assert all(n == 1 for n in counts.values()), counts
    return {r.message_id: r for r in received}


def by_report(received: Sequence[Received]) -> dict[tuple[str, tuple[str, ...]], Received]:
    """The received messages by (X-Certdesk-Report, sorted envelope recipients)."""
    out: dict[tuple[str, tuple[str, ...]], Received] = {}
    for r in received:
        key = (str(r.message["X-Certdesk-Report"]), tuple(sorted(r.rcpt_tos)))
        assert key not in out, f"{key} received twice"
        out[key] = r
    return out


# --- reading a report e-mail --------------------------------------------------------------


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.headings: list[str] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "h2":
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None
        elif tag == "h2" and self._heading is not None:
            self.headings.append("".join(self._heading))
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._heading is not None:
            self._heading.append(data)


@dataclass
class ReportMail:
    text: str
    html: str
    csv_name: str
    csv_rows: list[dict[str, str]]
    html_headings: list[str]
    html_tables: list[list[dict[str, str]]]  # each table's rows as {header: cell}


def read_mail(message: EmailMessage) -> ReportMail:
    plain = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert plain is not None
    assert html_part is not None
    attachments = list(message.iter_attachments())
    assert len(attachments) == 1
    [attachment] = attachments
    assert attachment.get_content_type() == "text/csv"
    csv_text = attachment.get_payload(decode=True).decode("utf-8")
    parser = _Tables()
    parser.feed(html_part.get_content())
    tables = []
    for table in parser.tables:
        header, *rows = table
        tables.append([dict(zip(header, row, strict=True)) for row in rows])
    return ReportMail(
        text=plain.get_content(),
        html=html_part.get_content(),
        csv_name=str(attachment.get_filename()),
        csv_rows=list(csv.DictReader(io.StringIO(csv_text, newline=""))),
        html_headings=parser.headings,
        html_tables=tables,
    )


@dataclass(frozen=True)
class Small:
    day: object
    daily_at: datetime
    acme: int


def small_platform(desk: Desk, certs: CertMaker, pki: OpenSSLPKI) -> Small:
    """One reseller with one e-mail and one URL expiring in a day, one expired a day ago."""
    day = first_of_month(pki)
    daily_at = local(day, 10)
    acme = add_tenant(desk, "Acme Hosting", ["ops@acme.test"])
    install(desk, certs, tenant="Acme Hosting", host="acme-old.test.com", not_after=daily_at - DAY)
    install(desk, certs, tenant="Acme Hosting", host="acme-soon.test.com", not_after=daily_at + DAY)
    return Small(day, daily_at, acme)


@pytest.fixture
def small(desk: Desk, certs: CertMaker, pki: OpenSSLPKI) -> Small:
    return small_platform(desk, certs, pki)


# --- processes: sweeps, mail servers that hang, serve at a chosen instant -----------------


@pytest.fixture
def tls(pki: OpenSSLPKI, tmp_path: Path) -> Iterator[TLSServer]:
    server = TLSServer(
        default=server_context(pki.leaf_crt, pki.leaf_key, pki.int_crt, folder=tmp_path)
    )
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def silent() -> Iterator[int]:
    """A port that accepts connections and never says a word (a probe takes its timeout)."""
    sock = socket.create_server(("127.0.0.1", 0), backlog=128)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@dataclass
class FirstQuitHangs(Recorder):
    """Accepts every message; the first QUIT waits ``hang`` seconds, the others answer.
    ``held`` is the Message-ID of the message whose sender waits."""

    hang: float = 120.0
    quits: threading.Event = field(default_factory=threading.Event)
    held: str | None = None
    _sent: dict[int, str] = field(default_factory=dict)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        with self._lock:
            if answer.startswith("250"):
                self._sent[id(session)] = self.received[-1].message_id
        return answer

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.quits.is_set():
            self.held = self._sent.get(id(session))
            self.quits.set()
            await asyncio.sleep(self.hang)
        return "221 Bye"


def wait_for(what: str, check: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# Debian's libfaketime, for the machine's architecture (its multi-threaded flavour).
LIBFAKETIME = next(
    iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"))),
    Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"),
)


def serve_at(
    settings: Settings, at: datetime, log: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """``certdesk serve`` on a free port, its clock starting at ``at`` (libfaketime), with
    the settings of ``env`` besides the data folder and the database of ``settings``."""
    assert LIBFAKETIME.exists(), (
        f"{LIBFAKETIME} is missing: install Debian's `faketime` package "
        "(scripts/test-system-deps installs it)"
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "certdesk", "serve", "--port", str(port)],
            env={
                **os.environ,
                "CERTDESK_HOME": str(settings.home),
                "CERTDESK_DATABASE_URL": settings.database_url,
                "CERTDESK_ADMIN_PASSWORD": "operator password 1",
                **env,
                "LD_PRELOAD": str(LIBFAKETIME),
                "FAKETIME": "@" + at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                "FAKETIME_DONT_RESET": "1",
                "TZ": "UTC",
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it does not end in 30 seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
