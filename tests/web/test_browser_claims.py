"""Ownership claims in a real browser: Debian's Chromium (Playwright) against
``python -m certdesk serve`` on a loopback port, its DNS checks answered by
``pebble-challtestsrv`` on loopback (``CERTDESK_DNS_SERVERS``), with the platform's
targets set (so domain verification is on, by default).

Alice's account claims a name first; Bob's, the real owner, adds it too and is shown the
TXT record to set; he sets it (in the DNS server) and presses "Check now": the name is
his, and Alice's Claims page tells her that her claim was closed. axe-core checks each
page (no serious or critical violation); screenshots go to
``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from certdesk.application.compose import open_desk
from tests.acme.pebble import Pebble, run_pebble
from tests.deploy.servers import free_port
from tests.openssl_pki import OpenSSLPKI
from tests.web.conftest import PASSWORD, add_accounts, settings_in
from tests.web.serving import certdesk_serve
from tests.web.test_accessibility import Audit
from tests.web.test_browser import (  # noqa: F401 - the browser fixture
    DESKTOP,
    Server,
    browser,
    log_in,
)

HOST = "store.claims.test"
URL = f"https://{HOST}"
EDGE = "edge.platform.test"


@pytest.fixture(scope="module")
def dns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with run_pebble(tmp_path_factory.mktemp("dns"), free_port()) as pebble:
        yield pebble


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, pki: OpenSSLPKI, dns: Pebble
) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("claims-served")
    settings = settings_in(folder, pki)
    made = open_desk(settings)
    try:
        add_accounts(made, operator=False)
    finally:
        made.store.close()
    env = {
        **os.environ,
        "CERTDESK_ADMIN_PASSWORD": "operator password 1",
        "CERTDESK_CA_BUNDLE": str(pki.root_crt),
        "CERTDESK_DATABASE_URL": settings.database_url,
        "CERTDESK_LAB_SUFFIXES": "test,example",
        "CERTDESK_DNS_SERVERS": dns.dns_server,
        "CERTDESK_PLATFORM_TARGETS": EDGE,
    }
    log = folder / "server.log"
    with certdesk_serve(settings.home, env, log) as base:
        yield Server(base, settings.home, log)


def _add(page: Page, url: str) -> None:
    page.get_by_role("link", name="Add a domain").click()
    page.get_by_label("URL").fill(url)
    page.get_by_role("button", name="Add the domain").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(url)


def test_the_real_owner_verifies_and_the_first_claim_is_closed(
    browser: Browser,  # noqa: F811
    server: Server,
    dns: Pebble,
) -> None:
    audit = Audit("claims")
    alice = browser.new_context(viewport=DESKTOP).new_page()
    bob = browser.new_context(viewport=DESKTOP).new_page()
    try:
        log_in(alice, server, "alice", PASSWORD)
        _add(alice, URL)
        expect(alice.locator("#domain-note")).to_contain_text("Domain added as your claim")
        expect(alice.locator("#claim-state")).to_have_text("Ownership not verified yet")
        expect(alice.get_by_role("button", name="Probe now")).to_have_count(0)

        # Bob adds the same name: Alice's claim does not block him.
        log_in(bob, server, "bob", PASSWORD)
        _add(bob, URL)
        record = bob.locator("#claim-record")
        expect(record).to_have_text(f"_certdesk.{HOST}")
        token = bob.locator("#claim-token").inner_text()
        assert token.startswith("certdesk-")
        assert token != alice.locator("#claim-token").inner_text()
        audit.check(bob, "domain-claimed")

        # Nothing in DNS yet: Check now says what DNS holds and what to set.
        bob.get_by_role("button", name="Check now").click()
        expect(bob.locator("#domain-note")).to_contain_text("not verified yet")
        expect(bob.locator("#claim-message")).to_contain_text(f"set CNAME {EDGE}")
        audit.check(bob, "domain-claim-checked")

        # Bob sets the TXT record with his token; Check now: the name is his.
        dns.dns("set-txt", host=f"_certdesk.{HOST}.", value=token)
        bob.get_by_role("button", name="Check now").click()
        expect(bob.locator("#domain-note")).to_have_text("Ownership verified: the domain is yours.")
        expect(bob.locator("#ownership")).to_have_count(0)
        expect(bob.get_by_role("button", name="Probe now")).to_be_visible()
        audit.check(bob, "domain-claim-verified")

        # Alice's Check now: her claim is closed, and her Claims page says why.
        alice.get_by_role("button", name="Check now").click()
        expect(alice).to_have_url(server.base + "/claims")
        expect(alice.locator("#claims")).to_contain_text(f"{HOST} was verified by another account")
        audit.check(alice, "claims-closed")
        alice.get_by_role("link", name="Dashboard").click()
        expect(alice.locator("body")).not_to_contain_text(HOST)
        bob.get_by_role("link", name="Claims").click()
        expect(bob.locator("#no-claims")).to_be_visible()
        audit.check(bob, "claims-none")
    finally:
        alice.context.close()
        bob.context.close()
    audit.assert_clean()
