"""One tenant's costly uploads against a real ``python -m certdesk serve``: the other
tenants go on working.

Before the reader pool, intake read the ``.pfx`` inside a write transaction on the
request's worker: every other writer waited for it (then answered 503), ``/healthz``
took as long, and with ``--workers 2`` uvicorn killed the stuck worker and dropped its
other requests. Here the hostile file is legal and costly —
``openssl pkcs12 -export -iter 8000000`` (2 s of CPU or more to open) — and while its
uploads are being read, another tenant adds a domain (a write), lists its domains and
the server answers ``/healthz``, all before any hostile upload is answered.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from certdesk.application.compose import open_desk
from certdesk.desk import Actor, accounts
from certdesk.settings import Settings
from certdesk.store.models import CertificateRecord, Domain
from tests.flows import new_tenant
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI, costly_pfx

SLOW_ROUNDS = 8_000_000
HOSTILE, CALM = "Hostile Hosting", "Calm Web"
OPERATOR = Actor(name="test")


@dataclass
class Served:
    base: str
    settings: Settings
    tokens: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    processes: set[int] = field(default_factory=set)
    clients: list[httpx.Client] = field(default_factory=list)

    def note_processes(self) -> None:
        """Remember the server's processes now (its workers, their readers)."""
        self.processes |= _descendants(self.process.pid)

    def wait_for_readers(self, count: int) -> None:
        """Wait until ``count`` reader processes run: as many uploads are being read."""
        deadline = time.monotonic() + 120
        while len(self.readers()) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"{count} readers never started:\n{self.log.read_text()}")
            time.sleep(0.05)
        self.note_processes()

    def readers(self) -> list[int]:
        found = []
        for pid in _descendants(self.process.pid):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in command and _alive(pid):
                found.append(pid)
        return found

    def client(self, tenant: str) -> httpx.Client:
        """A client with the tenant's reseller's API token (closed when the test ends)."""
        client = httpx.Client(
            base_url=self.base,
            headers={"Authorization": f"Bearer {self.tokens[tenant]}"},
            timeout=120,
        )
        self.clients.append(client)
        return client


@pytest.fixture(scope="session")
def slow_pfx(pki: OpenSSLPKI) -> Path:
    return costly_pfx(pki, SLOW_ROUNDS)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _descendants(pid: int) -> set[int]:
    """The processes under ``pid`` now (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def serve(tmp_path: Path, pki: OpenSSLPKI) -> Iterator[Callable[..., Served]]:
    """``serve(workers=N, **env)``: a server on a fresh data folder with two tenants, each
    with a reseller and an API token. When the test ends the server is stopped and none of
    its processes (uvicorn's workers, their readers) may be left running."""
    started: list[Served] = []

    def start(workers: int = 1, **env: str) -> Served:
        settings = Settings(
            home=tmp_path / "home",
            database_url=f"sqlite:///{tmp_path / 'certdesk.db'}",
            ca_bundle=pki.root_crt,
        )
        desk = open_desk(settings)
        tokens = {}
        try:
            for tenant in (HOSTILE, CALM):
                new_tenant(desk, OPERATOR, tenant)
                user = desk.run(
                    OPERATOR,
                    accounts.create_user,
                    username=tenant.split()[0].lower(),
                    password="reseller password 1",
                    role="reseller",
                    tenant=tenant,
                )
                token = desk.run(OPERATOR, accounts.create_token, user_id=user.id, name="t")
                assert token.token is not None
                tokens[tenant] = token.token
        finally:
            desk.store.close()
        port = _free_port()
        log = tmp_path / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "certdesk",
                    "--home",
                    str(settings.home),
                    "serve",
                    "--port",
                    str(port),
                    "--no-scheduler",
                    "--workers",
                    str(workers),
                ],
                env={
                    **os.environ,
                    "CERTDESK_ADMIN_PASSWORD": "operator password 1",
                    "CERTDESK_CA_BUNDLE": str(pki.root_crt),
                    "CERTDESK_DATABASE_URL": settings.database_url,
                    # Legal files costly enough to keep a reader busy: the ceiling on
                    # iterations is raised so that the readers' own limits are tested.
                    "CERTDESK_MAX_PKCS12_ITERATIONS": str(2 * SLOW_ROUNDS),
                    **env,
                },
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        served = Served(f"http://127.0.0.1:{port}", settings, tokens, process, log)
        started.append(served)
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"certdesk serve exited:\n{log.read_text()}", pytrace=False)
            try:
                if httpx.get(f"{served.base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"certdesk serve did not start:\n{log.read_text()}", pytrace=False)
            time.sleep(0.2)
        return served

    yield start
    for served in started:
        for client in served.clients:
            client.close()
        served.note_processes()
        processes = served.processes
        served.process.send_signal(signal.SIGTERM)  # as systemd stops it: a clean shutdown
        try:
            served.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait()
            pytest.fail(f"certdesk serve did not stop:\n{served.log.read_text()}")
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in processes) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [p for p in processes if _alive(p)]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, f"processes of certdesk serve left running: {left}"


