"""A file that costs too much to read, over the API and the portal: the reader process is
stopped at its time limit, the answer is ``too-costly`` with what to do, and nothing is
stored. The file is legal: ``openssl pkcs12 -export -iter 2000000`` (the key derivation
and the MAC take 2,000,000 rounds each, ~0.5 s of CPU on a fast machine); the app under
test allows 0.2 s a job."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from certdesk.asgi import create_app
from certdesk.desk import Actor, accounts
from tests.api.conftest import Api, SyncASGI, error_code
from tests.database import unchanged
from tests.flows import new_tenant
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI, costly_pfx

TENANT = "Acme Hosting"
PASSWORD = "acme-password-123"
COSTLY_ROUNDS = 2_000_000


@pytest.fixture(scope="session")
def costly(pki: OpenSSLPKI) -> Path:
    return costly_pfx(pki, COSTLY_ROUNDS)


@pytest.fixture
def strict_app(api: Api) -> Iterator[FastAPI]:
    """The app with the portal, allowing 0.2 s of wall-clock time per file read, and files
    of up to twice COSTLY_ROUNDS iterations (below the ceiling: the reader's limits are what
    refuse them here)."""
    settings = dataclasses.replace(api.settings, intake_timeout=0.2, intake_cpu_seconds=1)
    policy = dataclasses.replace(api.desk.policy, max_pkcs12_iterations=2 * COSTLY_ROUNDS)
    app = create_app(dataclasses.replace(api.desk, policy=policy), settings, with_portal=True)
    new_tenant(api.desk, Actor(name="test"), TENANT)
    api.desk.run(
        Actor(name="test"),
        accounts.create_user,
        username="acme",
        password=PASSWORD,
        role="reseller",
        tenant=TENANT,
    )
    try:
        yield app
    finally:
        app.state.readers.close()


def client_of(api: Api, app: FastAPI, *, scanned: bool = True) -> httpx.Client:
    """A reseller of the tenant, logged in; ``scanned``: its answers are the API's (JSON
    errors, scanned for secrets when the test ends)."""
    client = httpx.Client(
        transport=SyncASGI(app, api.transport.portal),
        base_url="http://testserver",
        event_hooks={"response": [api._seen]} if scanned else {},
    )
    login = client.post("/api/login", json={"username": "acme", "password": PASSWORD})
    assert login.status_code == 200, login.text
    client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
    return client


def test_a_costly_pfx_is_refused_too_costly_and_stores_nothing(
    api: Api, strict_app: FastAPI, costly: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_of(api, strict_app)
    with unchanged(api.desk), caplog.at_level(logging.DEBUG):
        answer = client.post(
            "/api/submissions",
            data={
                "common_name": "store.test.com",
                "tenant": TENANT,
                "urls": ["https://store.test.com"],
                "password": PFX_PASSWORD,
            },
            files={"file": (costly.name, costly.read_bytes(), "application/x-pkcs12")},
        )
    assert answer.status_code == 422, answer.text
    assert error_code(answer) == "too-costly"
    error = answer.json()["error"]
    assert "took too long to read" in error["message"]
    assert "stored nothing" in error["message"]
    assert "export it again" in error["hint"]
    assert "certdesk " not in error["hint"]  # a reseller is never told to run a command
    assert PFX_PASSWORD not in caplog.text
    assert strict_app.state.readers.processes == []  # the reader was stopped


def test_the_portal_form_answers_a_costly_pfx_next_to_its_file(
    api: Api, strict_app: FastAPI, costly: Path
) -> None:
    client = client_of(api, strict_app, scanned=False)  # the portal answers with pages
    form = client.get("/upload")
    assert form.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert match is not None
    with unchanged(api.desk):
        page = client.post(
            "/upload",
            data={
                "csrf_token": match.group(1),
                "password": PFX_PASSWORD,
                "common_name": "store.test.com",
                "urls": "https://store.test.com",
                "tenant": TENANT,
            },
            files={"file": (costly.name, costly.read_bytes(), "application/x-pkcs12")},
        )
    assert page.status_code == 422
    assert "took too long to read" in page.text
    assert PFX_PASSWORD not in page.text


def test_the_convert_page_answers_a_costly_pfx_next_to_its_file(
    api: Api, strict_app: FastAPI, costly: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_of(api, strict_app, scanned=False)
    form = client.get("/convert")
    match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert match is not None
    with unchanged(api.desk), caplog.at_level(logging.DEBUG):
        page = client.post(
            "/convert/pem",
            data={"csrf_token": match.group(1), "pfx_password": PFX_PASSWORD},
            files={"pfx": (costly.name, costly.read_bytes(), "application/x-pkcs12")},
        )
    assert page.status_code == 422
    assert 'id="pfx-error"' in page.text
    assert "<code>too-costly</code>" in page.text
    assert PFX_PASSWORD not in page.text
    assert PFX_PASSWORD not in caplog.text
    assert strict_app.state.readers.processes == []  # the reader was stopped
