"""An upload's install, followed by the page in Chromium: ``python -m certdesk serve`` with
a real nginx as its default deploy target (``certdesk.toml``). The answer comes at once,
"stored, installing…"; the on-demand worker of ``serve`` deploys and proves the install
while the page follows it, and the same page — never reloaded — turns to "installed" in
green; with nginx down it turns amber, "not installed", with the reason, the next try and
"Retry now", which (nginx back) queues the install again and its page follows it to
"installed". The domain page's "Probe now" is followed the same way. Each stage is
checked by axe-core and photographed into ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Frame, Page, Route, expect

from certdesk.application.compose import open_desk
from tests.deploy.servers import (
    Nginx,
    run_nginx,
    settled_sha256,
    start_nginx,
    stop,
)
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI, openssl_fingerprint
from tests.web.conftest import PASSWORD, add_accounts, settings_in
from tests.web.serving import certdesk_serve
from tests.web.test_accessibility import SCREENSHOTS, Audit
from tests.web.test_browser import (  # noqa: F401 - browser is a fixture
    ADMIN_PASSWORD,
    DESKTOP,
    browser,
    log_in,
)

URL = "https://store.test.com"


@dataclass(frozen=True)
class Served:
    base: str
    nginx: Nginx
    log: Path


@pytest.fixture
def served(tmp_path: Path, pki: OpenSSLPKI) -> Iterator[Served]:
    """``certdesk serve`` with the nginx as its default deploy target."""
    folder = tmp_path / "served"
    folder.mkdir()
    settings = settings_in(folder, pki)
    made = open_desk(settings)
    try:
        add_accounts(made, operator=False)
    finally:
        made.store.close()
    with run_nginx(tmp_path / "nginx", pki.selfsigned_crt, pki.selfsigned_key) as nginx:
        lines = ['[deploy]\ndefault = "edge"\n\n[deploy.targets.edge]\nkind = "nginx"']
        lines += [f"{key} = {json.dumps(value)}" for key, value in nginx.options().items()]
        (settings.home / "certdesk.toml").write_text("\n".join(lines) + "\n")
        env = {
            **os.environ,
            "CERTDESK_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "CERTDESK_CA_BUNDLE": str(pki.root_crt),
            "CERTDESK_DATABASE_URL": settings.database_url,
        }
        log = folder / "server.log"
        with certdesk_serve(settings.home, env, log) as base:
            yield Served(base, nginx, log)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:  # noqa: F811 - the fixture imported above
    context = browser.new_context(viewport=DESKTOP)
    try:
        yield context.new_page()
    finally:
        context.close()


class HeldStatus:
    """Holds the page's status requests until released, so that the page can be seen (and
    photographed) as it was answered: stored, installing."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.held: list[Route] = []
        self.holding = True
        page.route("**/installs/*/status", self._on)

    def _on(self, route: Route) -> None:
        if self.holding:
            self.held.append(route)
        else:
            route.continue_()

    def release(self) -> None:
        self.holding = False
        for route in self.held:
            route.continue_()
        self.held.clear()


def _upload(page: Page, served: Served, pki: OpenSSLPKI) -> None:
    page.goto(served.base + "/upload")
    page.get_by_label(".pfx or .p12 file").set_input_files(str(pki.modern_pfx))
    page.get_by_label("Password of the .pfx").fill(PFX_PASSWORD)
    page.get_by_label("Common name").fill("store.test.com")
    page.get_by_label("URLs").fill(URL)
    page.get_by_role("button", name="Check and install").click()
    expect(page.get_by_role("heading", name="Certificate accepted")).to_be_visible()


def _navigations(page: Page) -> list[str]:
    seen: list[str] = []

    def navigated(frame: Frame) -> None:
        if frame is page.main_frame:
            seen.append(frame.url)

    page.on("framenavigated", navigated)
    return seen


