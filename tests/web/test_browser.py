"""The portal in a real browser: Playwright drives Debian's Chromium against
``python -m certdesk serve`` on a loopback port.

The journeys of the issue: log in; upload a ``.pfx`` with a wrong password and see the
error; upload a good one; request a CSR, download it, have ``openssl`` sign it, upload
the result; see the domain turn green; log out. Screenshots (desktop and a 390-pixel
phone) go to ``test-artifacts/web/``. Without Chromium these tests fail and say what to
install: the browser is never downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, ViewportSize, expect, sync_playwright

from certdesk.application.compose import open_desk
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI
from tests.signing import sign_csr
from tests.web.conftest import PASSWORD, add_accounts, settings_in
from tests.web.serving import certdesk_serve

CHROMIUM = Path(os.environ.get("CERTDESK_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_MISSING = (
    f"Chromium is not at {CHROMIUM}: the portal's browser tests drive Debian's Chromium "
    "with Playwright (no browser is downloaded). Install Debian's `chromium` package "
    "(run `make test` as root, which installs it: scripts/test-system-deps)."
)
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
ADMIN_PASSWORD = "operator password 1"
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Server:
    base: str
    home: Path
    log: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, pki: OpenSSLPKI) -> Iterator[Server]:
    """``python -m certdesk --home H serve --port N`` with tenants and resellers made first;
    the server's first start makes the operator ``admin`` (CERTDESK_ADMIN_PASSWORD)."""
    folder = tmp_path_factory.mktemp("served")
    settings = settings_in(folder, pki)
    made = open_desk(settings)
    try:
        add_accounts(made, operator=False)
    finally:
        made.store.close()
    env = {
        **os.environ,
        "CERTDESK_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "CERTDESK_CA_BUNDLE": str(pki.root_crt),
        "CERTDESK_DATABASE_URL": settings.database_url,
    }
    log = folder / "server.log"
    with certdesk_serve(settings.home, env, log) as base:
        yield Server(base, settings.home, log)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(CHROMIUM_MISSING, pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def shot(page: Page, name: str, *, full: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full)


def log_in(page: Page, server: Server, username: str, password: str) -> None:
    page.goto(server.base + "/")
    expect(page).to_have_url(server.base + "/login?next=%2F")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(server.base + "/")


def row(page: Page, url: str) -> Locator:
    return page.locator(f'tr[data-url="{url}"]')


def test_reseller_journey(
    browser: Browser, server: Server, pki: OpenSSLPKI, soon_pfx: Path, tmp_path: Path
) -> None:
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    try:
        # Log in (the login page first).
        page.goto(server.base + "/")
        page.get_by_label("User name").fill("alice")
        shot(page, "01-login")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(server.base + "/")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Acme Hosting")

        # A .pfx with the wrong password: the error next to the password field.
        page.get_by_role("link", name="Upload a .pfx").first.click()
        page.get_by_label(".pfx or .p12 file").set_input_files(str(pki.modern_pfx))
        page.get_by_label("Password of the .pfx").fill("not the password")
        page.get_by_label("Common name").fill("store.test.com")
        page.get_by_label("URLs").fill("https://store.test.com\nhttps://www.test.com")
        page.get_by_role("button", name="Check and install").click()
        password = page.get_by_label("Password of the .pfx")
        expect(password).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#password-error")).to_contain_text("wrong-password")
        expect(page.locator("#password-error")).to_contain_text("Fix:")
        shot(page, "02-pfx-wrong-password")

        # The same file with its password: installed, the domains green.
        page.get_by_label(".pfx or .p12 file").set_input_files(str(pki.modern_pfx))
        page.get_by_label("Password of the .pfx").fill(PFX_PASSWORD)
        page.get_by_role("button", name="Check and install").click()
        expect(page.get_by_role("heading", name="Certificate accepted")).to_be_visible()
        shot(page, "03-pfx-accepted")

        # A certificate with 10 days left: amber on the dashboard.
        page.goto(server.base + "/upload")
        page.get_by_label(".pfx or .p12 file").set_input_files(str(soon_pfx))
        page.get_by_label("Password of the .pfx").fill(PFX_PASSWORD)
        page.get_by_label("Common name").fill("soon.test.com")
        page.get_by_label("URLs").fill("https://soon.test.com")
        page.get_by_role("button", name="Check and install").click()
        expect(page.locator(".finding.warning")).to_contain_text("expires-soon")
        page.get_by_role("link", name="Dashboard", exact=True).click()
        expect(row(page, "https://soon.test.com")).to_have_class("u-warning")
        expect(row(page, "https://store.test.com")).to_have_class("u-ok")
        expect(page.locator("svg.chart")).to_be_visible()
        shot(page, "04-dashboard-before")

        # A CSR for soon.test.com: made, downloaded, signed by openssl, sent back.
        page.get_by_role("link", name="Request a CSR").first.click()
        page.get_by_label("Common name (CN)").fill("soon.test.com")
        page.get_by_label("Organisation (O)").fill("Test Inc.")
        page.get_by_label("Country (C)").fill("GR")
        page.get_by_label("Key type").select_option("p256")
        page.get_by_label("URLs to install it on").fill("https://soon.test.com")
        shot(page, "05-csr-form")
        page.get_by_role("button", name="Make the CSR").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("soon.test.com")
        with page.expect_download() as info:
            page.get_by_role("link", name="Download the .csr").click()
        csr = tmp_path / "soon.csr"
        info.value.save_as(csr)
        assert info.value.suggested_filename == "soon.test.com.csr"
        assert csr.read_bytes().startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
        shot(page, "06-order")
        crt = sign_csr(pki, csr, tmp_path / "soon.crt", ["soon.test.com"], days=90)
        page.get_by_label("Signed certificate").set_input_files(str(crt))
        page.get_by_role("button", name="Upload and install").click()
        expect(page.get_by_role("heading", name="Signed certificate accepted")).to_be_visible()
        shot(page, "07-signed-accepted")

        # The domain turns green.
        page.get_by_role("link", name="Dashboard", exact=True).click()
        expect(row(page, "https://soon.test.com")).to_have_class("u-ok")
        expect(row(page, "https://soon.test.com").locator(".badge")).to_have_text(
            "more than 30 days"
        )
        shot(page, "08-dashboard-after")

        # The requests with their timelines.
        page.get_by_role("link", name="Requests", exact=True).first.click()
        expect(page.locator(".timeline-list > li")).to_have_count(3)
        shot(page, "09-requests")

        # On a phone: nothing wider than the screen.
        page.set_viewport_size(PHONE)
        page.goto(server.base + "/")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the dashboard is {width}px wide on a phone"
        expect(row(page, "https://soon.test.com")).to_be_visible()
        shot(page, "10-phone-dashboard")
        page.goto(server.base + "/upload")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shot(page, "11-phone-upload")
        page.set_viewport_size(DESKTOP)

        # Log out: back to the login page, and the dashboard asks for a login again.
        page.goto(server.base + "/")
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("status")).to_have_text("You are logged out.")
        page.goto(server.base + "/")
        expect(page).to_have_url(server.base + "/login?next=%2F")
    finally:
        context.close()


