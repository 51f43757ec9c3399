"""Pages that only read open read-only transactions: they answer while another
connection holds SQLite's write lock (a long intake, a migration, a stuck writer)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from certdesk.asgi import create_app
from tests.api.conftest import OPERATOR, Api, SyncASGI


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: PostgreSQL's readers never wait for a writer's lock."""
    return f"sqlite:///{tmp_path / 'certdesk.db'}"


@pytest.fixture
def write_lock(api: Api, browser: httpx.Client) -> Iterator[None]:
    """Another connection holds the write lock (taken once the browser has logged in)."""
    path = api.settings.database_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None, timeout=1)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.fixture
def browser(api: Api) -> httpx.Client:
    app = create_app(api.desk, api.settings)
    client = httpx.Client(transport=SyncASGI(app, api.transport.portal), base_url="http://t")
    answer = client.post("/api/login", json={"username": OPERATOR[0], "password": OPERATOR[1]})
    assert answer.status_code == 200
    return client


@pytest.mark.usefixtures("write_lock")
@pytest.mark.parametrize(
    "path",
    [
        "/reports",
        "/reports/daily",
        "/reports/monthly",
        "/api/report-deliveries",
        "/api/reports/daily",
        "/metrics",
    ],
)
def test_read_only_pages_answer_while_the_write_lock_is_held(
    browser: httpx.Client, path: str
) -> None:
    started = time.monotonic()
    answer = browser.get(path)
    assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    # Not after waiting out the busy timeout either.
    assert time.monotonic() - started < 5, path


def test_the_lock_is_real(api: Api, browser: httpx.Client) -> None:
    # The same lock makes a write wait and then give up: the test above means something.
    path = api.settings.database_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None, timeout=1)
    holder.execute("BEGIN IMMEDIATE")
    try:
        other = sqlite3.connect(path, timeout=0.2)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
