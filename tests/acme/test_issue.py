"""Platform-managed certificates against pebble: issued end to end through the intake path,
renewed, and every way it can stall (DNS elsewhere, the challenge unreachable, the CA
down) leaving a clear state and a later try, never a hot loop."""

from __future__ import annotations

from datetime import timedelta

from cryptography import x509
from sqlalchemy import func, select

from certdesk import desk as d
from certdesk.application.managed import due_acme_work, run_acme_unit
from certdesk.store.models import CertificateRecord, PrivateKeyRecord
from tests.acme.conftest import OPERATOR, TENANT, Bed

URL = "https://shop.acme.test"


def _add(bed: Bed, url: str = URL) -> None:
    bed.desk.run(OPERATOR, d.add_domain, url=url, tenant=TENANT, managed="acme")


def _status(bed: Bed, url: str = URL) -> d.ManagedView:
    return bed.desk.run(OPERATOR, d.managed_status, url=url)


def _leaf(bed: Bed, sha256: str) -> x509.Certificate:
    with bed.desk.context(OPERATOR, readonly=True) as ctx:
        record = ctx.session.scalars(
            select(CertificateRecord).where(CertificateRecord.sha256 == sha256)
        ).one()
        return x509.load_pem_x509_certificates(record.chain_pem.encode())[0]


def test_a_managed_domain_is_issued_by_pebble_and_taken_in(bed: Bed) -> None:
    _add(bed)
    now = bed.desk.now()
    assert due_acme_work(bed.desk, now) == [URL]
    assert _status(bed).state == "waiting-for-dns"

    outcome = run_acme_unit(bed.desk, URL, now, settings=bed.settings)

    assert outcome.state == "issued", outcome.message
    view = _status(bed)
    assert (view.state, view.problem) == ("issued", None)
    # Stored and bound like any intake: the domain's current certificate is the CA's.
    domain = bed.desk.run(OPERATOR, d.show_domain, url=URL)
    assert outcome.sha256 is not None
    assert domain.certificate_sha256 == outcome.sha256 == view.certificate_sha256
    leaf = _leaf(bed, outcome.sha256)
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
