"""Every portal page in Chromium, checked by axe-core (``axe-playwright-python``, which
ships axe's script: nothing is fetched), as a visitor, a reseller and an operator —
login and error pages, forms with their errors, the page that shows a made password
once — with no serious or critical violation; a screenshot of each page goes to
``test-artifacts/screenshots/``. The main navigation's links are followed too, so a page
added to it is checked without a line here.

Also the double-submit guard (``/static/portal.js``): a form sent twice in a row reaches
the server once, and a long upload disables its button and says it is working.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Route, expect

from certdesk import desk as d
from certdesk.application.compose import open_desk
from tests.flows import order, submit_leaf
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI
from tests.web.conftest import OPERATOR, PASSWORD, TENANT_A, settings_in
from tests.web.test_browser import (  # noqa: F401 - browser and server are fixtures
    ADMIN_PASSWORD,
    DESKTOP,
    PHONE,
    Server,
    browser,
    log_in,
    server,
)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
BLOCKING = ("serious", "critical")
AXE = Axe()


@dataclass(frozen=True)
class Scene:
    """What the pages show: Acme's installed certificate, a CSR order, their requests."""

    order_id: int
    request_id: int
    url: str


@pytest.fixture(scope="module")
def scene(server: Server, pki: OpenSSLPKI) -> Scene:  # noqa: F811
    """Acme's rows, written into the running server's database by a desk of our own."""
    made = open_desk(settings_in(server.home.parent, pki))
    try:
        submit_leaf(made, OPERATOR, pki, tenant=TENANT_A)
        waiting = order(made, OPERATOR, tenant=TENANT_A, cn="shop.test.com")
        newest = made.run(OPERATOR, d.requests_page, tenant=TENANT_A, limit=1).rows[0]
    finally:
        made.store.close()
    return Scene(waiting.id, newest.id, "https://store.test.com")


