"""The portal's fixtures: an app on a fresh SQLite data folder with two resellers' tenants,
clients logged in as each, and a ``.pfx`` of the openssl-made certificate that expires
in 10 days."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI

from certdesk.application.compose import open_desk
from certdesk.asgi import create_app
from certdesk.desk import Actor, Desk, accounts
from certdesk.settings import Settings
from tests.database import LAB_SUFFIXES
from tests.flows import new_tenant
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI, run_openssl

PASSWORD = "correct horse battery"
TENANT_A = "Acme Hosting"
TENANT_B = "Beta Web"
OPERATOR = Actor(name="test")


@pytest.fixture(scope="session")
def soon_pfx(pki: OpenSSLPKI) -> Path:
    """soon.test.com (10 days left) with its key and the intermediate, by ``openssl pkcs12``."""
    out = pki.folder / "soon.pfx"
    if not out.exists():
        run_openssl(
            "pkcs12",
            "-export",
            "-in",
            pki.soon_crt,
            "-inkey",
            pki.soon_key,
            "-certfile",
            pki.int_crt,
            "-passout",
            f"pass:{PFX_PASSWORD}",
            "-out",
            out,
        )
    return out


def add_accounts(desk: Desk, *, operator: bool = True) -> None:
    """Tenants A and B, reseller ``alice`` of A, ``bob`` of B, (and) operator ``admin``."""
    new_tenant(desk, OPERATOR, TENANT_A)
    new_tenant(desk, OPERATOR, TENANT_B)
    users: list[tuple[str, str, str | None]] = [
        ("alice", "reseller", TENANT_A),
        ("bob", "reseller", TENANT_B),
    ]
    if operator:
        users.append(("admin", "operator", None))
    for user, role, tenant in users:
        desk.run(
            OPERATOR,
            accounts.create_user,
            username=user,
            password=PASSWORD,
            role=role,
            tenant=tenant,
        )


def settings_in(folder: Path, pki: OpenSSLPKI) -> Settings:
    return Settings(
        home=folder / "home",
        database_url=f"sqlite:///{folder / 'certdesk.db'}",
        ca_bundle=pki.root_crt,
        lab_suffixes=LAB_SUFFIXES,
    )


@pytest.fixture(scope="session")
def template_folder(tmp_path_factory: pytest.TempPathFactory, pki: OpenSSLPKI) -> Path:
    """A migrated data folder with the accounts, made once (argon2 is slow on purpose)."""
    folder = tmp_path_factory.mktemp("web-template")
    made = open_desk(settings_in(folder, pki))
    try:
        add_accounts(made)
    finally:
        made.store.close()
    return folder


@pytest.fixture
def web_settings(tmp_path: Path, pki: OpenSSLPKI, template_folder: Path) -> Settings:
    """A data folder of the test's own: a copy of the template."""
    folder = tmp_path / "data"
    shutil.copytree(template_folder, folder)
    return settings_in(folder, pki)


@pytest.fixture
def web_desk(web_settings: Settings) -> Iterator[Desk]:
    opened = open_desk(web_settings)
    try:
        yield opened
    finally:
        opened.store.close()


@pytest.fixture
def app(web_desk: Desk, web_settings: Settings) -> Iterator[FastAPI]:
    made = create_app(web_desk, web_settings)
    try:
        yield made
    finally:
        made.state.readers.close()  # what lifespan does in a server


class SyncASGI(httpx.BaseTransport):
    """httpx's ASGI transport for synchronous tests: the app runs on an event loop in a
    thread. (Starlette's ``TestClient`` does the same but is deprecated over httpx.)"""

    def __init__(self, app: FastAPI, portal: BlockingPortal) -> None:
        self._inner = httpx.ASGITransport(app=app, client=("192.0.2.7", 50000))
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()

        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            inner = httpx.Request(
                request.method, request.url, headers=request.headers, content=content
            )
            response = await self._inner.handle_async_request(inner)
            return response.status_code, response.headers.raw, await response.aread()

        status, headers, body = self._portal.call(call)
        return httpx.Response(status, headers=headers, content=body, request=request)


@pytest.fixture
def transport(app: FastAPI) -> Iterator[SyncASGI]:
    with start_blocking_portal() as portal:
        yield SyncASGI(app, portal)


def browser_client(transport: SyncASGI, *, https: bool = False) -> httpx.Client:
    """A client that asks for HTML and keeps cookies, as a browser does."""
    return httpx.Client(
        transport=transport,
        base_url="https://testserver" if https else "http://testserver",
        headers={"accept": "text/html"},
    )


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    """The CSRF token in a page's forms."""
    found = CSRF_FIELD.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


SHOWN_PASSWORD = re.compile(r'<code class="secret" id="new-password">([^<]+)</code>')


def shown_password(html: str) -> str:
    """The password certdesk made, on the page that shows it once."""
    found = SHOWN_PASSWORD.search(html)
    assert found, "the page shows no password"
    return found.group(1)


def log_in(client: httpx.Client, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; the session's CSRF token."""
    form = client.get("/login")
    done = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return csrf_of(client.get("/").text)


@pytest.fixture
def login(transport: SyncASGI) -> Iterator[Callable[[str], tuple[httpx.Client, str]]]:
    """``login(user)``: a client with that user's session, and its CSRF token."""
    clients: list[httpx.Client] = []

    def make(username: str) -> tuple[httpx.Client, str]:
        client = browser_client(transport)
        clients.append(client)
        return client, log_in(client, username)

    yield make
    for client in clients:
        client.close()
