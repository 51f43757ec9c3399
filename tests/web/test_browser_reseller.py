"""The reseller's own tasks in a real browser (Debian's Chromium driven by Playwright,
against ``python -m certdesk serve`` on a loopback port, as in ``test_browser.py``): manage
a domain, convert files, make and revoke an API token, change the password, read the audit
log. Each form is filled, sent and its result seen; screenshots (desktop, and a 390-pixel
phone for each new page) go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI, run_openssl
from tests.web.conftest import PASSWORD
from tests.web.test_browser import (  # noqa: F401 - the module's server and browser fixtures
    DESKTOP,
    PHONE,
    Server,
    browser,
    log_in,
    server,
)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def fits_a_phone(page: Page, name: str) -> None:
    """The page as a phone shows it: nothing wider than the screen."""
    page.set_viewport_size(PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide on a phone"
    shot(page, f"{name}-phone")
    page.set_viewport_size(DESKTOP)


def test_a_reseller_adds_changes_unmonitors_and_removes_a_domain(
    browser: Browser,  # noqa: F811
    server: Server,  # noqa: F811
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    try:
        log_in(page, server, "alice", PASSWORD)
        page.get_by_role("link", name="Add a domain").click()
        url = page.get_by_label("URL")
        url.fill("http://shop.test.com")
        page.get_by_role("button", name="Add the domain").click()
        expect(url).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#url-error")).to_contain_text("invalid-argument")
        expect(page.locator("#url-error")).to_contain_text("https")
        shot(page, "domain-add-error")

        url.fill("https://shop.test.com")
        page.get_by_label("Portal").select_option("storefront")
        shot(page, "domain-add")
        fits_a_phone(page, "domain-add")
        page.get_by_role("button", name="Add the domain").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("https://shop.test.com")
        expect(page.locator("#domain-note")).to_contain_text("Domain added")
        shot(page, "domain-added")
        fits_a_phone(page, "domain-page")

        page.get_by_role("link", name="Change").click()
        page.get_by_label("Portal").select_option("bss")
        shot(page, "domain-edit")
        fits_a_phone(page, "domain-edit")
        page.get_by_role("button", name="Save changes").click()
        expect(page.locator("#domain-note")).to_have_text("Changes saved.")
        expect(page.locator("dl.facts")).to_contain_text("bss")

        page.get_by_role("button", name="Stop monitoring").click()
        expect(page.locator("#domain-note")).to_contain_text("Monitoring stopped")
        expect(page.get_by_role("button", name="Start monitoring")).to_be_visible()
        shot(page, "domain-unmonitored")
        page.get_by_role("button", name="Start monitoring").click()
        expect(page.locator("#domain-note")).to_contain_text("Monitoring started")

        page.get_by_role("link", name="Remove…").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Remove https://shop.test.com?")
        shot(page, "domain-remove-confirm")
        fits_a_phone(page, "domain-remove")
        page.get_by_role("button", name="Remove the domain").click()
        expect(page.locator("#removed")).to_contain_text("https://shop.test.com is removed")
        shot(page, "domain-removed")
        page.goto(server.base + "/domain?url=https%3A%2F%2Fshop.test.com")
        expect(page.locator("code")).to_contain_text("not-found")
    finally:
        context.close()


def test_a_reseller_converts_crt_and_key_to_pfx_and_pfx_to_pem(
    browser: Browser,  # noqa: F811
    server: Server,  # noqa: F811
    pki: OpenSSLPKI,
    tmp_path: Path,
) -> None:
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    try:
        log_in(page, server, "alice", PASSWORD)
        page.get_by_role("link", name="Convert").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Convert certificate files")
        fits_a_phone(page, "convert")

        # The wrong key: the refusal beside the key field, nothing downloaded.
        page.get_by_label("Certificate (.crt, .pem, .cer)").set_input_files(str(pki.leaf_crt))
        page.get_by_label("Private key (.key)").set_input_files(str(pki.other_key))
        page.get_by_label("Password for the new .pfx").first.fill("a pfx password 7")
        page.get_by_label("Password for the new .pfx, again").fill("a pfx password 7")
        page.get_by_role("button", name="Make the .pfx").click()
        expect(page.locator("#key-error")).to_contain_text("key-mismatch")
        expect(page.get_by_label("Private key (.key)")).to_have_attribute("aria-invalid", "true")
        shot(page, "convert-key-mismatch")

        # The right key and the chain: a .pfx that openssl opens with the password.
        page.get_by_label("Certificate (.crt, .pem, .cer)").set_input_files(str(pki.leaf_crt))
        page.get_by_label("Private key (.key)").set_input_files(str(pki.leaf_key))
        page.get_by_label("Intermediate certificates (optional)").set_input_files(str(pki.int_crt))
        page.get_by_label("Password for the new .pfx").first.fill("a pfx password 7")
        page.get_by_label("Password for the new .pfx, again").fill("a pfx password 7")
        with page.expect_download() as made:
            page.get_by_role("button", name="Make the .pfx").click()
        pfx = tmp_path / "made.pfx"
        made.value.save_as(pfx)
        assert made.value.suggested_filename.endswith(".pfx")
        listed = run_openssl("pkcs12", "-in", pfx, "-passin", "pass:a pfx password 7", "-nokeys")
        assert listed.count(b"BEGIN CERTIFICATE") == 2
        shot(page, "convert")
        # The answer was a file: the page stays, and its button works again.
        expect(page.get_by_role("button", name="Make the .pfx")).to_be_enabled(timeout=15_000)

        # A .pfx to PEM.
        page.get_by_label(".pfx or .p12 file").set_input_files(str(pki.modern_pfx))
        page.get_by_label("Password of the .pfx").fill(PFX_PASSWORD)
        with page.expect_download() as pem_download:
            page.get_by_role("button", name="Make the PEM").click()
        pem = tmp_path / "out.pem"
        pem_download.value.save_as(pem)
        subject = run_openssl("x509", "-in", pem, "-noout", "-subject")
        assert b"store.test.com" in subject
        assert b"PRIVATE KEY" not in pem.read_bytes()
    finally:
        context.close()


def test_a_reseller_makes_and_revokes_a_token_changes_its_password_and_reads_its_audit_log(
    browser: Browser,  # noqa: F811
    server: Server,  # noqa: F811
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    try:
        log_in(page, server, "bob", PASSWORD)
        page.get_by_role("link", name="Your account").click()
        page.get_by_label("Name of a new token").fill("billing sync")
        page.get_by_role("button", name="Create a token").click()
        token = page.get_by_label("Your new API token")
        expect(token).to_have_value(re.compile(r"^cdk_"))
        shot(page, "account-token-made")
        fits_a_phone(page, "account")
        page.get_by_role("button", name="Revoke token billing sync").click()
        expect(page.locator("#account-note")).to_contain_text("Token revoked")
        expect(page.locator("tr[data-token]")).to_contain_text("revoked")
        shot(page, "account-token-revoked")

        page.get_by_role("link", name="Change your password").click()
        page.get_by_label("Current password").fill(PASSWORD)
        page.get_by_label("New password").first.fill("password1234")
        page.get_by_label("New password again").fill("password1234")
        page.get_by_role("button", name="Change password").click()
        expect(page.locator("#new_password-error")).to_contain_text("weak-password")
        shot(page, "password-weak")
        fits_a_phone(page, "password")
        page.get_by_label("Current password").fill(PASSWORD)
        page.get_by_label("New password").first.fill("bob's own long passphrase 9")
        page.get_by_label("New password again").fill("bob's own long passphrase 9")
        page.get_by_role("button", name="Change password").click()
        expect(page).to_have_url(server.base + "/")

        page.get_by_role("link", name="Audit log").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Audit log: Beta Web")
        expect(page.locator("table")).to_contain_text("token.revoke")
        expect(page.locator("table")).to_contain_text("token.create")
        shot(page, "audit")
        fits_a_phone(page, "audit")

        # The new password is the one that logs in now.
        page.get_by_role("button", name="Log out").click()
        other = browser.new_context(viewport=DESKTOP).new_page()
        log_in(other, server, "bob", "bob's own long passphrase 9")
        other.context.close()
    finally:
        context.close()
