"""Security headers: no-store on answers with secrets or CSRF tokens, a CSP and
X-Frame-Options on every HTML page (portal, report previews, /docs), HSTS over TLS."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest
from fastapi import FastAPI

from certdesk.asgi import create_app
from tests.api.conftest import OPERATOR, Api, SyncASGI


@pytest.fixture
def app(api: Api) -> FastAPI:
    return create_app(api.desk, api.settings, trusted_proxies=["10.0.0.1"])


def client(api: Api, app: FastAPI, *, peer: str = "192.0.2.1", https: bool = False) -> httpx.Client:
    transport = SyncASGI(app, api.transport.portal)
    transport._inner = httpx.ASGITransport(app=app, client=(peer, 50000))
    base = "https://testserver" if https else "http://testserver"
    return httpx.Client(transport=transport, base_url=base)


def logged_in(api: Api, app: FastAPI) -> httpx.Client:
    browser = client(api, app)
    answer = browser.post("/api/login", json={"username": OPERATOR[0], "password": OPERATOR[1]})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    browser.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return browser


def test_answers_with_secrets_or_csrf_tokens_are_not_stored(api: Api, app: FastAPI) -> None:
    browser = logged_in(api, app)
    for answer in (
        browser.get("/api/me"),
        browser.post("/api/tokens", json={"name": "ci"}),
        browser.get("/api/domains"),
    ):
        assert answer.status_code < 300, answer.text
        assert answer.headers["cache-control"] == "no-store", answer.request.url
    api.secrets.add(browser.post("/api/tokens", json={"name": "x"}).json()["token"])
    login_page = client(api, app).get("/login")
    assert login_page.headers["cache-control"] == "no-store"


def test_every_html_page_has_a_policy_and_cannot_be_framed(api: Api, app: FastAPI) -> None:
    browser = logged_in(api, app)
    pages = {
        "/login": client(api, app).get("/login"),
        "/": browser.get("/"),
        "report": browser.get("/api/reports/daily", params={"format": "html"}),
        "/docs": browser.get("/docs"),
    }
    for name, page in pages.items():
        assert page.status_code == 200, (name, page.text[:200])
        assert page.headers["content-type"].startswith("text/html"), name
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy, name
        assert page.headers["x-frame-options"] == "DENY", name
        assert page.headers["x-content-type-options"] == "nosniff", name
    # A report runs nothing and loads nothing.
    report_policy = pages["report"].headers["content-security-policy"]
    assert "default-src 'none'" in report_policy
    assert "script-src" not in report_policy


def test_docs_policy_allows_its_own_files_and_inline_script_only(api: Api, app: FastAPI) -> None:
    page = client(api, app).get("/docs")
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    scripts = policy["script-src"].split()
    inline = re.findall(rb"<script>(.*?)</script>", page.content, re.DOTALL)
    assert inline, page.text
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        assert f"'sha256-{digest}'" in scripts
    sources = re.findall(r'<script src="([^"]+)"', page.text)
    assert sources, page.text
    for src in sources:  # Swagger UI's files come from certdesk itself ('self'), no CDN
        assert src.startswith("/docs/assets/"), src
    assert "'self'" in scripts
    assert not [s for s in scripts if s.startswith(("http:", "https:"))], scripts
    assert "'unsafe-inline'" not in scripts
    assert "'unsafe-eval'" not in scripts
    assert policy["default-src"] == "'none'"


@pytest.mark.parametrize(
    ("peer", "https", "forwarded", "hsts"),
    [
        ("192.0.2.1", True, None, True),
        ("192.0.2.1", False, None, False),
        ("10.0.0.1", False, "https", True),  # the configured proxy terminates TLS
        ("10.0.0.1", False, "http", False),
        ("192.0.2.9", False, "https", False),  # anyone else cannot claim it
    ],
)
def test_hsts_only_over_tls(
    api: Api, app: FastAPI, peer: str, https: bool, forwarded: str | None, hsts: bool
) -> None:
    headers = {"X-Forwarded-Proto": forwarded} if forwarded else {}
    for path in ("/healthz", "/login"):
        answer = client(api, app, peer=peer, https=https).get(path, headers=headers)
        assert ("strict-transport-security" in answer.headers) is hsts, path
        if hsts:
            assert answer.headers["strict-transport-security"].startswith("max-age=")
