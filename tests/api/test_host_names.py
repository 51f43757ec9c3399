"""A domain is a public DNS name: a reseller cannot register loopback, single-label,
numeric or special-use names (the probe would refuse them later, and before this change
its message told the reseller the private address the name resolved to)."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from certdesk.application.compose import policy_for
from certdesk.desk import Actor
from certdesk.desk.context import tenant_by_name
from certdesk.pki import DomainUrl
from certdesk.settings import load_settings
from certdesk.store.models import Domain
from tests.api.conftest import Api, error_code
from tests.database import unchanged

TENANT = "Acme Hosting"


@pytest.fixture(autouse=True)
def no_lab_suffixes(api: Api) -> None:
    """A platform without lab suffixes (the test settings accept .test and .example)."""
    lab_suffixes(api, ())


def lab_suffixes(api: Api, suffixes: tuple[str, ...]) -> None:
    """Set the operator's lab suffixes on the desk the app serves with."""
    for desk in (api.desk, api.app.state.desk):
        desk.policy = dataclasses.replace(desk.policy, lab_suffixes=suffixes)


@pytest.fixture
def reseller(api: Api) -> httpx.Client:
    operator = api.operator()
    assert operator.post("/api/tenants", json={"name": TENANT}).status_code == 201
    return api.session("acme", api.user("acme", tenant=TENANT))


@pytest.mark.parametrize(
    "name",
    [
        "localhost",
        "vm",
        "2130706433",
        "0x7f000001",
        "127.1",
        "10.0x1",
        "shop.017",
        "metadata.google.internal",
        "printer.local",
        "app.localhost",
        "shop.test",
        "www.example",
        "x.invalid",
        "abc.onion",
        "nas.home.arpa",
        "1.0.0.127.in-addr.arpa",
        "shop.alt",
        "host.corp",
        "co.uk",
        "com",
    ],
)
def test_a_reseller_cannot_register_a_name_that_is_not_public(
    api: Api, reseller: httpx.Client, name: str
) -> None:
    with unchanged(api.desk):
        answer = reseller.post("/api/domains", json={"url": f"https://{name}", "tenant": TENANT})
        assert answer.status_code == 400, answer.text
        assert error_code(answer) == "invalid-argument"
    error = answer.json()["error"]
    assert "public DNS name" in error["hint"]
    assert "setting" not in error["hint"]  # a reseller has no settings to change
    # Nor through a .pfx submission or a CSR order (they add the URL they bind to).
    with unchanged(api.desk):
        order = reseller.post(
            "/api/csr", json={"tenant": TENANT, "common_name": name, "urls": [f"https://{name}"]}
        )
    assert order.status_code == 400, order.text
    assert "public DNS name" in order.json()["error"]["hint"]


@pytest.mark.parametrize(
    "name", ["shop.example.com", "www.shop.co.uk", "xn--80ak6aa92e.com", "shop.example.org"]
)
def test_public_names_are_accepted(reseller: httpx.Client, name: str) -> None:
    answer = reseller.post("/api/domains", json={"url": f"https://{name}", "tenant": TENANT})
    assert answer.status_code == 201, answer.text


def test_the_operator_is_told_of_the_setting_and_can_allow_a_lab_suffix(api: Api) -> None:
    operator = api.operator()
    assert operator.post("/api/tenants", json={"name": TENANT}).status_code == 201
    refused = operator.post("/api/domains", json={"url": "shop.lab.test", "tenant": TENANT})
    assert refused.status_code == 400
    assert "lab_suffixes" in refused.json()["error"]["hint"]
    lab_suffixes(api, ("lab.test",))
    accepted = operator.post("/api/domains", json={"url": "shop.lab.test", "tenant": TENANT})
    assert accepted.status_code == 201, accepted.text
    # Not the whole of .test, and never a single label or a number.
    for name in ("shop.test", "test", "lab.test.0x7f"):
        again = operator.post("/api/domains", json={"url": name, "tenant": TENANT})
        assert again.status_code == 400, (name, again.text)


def test_lab_suffixes_come_from_the_settings() -> None:
    settings = load_settings(
        env={"CERTDESK_HOME": "/nonexistent/certdesk", "CERTDESK_LAB_SUFFIXES": "test, .Lab.Corp"}
    )
    assert settings.lab_suffixes == ("test", "lab.corp")
    policy = policy_for(settings)
    assert policy.lab_suffixes == ("test", "lab.corp")
    assert policy.registrable_domain is not None
    assert policy.registrable_domain("www.shop.co.uk") == "shop.co.uk"


def test_existing_names_can_still_be_found_and_removed(api: Api) -> None:
    # A domain stored before the rule (as an older version allowed) stays manageable.
    operator = api.operator()
    assert operator.post("/api/tenants", json={"name": TENANT}).status_code == 201
    with api.desk.context(Actor(name="test")) as ctx:
        ctx.session.add(
            Domain(
                tenant_id=tenant_by_name(ctx, TENANT).id,
                url="https://vm.internal",
                hostname="vm.internal",
                port=443,
                portal="other",
                monitored=True,
                created_at=ctx.now,
            )
        )
    assert DomainUrl.parse("vm.internal").hostname == "vm.internal"
    removed = operator.delete("/api/domains", params={"url": "https://vm.internal"})
    assert removed.status_code == 200, removed.text
