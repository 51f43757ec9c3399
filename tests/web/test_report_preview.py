"""The portal's report preview is a read: it answers while a writer holds SQLite's write
lock (as the API's and the CLI's previews do), and it shows the reseller's own report."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import httpx

from certdesk.settings import Settings
from tests.web.conftest import TENANT_A, TENANT_B

Login = Callable[[str], tuple[httpx.Client, str]]


def test_preview_reads_beside_a_writer(login: Login, web_settings: Settings) -> None:
    client, _ = login("alice")
    path = web_settings.database_url.removeprefix("sqlite:///")
    writer = sqlite3.connect(path, timeout=1, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # the write lock, held through the request
        page = client.get("/reports/daily", timeout=60)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert page.status_code == 200
    assert f"Daily SSL expiration report for {TENANT_A}" in page.text
    assert TENANT_B not in page.text
