"""An install that fails after an upload: the upload's answer says the certificate is
stored and being installed, and the install's page (which the answer follows) says it
failed (not in green); a reseller reads a plain sentence with the request to quote, never
the target's own output (which names the server's files); an operator reads the
details."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from certdesk.asgi import create_app
from certdesk.desk import Desk
from certdesk.settings import Settings
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI
from tests.web.queue import install_page_of, work_off

Login = Callable[[str], tuple[httpx.Client, str]]


@pytest.fixture
def blocker(tmp_path: Path) -> Path:
    """A file where the target's folder should be made: every deploy fails."""
    path = tmp_path / "server-secret-path"
    path.write_text("not a folder\n")
    return path


@pytest.fixture
def app(web_desk: Desk, web_settings: Settings, blocker: Path) -> Iterator[FastAPI]:
    settings = dataclasses.replace(
        web_settings,
        deploy_targets=(("edge", "files", (("folder", str(blocker / "certs")),)),),
        deploy_default="edge",
    )
    made = create_app(web_desk, settings)
    try:
        yield made
    finally:
        made.state.readers.close()


def _upload(
    client: httpx.Client, app: FastAPI, csrf: str, pki: OpenSSLPKI, tenant: str | None
) -> str:
    """The upload's answer (stored, installing), then the install's page once it ran."""
    answer = client.post(
        "/upload",
        data={
            "csrf_token": csrf,
            "password": PFX_PASSWORD,
            "common_name": "store.test.com",
            "urls": "https://store.test.com",
            **({"tenant": tenant} if tenant else {}),
        },
        files={"file": ("modern.pfx", pki.modern_pfx.read_bytes())},
    )
    assert answer.status_code == 200, answer.text
    assert "Certificate stored, installing…" in answer.text
    assert "server-secret-path" not in answer.text
    assert work_off(app) == 1
    page = client.get(install_page_of(answer.text))
    assert page.status_code == 200, page.text
    return page.text


def test_a_failed_install_is_plain_for_a_reseller(
    login: Login, app: FastAPI, pki: OpenSSLPKI
) -> None:
    client, csrf = login("alice")
    page = _upload(client, app, csrf, pki, None)
    assert 'class="install-job tone-amber"' in page
    assert (
        'class="job-heading" role="status" aria-live="polite">Certificate stored; not installed<'
        in page
    )
    assert "tone-ok" not in page
    assert "<title>Certificate stored; not installed" in page
    assert "server-secret-path" not in page
    found = re.search(r"reference: request #(\d+)", page)
    assert found, page
    assert f'href="/requests/{found.group(1)}"' in page


def test_an_operator_reads_the_details(login: Login, app: FastAPI, pki: OpenSSLPKI) -> None:
    client, csrf = login("admin")
    page = _upload(client, app, csrf, pki, "Acme Hosting")
    assert 'class="install-job tone-amber"' in page
    assert "server-secret-path" in page