class Audit:
    """axe on each page shown; the serious and critical violations, by page."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.checked: list[str] = []
        self.visited: set[str] = set()
        self.failures: dict[str, list[str]] = {}

    def check(self, page: Page, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{self.who}-{name}.png"), full_page=True)
        found: dict[str, Any] = AXE.run(page).response
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} — "
            + "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
            for v in found["violations"]
            if v["impact"] in BLOCKING
        ]
        self.checked.append(name)
        if bad:
            self.failures[f"{page.url} ({name})"] = bad

    def visit(self, page: Page, base: str, path: str, name: str, status: int = 200) -> None:
        answer = page.goto(base + path)
        assert answer is not None
        assert answer.status == status, f"{path}: {answer.status}"
        self.visited.add(path)
        self.check(page, name)

    def visit_nav(self, page: Page, base: str) -> None:
        """Every page the main navigation links to, not visited already."""
        page.goto(base + "/")
        links = page.locator('nav[aria-label="Main"] a').evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        )
        assert links, "no main navigation"
        for href in links:
            if href not in self.visited:
                self.visit(page, base, href, "nav-" + (href.strip("/").replace("/", "-") or "home"))

    def assert_clean(self) -> None:
        assert self.checked
        report = "\n".join(f"{where}:\n  " + "\n  ".join(v) for where, v in self.failures.items())
        assert not self.failures, f"axe found serious or critical violations:\n{report}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:  # noqa: F811 - the fixture imported above
    context = browser.new_context(viewport=DESKTOP)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_every_page_for_a_visitor(page: Page, server: Server) -> None:  # noqa: F811
    audit = Audit("visitor")
    audit.visit(page, server.base, "/login", "login")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill("not her password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    audit.check(page, "login-refused")
    audit.visit(page, server.base, "/no/such/page", "not-found", status=404)
    audit.assert_clean()


def test_every_page_for_a_reseller(
    page: Page,
    server: Server,  # noqa: F811
    scene: Scene,
    pki: OpenSSLPKI,
) -> None:
    audit = Audit("reseller")
    log_in(page, server, "alice", PASSWORD)
    url = quote(scene.url, safe="")
    for path, name in (
        ("/", "dashboard"),
        ("/domains", "served"),
        (f"/domain?url={url}", "domain"),
        ("/upload", "upload"),
        ("/csr/new", "csr-form"),
        ("/signed", "signed-form"),
        ("/orders", "orders"),
        (f"/orders/{scene.order_id}", "order"),
        ("/requests", "requests"),
        ("/requests?status=completed&q=store", "requests-filtered"),
        (f"/requests/{scene.request_id}", "request"),
        ("/export", "export"),
        ("/export?q=store", "export-search"),
        ("/tenants", "tenants"),
        (f"/tenant?name={quote(TENANT_A)}", "tenant"),
        ("/reports", "reports"),
        ("/reports/daily", "report-daily"),
        ("/account/password", "password"),
    ):
        audit.visit(page, server.base, path, name)
    audit.visit(page, server.base, "/requests/999999", "request-not-found", status=404)
    audit.visit(page, server.base, "/users", "accounts-forbidden", status=403)
    audit.visit_nav(page, server.base)

    # Forms with their errors beside the fields.
    page.goto(server.base + "/upload")
    page.get_by_label(".pfx or .p12 file").set_input_files(str(pki.modern_pfx))
    page.get_by_label("Password of the .pfx").fill("not the password")
    page.get_by_label("Common name").fill("store.test.com")
    page.get_by_label("URLs").fill("https://store.test.com")
    page.get_by_role("button", name="Check and install").click()
    expect(page.locator("#password-error")).to_be_visible()
    audit.check(page, "upload-refused")
    page.goto(server.base + "/csr/new")
    page.get_by_label("Common name (CN)").fill("not a host name")
    page.get_by_label("Country (C)").fill("XX")
    page.get_by_role("button", name="Make the CSR").click()
    expect(page.locator(".error.banner")).to_be_visible()
    audit.check(page, "csr-refused")
    audit.assert_clean()


def test_every_page_for_an_operator(page: Page, server: Server, scene: Scene) -> None:  # noqa: F811
    audit = Audit("operator")
    log_in(page, server, "admin", ADMIN_PASSWORD)
    for path, name in (
        ("/", "dashboard"),
        ("/domains", "served"),
        ("/domains?failing=1", "served-failing"),
        ("/tenants", "tenants"),
        (f"/tenant?name={quote(TENANT_A)}", "tenant"),
        ("/users", "accounts"),
        ("/users/alice", "account"),
        ("/requests", "requests"),
        (f"/requests?tenant={quote(TENANT_A)}", "requests-tenant"),
        ("/export", "export"),
        ("/reports", "reports"),
        ("/reports/daily", "report-daily"),
        ("/reports/monthly", "report-monthly"),
        (f"/reports/monthly?tenant={quote(TENANT_A)}", "report-monthly-tenant"),
    ):
        audit.visit(page, server.base, path, name)
    audit.visit_nav(page, server.base)

    page.goto(server.base + "/tenants")
    page.get_by_label("Name").fill(TENANT_A)
    page.get_by_label("Report e-mails").fill("Ops <ops@acme.test>")
    page.get_by_role("button", name="Add the tenant").click()
    expect(page.locator("#name-error")).to_be_visible()
    audit.check(page, "tenant-refused")
    page.goto(server.base + "/users")
    page.get_by_label("User name").fill("a11y-carol")
    page.get_by_label("Role").select_option("reseller")
    page.get_by_label("Tenant (for a reseller)").select_option(TENANT_A)
    page.get_by_role("button", name="Add the account").click()
    expect(page.locator("#new-password")).to_be_visible()
    audit.check(page, "account-added")
    audit.assert_clean()

    # On a phone: the operators' pages are no wider than the screen.
    page.set_viewport_size(PHONE)
    for path in ("/tenants", f"/tenant?name={quote(TENANT_A)}", "/users", "/users/alice"):
        page.goto(server.base + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a phone"
    page.goto(server.base + "/requests")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(SCREENSHOTS / "operator-phone-requests.png"), full_page=True)


def test_a_form_sent_twice_reaches_the_server_once(page: Page, server: Server) -> None:  # noqa: F811
    """The second send comes while the first answer is still awaited (held here), as a
    second click on a slow page does."""
    log_in(page, server, "admin", ADMIN_PASSWORD)
    page.goto(server.base + "/tenants")
    held: list[Route] = []
    page.route(server.base + "/tenants", lambda route: held.append(route))
    page.get_by_label("Name").fill("Twice Hosting")
    page.evaluate(
        """() => {
            const form = document.querySelector('form[action="/tenants"]');
            form.addEventListener("submit", () => setTimeout(() => form.requestSubmit(), 300),
                                  {once: true});
        }"""
    )
    page.get_by_role("button", name="Add the tenant").click(no_wait_after=True)
    page.wait_for_timeout(1500)
    sent = len(held)
    for route in held:
        route.continue_()
    expect(page.get_by_role("status")).to_have_text("Tenant Twice Hosting added.", timeout=30_000)
    assert sent == 1


def test_a_long_upload_disables_its_button_and_says_it_is_working(
    page: Page,
    server: Server,  # noqa: F811
    soon_pfx: Path,
) -> None:
    log_in(page, server, "alice", PASSWORD)
    page.goto(server.base + "/upload")
    held: list[Route] = []
    page.route(server.base + "/upload", lambda route: held.append(route))
    page.get_by_label(".pfx or .p12 file").set_input_files(str(soon_pfx))
    page.get_by_label("Password of the .pfx").fill(PFX_PASSWORD)
    page.get_by_label("Common name").fill("soon.test.com")
    page.get_by_label("URLs").fill("https://soon.test.com")
    # What the form looks like while its answer is held, noted where the next page can
    # read it (the session's storage outlives the page).
    page.evaluate(
        """() => document.addEventListener("submit", () => setTimeout(() => {
            const form = document.querySelector('form[action="/upload"]');
            const note = form.querySelector(".working");
            sessionStorage.setItem("seen", JSON.stringify({
                disabled: form.querySelector('button[type="submit"]').disabled,
                busy: form.getAttribute("aria-busy"),
                working: note ? note.textContent : null,
                role: note ? note.getAttribute("role") : null,
            }));
        }, 200))"""
    )
    page.get_by_role("button", name="Check and install").click(no_wait_after=True)
    page.wait_for_timeout(1500)
    assert len(held) == 1
    held[0].continue_()
    expect(page.get_by_role("heading", name="Certificate accepted")).to_be_visible(timeout=60_000)
    state = json.loads(page.evaluate("() => sessionStorage.getItem('seen')"))
    assert state["disabled"] is True
    assert state["busy"] == "true"
    assert "the next page follows its install" in state["working"]
    assert state["role"] == "status"


def test_a_download_form_comes_back_after_its_download(
    page: Page,
    server: Server,  # noqa: F811
    scene: Scene,
) -> None:
    """The export's answer is a file: the page stays, and its button works again."""
    log_in(page, server, "alice", PASSWORD)
    page.goto(server.base + "/export?url=" + quote(scene.url, safe=""))
    page.get_by_label("PEM (certificate and chain)").check()
    button = page.get_by_role("button", name="Download")
    with page.expect_download() as info:
        button.click()
    assert info.value.suggested_filename.endswith(".pem")
    expect(button).to_be_disabled()
    expect(page.locator('form[action="/export"] .working')).to_have_text("Preparing the download…")
    expect(button).to_be_enabled(timeout=15_000)
    expect(page.locator('form[action="/export"] .working')).to_have_text("")
