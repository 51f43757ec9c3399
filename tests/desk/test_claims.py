"""Ownership claims in the desk and the database, on SQLite and PostgreSQL: pending claims
of several tenants coexist while the unique index keeps one verified owner per name; a
pending claim is in no sweep, report, metric or install; verification off keeps the
first-come behaviour; the setting is read and checked. (The DNS checks themselves run
against a real DNS server in ``tests/acme/test_claims.py``.)"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from certdesk import desk as d
from certdesk.application.compose import open_desk
from certdesk.desk import Actor, Desk
from certdesk.desk.claims import HELD_REASON
from certdesk.desk.context import Conflict, OwnershipNotVerified
from certdesk.desk.installs import install_work
from certdesk.desk.managed import due_units, take_unit
from certdesk.desk.metrics import metrics_snapshot
from certdesk.desk.monitoring import probe_targets
from certdesk.errors import InvalidArgument
from certdesk.reports.select import select_rows
from certdesk.reports.windows import Window
from certdesk.settings import Settings, load_settings
from certdesk.store.models import Binding, Domain
from tests.flows import new_tenant, submit_leaf
from tests.openssl_pki import OpenSSLPKI

OPERATOR = Actor(name="test")
URL = "https://store.test.com"


@pytest.fixture
def verifying(settings: Settings) -> Iterator[Desk]:
    """A desk with domain verification on (``dns``), the platform's targets unset."""
    opened = open_desk(dataclasses.replace(settings, domain_verification="dns"))
    try:
        assert opened.policy.claims
        yield opened
    finally:
        opened.store.close()


def _resellers(desk: Desk) -> tuple[Actor, Actor]:
    a = Actor("reseller-a", new_tenant(desk, OPERATOR, "Alpha Hosting"))
    b = Actor("reseller-b", new_tenant(desk, OPERATOR, "Beta Shops"))
    return a, b


def _row(desk: Desk, tenant_id: int, host: str, **claim: object) -> dict[str, object]:
    return {
        "tenant_id": tenant_id,
        "url": f"https://{host}",
        "hostname": host,
        "port": 443,
        "portal": "other",
        "monitored": True,
        "created_at": desk.now(),
        **claim,
    }


def test_the_index_keeps_one_verified_owner_and_lets_pending_claims_coexist(
    verifying: Desk,
) -> None:
    a, b = _resellers(verifying)
    assert a.tenant_id is not None
    assert b.tenant_id is not None
    c = new_tenant(verifying, OPERATOR, "Gamma Web")
    with verifying.store.transaction() as session:  # three tenants' pending claims: fine
        for tenant in (a.tenant_id, b.tenant_id, c):
            session.execute(
                insert(Domain).values(_row(verifying, tenant, "one.test.com", claim="pending"))
            )
        session.execute(
            insert(Domain).values(_row(verifying, a.tenant_id, "two.test.com", claim="verified"))
        )
    with pytest.raises(IntegrityError), verifying.store.transaction() as session:
        # A second verified owner of a name.
        session.execute(
            insert(Domain).values(_row(verifying, b.tenant_id, "two.test.com", claim="verified"))
        )
    with pytest.raises(IntegrityError), verifying.store.transaction() as session:
        # Two active rows of one tenant for one name (pending or not).
        session.execute(
            insert(Domain).values(_row(verifying, a.tenant_id, "one.test.com", claim="pending"))
        )
    with verifying.store.transaction() as session:
        rows = session.execute(
            select(Domain.hostname, Domain.claim).order_by(Domain.hostname, Domain.tenant_id)
        ).all()
    assert rows == [
        ("one.test.com", "pending"),
        ("one.test.com", "pending"),
        ("one.test.com", "pending"),
        ("two.test.com", "verified"),
    ]