def test_the_page_follows_an_install_to_installed(
    page: Page, served: Served, pki: OpenSSLPKI
) -> None:
    audit = Audit("install")
    log_in(page, served, "alice", PASSWORD)  # type: ignore[arg-type]
    held = HeldStatus(page)
    _upload(page, served, pki)
    navigated = _navigations(page)
    job = page.locator("#install-job")
    expect(job.locator(".job-heading")).to_have_text("Certificate stored, installing…")
    line = job.locator(f'li[data-url="{URL}"]')
    expect(line.locator(".badge")).to_have_text("Stored; installing…")
    expect(line.locator("form.retry")).to_be_hidden()
    audit.check(page, "upload-installing")
    held.release()

    expect(job.locator(".job-heading")).to_have_text("Certificate installed", timeout=60_000)
    expect(job).to_have_class("install-job tone-ok")
    expect(line.locator(".badge")).to_have_text("Installed")
    expect(line.locator(".job-text")).to_contain_text("proven by a handshake")
    expect(page).to_have_title("Certificate installed · certdesk")
    assert navigated == []  # the same page: never reloaded
    leaf = openssl_fingerprint(pki.leaf_crt)
    assert settled_sha256(served.nginx.address, "store.test.com", leaf) == leaf
    audit.check(page, "upload-installed")

    # "Probe now" on the domain page is followed the same way, to its end.
    page.get_by_role("link", name=URL).first.click()
    navigated = _navigations(page)
    page.get_by_role("button", name="Probe now").click()
    expect(page.locator("#probe-request .job-heading")).to_have_text(
        re.compile(r"Probe request #\d+: done, 0 of 1 answered"), timeout=60_000
    )
    assert len(navigated) == 1  # the form's answer; not reloaded after it
    audit.check(page, "domain-probe-done")
    audit.assert_clean()


def test_the_page_follows_a_failed_install_to_amber_and_retries(
    page: Page, served: Served, pki: OpenSSLPKI
) -> None:
    audit = Audit("install")
    assert served.nginx.proc is not None
    stop(served.nginx.proc)
    log_in(page, served, "alice", PASSWORD)  # type: ignore[arg-type]
    _upload(page, served, pki)
    navigated = _navigations(page)
    job = page.locator("#install-job")
    line = job.locator(f'li[data-url="{URL}"]')
    expect(job.locator(".job-heading")).to_have_text(
        "Certificate stored; not installed", timeout=60_000
    )
    expect(job).to_have_class("install-job tone-amber")
    expect(line.locator(".badge")).to_have_text("Stored; not installed")
    # A reseller reads a plain reason with the request to quote, and the next try.
    expect(line.locator(".job-text")).to_contain_text(
        "installing it on the platform did not succeed"
    )
    expect(line.locator(".job-text")).to_contain_text("reference: request #")
    expect(line.locator(".job-text")).to_contain_text("next try at")
    expect(line.locator(".job-text")).not_to_contain_text(str(served.nginx.folder))
    retry = line.get_by_role("button", name="Retry now")
    expect(retry).to_be_visible()
    assert navigated == []
    audit.check(page, "upload-not-installed")

    start_nginx(served.nginx)
    retry.click()
    expect(page).to_have_url(re.compile(r"/installs/\d+$"))
    expect(page.locator("#install-job .job-heading")).to_have_text(
        "Certificate installed", timeout=60_000
    )
    audit.check(page, "retry-installed")
    audit.assert_clean()


def test_without_javascript_the_refresh_link_follows_the_install(
    browser: Browser,  # noqa: F811 - the fixture imported above
    served: Served,
    pki: OpenSSLPKI,
) -> None:
    """Progressive enhancement: with JavaScript off, the answer's Refresh link opens the
    install's page, which refreshes itself until the install is done."""
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, served, "alice", PASSWORD)  # type: ignore[arg-type]
        _upload(page, served, pki)
        expect(page.locator("#install-job .job-heading")).to_have_text(
            "Certificate stored, installing…"
        )
        page.get_by_role("link", name="Refresh").click()
        expect(page).to_have_url(re.compile(r"/installs/\d+$"))
        expect(page.locator("#install-job .job-heading")).to_have_text(
            "Certificate installed", timeout=60_000
        )
        expect(page.get_by_role("link", name="Refresh")).to_be_hidden()
        # (axe needs JavaScript in the page: this page is checked in the tests above.)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "install-nojs-installed.png"), full_page=True)
    finally:
        context.close()
