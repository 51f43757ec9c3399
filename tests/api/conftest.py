"""The JSON API under test: ``create_app`` over a desk on SQLite or PostgreSQL, driven
with httpx (FastAPI's ``httpx.Client``).

Every response of every test is kept and, when the test ends, scanned for what must
never leave certdesk: ``PRIVATE KEY`` blocks, the passwords the test used, and the
bytes of every private key in the database (opened through the vault), in every
encoding ``tests.signing.key_needles`` knows. Export downloads, whose point is to
carry the key, are the only responses left out. Every error response must be JSON
carrying a stable ``error.code``.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from sqlalchemy import select

from certdesk.asgi import create_app
from certdesk.desk import Actor, Desk
from certdesk.desk import accounts as acc
from certdesk.desk.records import open_key
from certdesk.settings import Settings
from certdesk.store.models import PrivateKeyRecord
from tests.openssl_pki import PFX_PASSWORD, UTF8_PASSWORD, OpenSSLPKI
from tests.signing import key_needles

OPERATOR = ("operator", "operator-password-1")
_NEEDLE_CACHE: dict[str, dict[str, bytes]] = {}


def needles_of_key(pem: bytes, folder: Path) -> dict[str, bytes]:
    """``key_needles`` for a PEM private key (cached by its bytes: openssl runs once)."""
    digest = hashlib.sha256(pem).hexdigest()
    if digest not in _NEEDLE_CACHE:
        path = folder / f"key-{digest[:16]}.pem"
        path.write_bytes(pem)
        _NEEDLE_CACHE[digest] = key_needles(path)
    return _NEEDLE_CACHE[digest]


class SyncASGI(httpx.BaseTransport):
    """httpx's ASGI transport driven from synchronous tests, on an event loop in a thread.

    (Starlette's ``TestClient`` does the same but warns that it is deprecated over httpx.)
    A body sent without ``Content-Length`` reaches the app in chunks, as a stream would.
    """

    def __init__(self, app: FastAPI, portal: BlockingPortal, *, raise_errors: bool = True) -> None:
        self._inner = httpx.ASGITransport(
            app=app, client=("192.0.2.1", 50000), raise_app_exceptions=raise_errors
        )
        self.app = app
        self.portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if "content-length" in request.headers:
            content: Any = request.read()
        else:
            chunks = list(request.stream)  # type: ignore[arg-type]

            async def stream() -> AsyncIterator[bytes]:
                for chunk in chunks:
                    yield chunk

            content = stream()

        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            inner = httpx.Request(
                request.method, request.url, headers=request.headers, content=content
            )
            response = await self._inner.handle_async_request(inner)
            body = await response.aread()
            return response.status_code, response.headers.raw, body

        status, headers, body = self.portal.call(call)
        return httpx.Response(status, headers=headers, content=body, request=request)


@dataclass
class Api:
    """The app under test, its desk, and what its responses must never contain."""

    app: FastAPI
    desk: Desk
    settings: Settings
    pki: OpenSSLPKI
    folder: Path
    transport: SyncASGI
    secrets: set[str] = field(default_factory=set)
    responses: list[httpx.Response] = field(default_factory=list)

    def client(
        self, *, https: bool = False, raise_errors: bool = True, **headers: str
    ) -> httpx.Client:
        """A client of the app; ``raise_errors=False``: the app's unexpected errors become
        the 500 answers a real server sends, instead of failing the test."""
        base = "https://testserver" if https else "http://testserver"
        transport = self.transport
        if not raise_errors:
            transport = SyncASGI(self.app, self.transport.portal, raise_errors=False)
        return httpx.Client(
            transport=transport,
            base_url=base,
            headers=headers,
            event_hooks={"response": [self._seen]},
        )

    def _seen(self, response: httpx.Response) -> None:
        response.read()
        self.responses.append(response)
        if response.status_code >= 400:
            assert response.headers.get("content-type", "").startswith("application/json"), (
                f"{response.request.method} {response.request.url}: {response.status_code} "
                f"is not JSON: {response.text[:200]}"
            )
            code = response.json().get("error", {}).get("code")
            assert isinstance(code, str), response.text
            assert code, response.text

    # --- accounts --------------------------------------------------------------------

    def user(
        self,
        username: str,
        role: str = "reseller",
        tenant: str | None = None,
        password: str | None = None,
    ) -> str:
        """Create an account through the desk; its password."""
        password = password or f"{username}-password-123"
        self.secrets.add(password)
        self.desk.run(
            Actor(name="test"),
            acc.create_user,
            username=username,
            password=password,
            role=role,
            tenant=tenant,
        )
        return password

    def session(self, username: str, password: str, *, https: bool = False) -> httpx.Client:
        """A client logged in with a session cookie; the CSRF header is set on it."""
        client = self.client(https=https)
        answer = client.post("/api/login", json={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        return client

    def token(self, client: httpx.Client, name: str = "script") -> tuple[int, str]:
        answer = client.post("/api/tokens", json={"name": name})
        assert answer.status_code == 201, answer.text
        body = answer.json()
        return body["id"], body["token"]

    def bearer(self, token: str) -> httpx.Client:
        return self.client(Authorization=f"Bearer {token}")

    def operator(self) -> httpx.Client:
        return self.session(*OPERATOR)

    # --- the scan ----------------------------------------------------------------------

    def key_needles(self) -> dict[str, bytes]:
        """Every private key the database holds, and the test PKI's leaf key."""
        out = {
            f"leaf:{k}": v
            for k, v in needles_of_key(self.pki.leaf_key.read_bytes(), self.folder).items()
        }
        with self.desk.context(Actor(name="test")) as ctx:
            for record in ctx.session.scalars(select(PrivateKeyRecord)):
                pem = open_key(ctx, record).private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                for name, value in needles_of_key(pem, self.folder).items():
                    out[f"key{record.id}:{name}"] = value
        return out

    def scan(self, *, exports: bool = False) -> int:
        """Assert no kept response leaks a key or a password; how many were scanned."""
        needles = self.key_needles()
        needles["PRIVATE KEY"] = b"PRIVATE KEY"
        for secret in {PFX_PASSWORD, UTF8_PASSWORD, *self.secrets}:
            needles[f"password {secret!r}"] = secret.encode("utf-8")
        scanned = 0
        for response in self.responses:
            is_export = response.request.url.path == "/api/exports"
            if is_export and response.status_code == 200 and not exports:
                continue  # the export is the one response meant to carry the key
            body = response.content
            scanned += 1
            for name, needle in needles.items():
                assert needle not in body, (
                    f"{response.request.method} {response.request.url} leaks {name}"
                )
        return scanned


@pytest.fixture(autouse=True)
def quick_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id still, with small costs: the production costs take a second a hash on a
    busy test machine, and these tests log in a few hundred times."""
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(acc, "_HASHER", hasher)
    monkeypatch.setattr(acc, "_DUMMY_HASH", hasher.hash("certdesk-no-such-user"))


@pytest.fixture
def api(desk: Desk, settings: Settings, pki: OpenSSLPKI, tmp_path: Path) -> Iterator[Api]:
    app = create_app(desk, settings, with_portal=False)
    folder = tmp_path / "api"
    folder.mkdir()
    try:
        with start_blocking_portal() as portal:
            made = Api(app, desk, settings, pki, folder, SyncASGI(app, portal))
            made.user(OPERATOR[0], role="operator", password=OPERATOR[1])
            yield made
    finally:
        app.state.readers.close()  # what lifespan does in a server: no reader outlives a test
    made.scan()


def error_code(response: httpx.Response) -> Any:
    return response.json()["error"]["code"]