def test_pending_claims_are_the_resellers_own_and_the_operator_assigns(
    verifying: Desk,
) -> None:
    a, b = _resellers(verifying)
    first = verifying.run(a, d.add_domain, url=URL, tenant="Alpha Hosting")
    second = verifying.run(b, d.add_domain, url=URL, tenant="Beta Shops")
    assert (first.claim, second.claim) == ("pending", "pending")
    assert first.claim_message is not None
    assert f"_certdesk.store.test.com to {first.claim_token}" in first.claim_message
    # Each reseller finds its own claim; an operator cannot tell which one is meant.
    assert verifying.run(a, d.show_domain, url=URL).claim_token == first.claim_token
    assert verifying.run(b, d.show_domain, url=URL).claim_token == second.claim_token
    with pytest.raises(Conflict) as ambiguous:
        verifying.run(OPERATOR, d.show_domain, url=URL)
    assert ambiguous.value.field == "tenant"
    assert verifying.run(OPERATOR, d.show_claim, url=URL, tenant="Beta Shops").claim == "pending"
    # Adding it again as the same reseller is refused; the claim is kept.
    with pytest.raises(Conflict):
        verifying.run(a, d.add_domain, url=URL, tenant="Alpha Hosting")

    # The operator assigns the name to Alpha, the tenant that claimed it first here.
    assigned = verifying.run(OPERATOR, d.add_domain, url=URL, tenant="Alpha Hosting")
    assert (assigned.claim, assigned.claim_token) == ("verified", first.claim_token)
    assert verifying.run(a, d.show_claim, url=URL).method == "operator"
    [closed] = verifying.run(b, d.list_claims)
    assert (closed.claim, closed.url) == ("closed", URL)
    assert closed.closed_at is not None
    events = {e.action: e for e in verifying.run(b, d.list_audit)}
    assert "domain.claim-closed" in events
    assert "was verified by another account" in events["domain.claim-closed"].detail["message"]
    with pytest.raises(Conflict):
        verifying.run(b, d.add_domain, url=URL, tenant="Beta Shops")


def test_a_pending_claim_is_in_no_sweep_report_metric_or_install(
    verifying: Desk, pki: OpenSSLPKI
) -> None:
    _, b = _resellers(verifying)
    www = "https://www.test.com"  # assigned by an operator: verified, the control
    verifying.run(OPERATOR, d.add_domain, url=www, tenant="Beta Shops")
    submitted = submit_leaf(verifying, b, pki, tenant="Beta Shops", urls=[URL, www])
    assert verifying.run(b, d.show_domain, url=URL).claim == "pending"
    at = verifying.now() + timedelta(days=400)  # every certificate has expired by then
    with verifying.context(OPERATOR) as ctx:
        swept = [t.target.host for t in probe_targets(ctx)]
        reported = [r.url for r in select_rows(ctx, at, Window(at, at, True))]
        measured = [u.url for u in metrics_snapshot(ctx).urls]
        installing = install_work(ctx, every=True)
        held = install_work(ctx, request_id=submitted.request_id)
    assert swept == ["www.test.com"]
    assert reported == [www]  # both bound to the same certificate: only www is reported
    assert measured == [www]
    assert [w.url for w in installing] == [www]
    assert sorted((w.url, w.held) for w in held) == [(URL, True), (www, False)]
    with verifying.store.transaction() as session:
        states = session.execute(
            select(Domain.url, Binding.install_state, Binding.install_reason)
            .join(Binding, Binding.domain_id == Domain.id)
            .order_by(Domain.url)
        ).all()
    assert states == [(URL, "stored", HELD_REASON), (www, "stored", None)]


def test_with_verification_off_the_first_to_add_a_name_has_it(desk: Desk) -> None:
    assert not desk.policy.claims  # no platform targets, no setting: off
    a, b = _resellers(desk)
    view = desk.run(a, d.add_domain, url=URL, tenant="Alpha Hosting")
    assert (view.claim, view.claim_token) == ("verified", None)
    with pytest.raises(Conflict):
        desk.run(b, d.add_domain, url=URL, tenant="Beta Shops")
    assert desk.run(a, d.show_claim, url=URL).method == "unchecked"


def test_the_setting(tmp_path: object) -> None:
    home = {"CERTDESK_HOME": "/nonexistent-certdesk-home"}
    assert not load_settings(env=home).verifies_domains
    targets = {**home, "CERTDESK_PLATFORM_TARGETS": "edge.platform.example"}
    assert load_settings(env=targets).verifies_domains
    off = load_settings(env={**targets, "CERTDESK_DOMAIN_VERIFICATION": "off"})
    assert not off.verifies_domains
    assert load_settings(env={**home, "CERTDESK_DOMAIN_VERIFICATION": "DNS"}).verifies_domains
    with pytest.raises(InvalidArgument) as refused:
        load_settings(env={**home, "CERTDESK_DOMAIN_VERIFICATION": "txt"})
    assert "auto, dns, off" in refused.value.message


def test_a_pending_managed_domain_is_not_ordered_until_assigned(verifying: Desk) -> None:
    a, _ = _resellers(verifying)
    view = verifying.run(a, d.add_domain, url=URL, tenant="Alpha Hosting", managed="acme")
    assert view.claim == "pending"
    with verifying.context(OPERATOR, readonly=True) as ctx:
        assert due_units(ctx) == []
    with pytest.raises(OwnershipNotVerified), verifying.context(OPERATOR) as ctx:
        take_unit(ctx, url=URL, force=True)  # `certdesk acme issue URL`
    verifying.run(OPERATOR, d.add_domain, url=URL, tenant="Alpha Hosting")  # assigned
    with verifying.context(OPERATOR, readonly=True) as ctx:
        assert due_units(ctx) == [URL]