def test_operator_sees_every_tenant_and_the_report_preview(browser: object, server: Server) -> None:
    assert isinstance(browser, Browser)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    try:
        log_in(page, server, "admin", ADMIN_PASSWORD)
        page.get_by_role("link", name="Tenants").click()
        expect(page.locator("table")).to_contain_text("Acme Hosting")
        expect(page.locator("table")).to_contain_text("Beta Web")
        page.get_by_role("link", name="Served").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("What each URL serves")
        shot(page, "12-operator-served")
        page.get_by_role("link", name="Reports").click()
        page.get_by_role("link", name="Monthly").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Monthly SSL expiration")
        shot(page, "13-operator-monthly-preview")
        page.set_viewport_size(PHONE)
        page.goto(server.base + "/requests")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shot(page, "14-phone-operator-requests")
    finally:
        context.close()


def test_api_docs_render_offline(browser: Browser, server: Server) -> None:
    """`/docs` shows the API's operations with every request kept on the server itself."""
    context = browser.new_context(viewport=DESKTOP)
    elsewhere: list[str] = []

    def only_loopback(route: Any) -> None:
        if route.request.url.startswith(server.base + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    try:
        page.goto(server.base + "/docs")
        expect(page.locator(".opblock-summary-path").first).to_be_visible(timeout=20_000)
        expect(
            page.locator('.opblock-summary-path[data-path="/api/domains"]').first
        ).to_be_visible()
        shot(page, "docs")
    finally:
        context.close()
    assert elsewhere == []
