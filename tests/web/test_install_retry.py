"""The portal tells the truth about an install: an upload whose install fails (nginx is
down) is, once the queued install has run, "stored; not installed" in amber with "Retry
now", never "Certificate installed"; the button (a POST with its CSRF token) queues the
install again, which installs once nginx is up; another tenant's URL is a 404 and
changes nothing."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from certdesk.desk import Desk
from certdesk.settings import Settings
from tests.database import unchanged
from tests.deploy.servers import (
    Nginx,
    run_nginx,
    served_sha256,
    settled_sha256,
    start_nginx,
    stop,
)
from tests.flows import order, signed
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI, openssl_fingerprint
from tests.web.conftest import OPERATOR, TENANT_A, settings_in
from tests.web.queue import install_page_of, work_off

Login = Callable[[str], tuple[httpx.Client, str]]
URL = "https://store.test.com"


@pytest.fixture
def nginx(tmp_path: Path, pki: OpenSSLPKI) -> Iterator[Nginx]:
    with run_nginx(tmp_path / "nginx", pki.selfsigned_crt, pki.selfsigned_key) as server:
        yield server


@pytest.fixture
def web_settings(tmp_path: Path, pki: OpenSSLPKI, template_folder: Path, nginx: Nginx) -> Settings:
    """The portal's data folder, with nginx as the default deploy target."""
    folder = tmp_path / "data"
    shutil.copytree(template_folder, folder)
    targets = (("edge", "nginx", tuple(sorted(nginx.options().items()))),)
    return dataclasses.replace(
        settings_in(folder, pki), deploy_targets=targets, deploy_default="edge"
    )


def test_a_failed_install_is_amber_with_retry_now(
    login: Login, app: FastAPI, web_desk: Desk, pki: OpenSSLPKI, nginx: Nginx
) -> None:
    alice, csrf = login("alice")
    assert nginx.proc is not None
    stop(nginx.proc)
    uploaded = alice.post(
        "/upload",
        data={"password": PFX_PASSWORD, "common_name": "store.test.com", "urls": URL,
              "csrf_token": csrf},
        files={"file": ("c.pfx", pki.modern_pfx.read_bytes(), "application/x-pkcs12")},
    )  # fmt: skip
    assert uploaded.status_code == 200, uploaded.text
    assert "Certificate stored, installing…" in uploaded.text
    assert work_off(app) == 1
    page = alice.get(install_page_of(uploaded.text)).text
    assert "<title>Certificate stored; not installed" in page
    assert "Certificate installed" not in page
    assert 'class="job-line tone-amber"' in page
    assert '<form method="post" action="/domain/install" class="inline retry">' in page  # shown
    assert "Retry now" in page
    assert "next try at" in page

    assert "(stored; not installed)" in alice.get("/").text  # the dashboard says it too

    domain = alice.get("/domain", params={"url": URL})
    assert 'class="badge i-install-failed"' in domain.text
    assert "Retry now" in domain.text

    bob, bob_csrf = login("bob")
    with unchanged(web_desk):
        theirs = bob.post("/domain/install", data={"csrf_token": bob_csrf, "url": URL})
        assert theirs.status_code == 404
        no_token = alice.post("/domain/install", data={"url": URL})
        assert no_token.status_code == 403

    start_nginx(nginx)
    retried = alice.post(
        "/domain/install", data={"csrf_token": csrf, "url": URL}, follow_redirects=False
    )
    assert retried.status_code == 303
    assert retried.headers["location"].startswith("/installs/")
    assert "Certificate stored, installing…" in alice.get(retried.headers["location"]).text
    assert work_off(app) == 1
    assert "Certificate installed" in alice.get(retried.headers["location"]).text
    shown = alice.get("/domain", params={"url": URL})
    assert 'class="badge i-installed">Installed<' in shown.text
    assert "Retry now" not in shown.text
    assert "(stored; not installed)" not in alice.get("/").text


def test_an_upload_answers_at_once_and_its_page_follows_the_install(
    login: Login, app: FastAPI, web_desk: Desk, pki: OpenSSLPKI, nginx: Nginx
) -> None:
    """The answer comes before any deploy: stored, installing (nginx still serves what it
    served); the status JSON and the install's page (which refreshes itself, for a
    browser without JavaScript) follow the queued install to "installed"; neither is
    another tenant's to read."""
    alice, csrf = login("alice")
    uploaded = alice.post(
        "/upload",
        data={"password": PFX_PASSWORD, "common_name": "store.test.com", "urls": URL,
              "csrf_token": csrf},
        files={"file": ("c.pfx", pki.modern_pfx.read_bytes(), "application/x-pkcs12")},
    )  # fmt: skip
    assert uploaded.status_code == 200, uploaded.text
    page = install_page_of(uploaded.text)
    assert f'data-follow="{page}/status"' in uploaded.text
    assert "<title>Certificate stored, installing… · certdesk" in uploaded.text
    leaf = openssl_fingerprint(pki.leaf_crt)
    assert served_sha256(nginx.address, "store.test.com") != leaf  # nothing deployed yet
    status = alice.get(f"{page}/status")
    assert status.status_code == 200
    assert status.headers["content-type"] == "application/json"
    waiting = status.json()
    assert (waiting["status"], waiting["finished"], waiting["tone"]) == ("queued", False, "pending")
    assert [(x["url"], x["retry"]) for x in waiting["lines"]] == [(URL, False)]
    shown = alice.get(page).text
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in shown

    bob, _bob_csrf = login("bob")
    with unchanged(web_desk):
        assert bob.get(page).status_code == 404
        assert bob.get(f"{page}/status").status_code == 404

    assert work_off(app) == 1
    done = alice.get(f"{page}/status").json()
    assert (done["status"], done["finished"], done["tone"]) == ("done", True, "ok")
    [line] = done["lines"]
    assert (line["url"], line["badge"], line["retry"]) == (URL, "Installed", False)
    assert "proven by a handshake" in line["text"]
    assert settled_sha256(nginx.address, "store.test.com", leaf) == leaf
    finished = alice.get(page).text
    assert "http-equiv" not in finished
    assert "<title>Certificate installed · certdesk" in finished


def test_a_signed_certificate_s_install_is_queued_and_followed(
    login: Login, app: FastAPI, web_desk: Desk, pki: OpenSSLPKI, nginx: Nginx, tmp_path: Path
) -> None:
    """The signed-certificate form takes the same path: stored at once, installed by the
    queued install, which the page follows."""
    shop = "https://shop.test.com"
    view = order(web_desk, OPERATOR, tenant=TENANT_A, cn="shop.test.com", urls=[shop])
    crt = signed(pki, view, tmp_path)
    alice, csrf = login("alice")
    answer = alice.post(
        "/signed",
        data={"csrf_token": csrf},
        files={"file": ("shop.pem", crt.read_bytes() + pki.int_crt.read_bytes(), "text/plain")},
    )
    assert answer.status_code == 200, answer.text
    assert "Certificate stored, installing…" in answer.text
    page = install_page_of(answer.text)
    assert alice.get(f"{page}/status").json()["lines"][0]["url"] == shop
    assert work_off(app) == 1
    done = alice.get(f"{page}/status").json()
    assert (done["status"], done["tone"]) == ("done", "ok")
    served = openssl_fingerprint(crt)
    assert settled_sha256(nginx.address, "shop.test.com", served) == served
