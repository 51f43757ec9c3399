"""Platform-managed certificates against pebble: issued end to end through the intake path,
renewed, and every way it can stall (DNS elsewhere, the challenge unreachable, the CA
down) leaving a clear state and a later try, never a hot loop."""

from __future__ import annotations

from datetime import timedelta

from cryptography import x509
from sqlalchemy import func, select

from certdesk import desk as d
from certdesk.application.compose import managed_config
from certdesk.application.managed import due_acme_work, run_acme_unit
from certdesk.store.models import PrivateKeyRecord
from tests.acme.conftest import OPERATOR, Bed, leaf_of

URL = "https://shop.acme.test"


def _add(bed: Bed, url: str = URL) -> None:
    bed.add_managed(url)


def _status(bed: Bed, url: str = URL) -> d.ManagedView:
    return bed.desk.run(OPERATOR, d.managed_status, url=url)


def test_a_managed_domain_is_issued_by_pebble_and_taken_in(bed: Bed) -> None:
    _add(bed)
    now = bed.desk.now()
    assert due_acme_work(bed.desk, now) == [URL]
    assert _status(bed).state == "waiting-for-dns"

    outcome = run_acme_unit(bed.desk, URL, now, config=managed_config(bed.settings))

    assert outcome.state == "issued", outcome.message
    view = _status(bed)
    assert (view.state, view.problem) == ("issued", None)
    # Stored and bound like any intake: the domain's current certificate is the CA's.
    domain = bed.desk.run(OPERATOR, d.show_domain, url=URL)
    assert outcome.sha256 is not None
    assert domain.certificate_sha256 == outcome.sha256 == view.certificate_sha256
    leaf = leaf_of(bed, outcome.sha256)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["shop.acme.test"]
    assert "Pebble Intermediate CA" in leaf.issuer.rfc4514_string()
    # Renewal falls due at two thirds of the lifetime, not before.
    life = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert view.renew_at == leaf.not_valid_before_utc + life * 2 / 3
    assert due_acme_work(bed.desk, now) == []
    assert due_acme_work(bed.desk, view.renew_at + timedelta(seconds=1)) == [URL]
    # Keys only sealed: the order's and the ACME account's.
    with bed.desk.context(OPERATOR, readonly=True) as ctx:
        assert ctx.session.scalar(select(func.count()).select_from(PrivateKeyRecord)) == 2


def test_a_second_run_renews_with_a_new_key_and_replaces_the_old(bed: Bed) -> None:
    _add(bed)
    first = run_acme_unit(bed.desk, URL, bed.desk.now(), config=managed_config(bed.settings))
    assert first.state == "issued", first.message
    renew_at = _status(bed).renew_at
    assert renew_at is not None
    # Not due before two thirds of the lifetime: nothing happens.
    early = run_acme_unit(
        bed.desk, URL, renew_at - timedelta(days=1), config=managed_config(bed.settings)
    )
    assert early.state == "skipped"

    second = run_acme_unit(
        bed.desk, URL, renew_at + timedelta(minutes=1), config=managed_config(bed.settings)
    )

    assert second.state == "issued", second.message
    assert first.sha256 is not None
    assert second.sha256 is not None
    assert second.sha256 != first.sha256
    assert bed.desk.run(OPERATOR, d.show_domain, url=URL).certificate_sha256 == second.sha256
    old, new = leaf_of(bed, first.sha256), leaf_of(bed, second.sha256)
    assert old.public_key().public_numbers() != new.public_key().public_numbers()  # type: ignore[union-attr]
    # The renewal went through the desk's renewal order: the old certificate is its origin.
    orders = bed.desk.run(OPERATOR, d.list_orders)
    assert [(o.status, o.renewal_of) for o in orders] == [
        ("fulfilled", None),
        ("fulfilled", first.sha256),
    ]
    assert _status(bed).state == "issued"