def upload(client: httpx.Client, pfx: Path, url: str) -> httpx.Response:
    return client.post(
        "/api/submissions",
        data={
            "common_name": "store.test.com",
            "tenant": HOSTILE,
            "urls": [url],
            "password": PFX_PASSWORD,
        },
        files={"file": (pfx.name, pfx.read_bytes(), "application/x-pkcs12")},
    )


def in_background(calls: list[Callable[[], Any]]) -> list[Future[Any]]:
    executor = ThreadPoolExecutor(max_workers=len(calls))
    futures = [executor.submit(call) for call in calls]
    executor.shutdown(wait=False)
    return futures


def count(served: Served, model: Any) -> int:
    desk = open_desk(served.settings)
    try:
        with desk.context(OPERATOR, readonly=True) as ctx:
            return int(ctx.session.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        desk.store.close()


@pytest.mark.slow
def test_costly_uploads_block_no_other_tenant(serve: Callable[..., Served], slow_pfx: Path) -> None:
    served = serve(workers=2)
    hostile, calm = served.client(HOSTILE), served.client(CALM)
    uploads = in_background(
        [
            lambda: upload(hostile, slow_pfx, "https://store.test.com"),
            lambda: upload(hostile, slow_pfx, "https://www.test.com"),
        ]
    )
    served.wait_for_readers(2)  # both files are being read
    assert not any(u.done() for u in uploads), [u.result().text for u in uploads if u.done()]
    answers = [
        calm.post("/api/domains", json={"url": "https://shop.calm-web.gr", "tenant": CALM}),
        calm.get("/api/domains"),
        httpx.get(f"{served.base}/healthz", timeout=120),
        calm.post("/api/domains", json={"url": "https://blog.calm-web.gr", "tenant": CALM}),
    ]
    still_reading = [not u.done() for u in uploads]
    assert [a.status_code for a in answers] == [201, 200, 200, 201], [a.text for a in answers]
    assert [d["url"] for d in answers[1].json()] == ["https://shop.calm-web.gr"]
    # Every one of those was answered while the hostile files were still being read.
    assert all(still_reading), "a hostile upload was answered before the other tenant's calls"
    # And the hostile uploads are answered too (not dropped with a killed worker): the
    # file is legal, so one is stored and the other is the same certificate again.
    statuses = sorted(u.result(timeout=300).status_code for u in uploads)
    assert statuses in ([201, 201], [201, 409]), [u.result().text for u in uploads]


@pytest.mark.slow
def test_a_tenant_over_its_share_is_refused_and_a_job_over_its_time_stores_nothing(
    serve: Callable[..., Served], slow_pfx: Path
) -> None:
    # One worker process (the share is counted per server process), one CPU second a job.
    served = serve(workers=1, CERTDESK_INTAKE_CPU_SECONDS="1", CERTDESK_INTAKE_PER_TENANT="2")
    hostile, calm = served.client(HOSTILE), served.client(CALM)
    first = in_background(
        [
            lambda: upload(hostile, slow_pfx, "https://store.test.com"),
            lambda: upload(hostile, slow_pfx, "https://www.test.com"),
        ]
    )
    served.wait_for_readers(2)  # both files are being read: the tenant's share is taken
    third = upload(hostile, slow_pfx, "https://store.test.com")
    added = calm.post("/api/domains", json={"url": "https://shop.calm-web.gr", "tenant": CALM})
    assert not any(u.done() for u in first), "a hostile upload was answered too soon"
    assert third.status_code == 429, third.text
    assert third.json()["error"]["code"] == "rate-limited"
    assert "at most 2 at a time" in third.json()["error"]["message"]
    assert added.status_code == 201, added.text
    for answer in (u.result(timeout=300) for u in first):
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "too-costly"
        assert "took too long to read" in answer.json()["error"]["message"]
    served.note_processes()
    assert count(served, CertificateRecord) == 0
    assert count(served, Domain) == 1  # the calm tenant's; none of the hostile's
    assert PFX_PASSWORD not in served.log.read_text()
