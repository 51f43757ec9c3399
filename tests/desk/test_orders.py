"""Flows 2–4: certdesk makes a CSR, the openssl test CA signs it, the certificate comes back
(PEM, DER, with or without chain, .p7b) and is paired with its order by public key; renewal."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from certdesk import desk as d
from certdesk.desk import Actor, Desk
from certdesk.store.models import Binding, CertificateRecord, CsrOrder, Domain
from tests.database import unchanged
from tests.flows import LEAF_URLS, new_tenant, order, signed, submit_leaf
from tests.openssl_pki import OpenSSLPKI, openssl_fingerprint, run_openssl
from tests.signing import to_der, to_p7b, with_chain


def openssl_csr(path: Path) -> tuple[dict[str, str], list[str]]:
    """The subject fields and DNS SANs of a CSR as ``openssl req -verify`` reads it."""
    done = run_openssl(
        "req", "-in", path, "-verify", "-noout", "-text", "-nameopt", "sep_multiline"
    )
    text = done.decode()
    block = text.split("Subject:", 1)[1].split("Subject Public Key Info", 1)[0]
    fields = dict(re.findall(r"^\s+(\w+)=(.*)$", block, re.MULTILINE))
    sans = re.findall(r"DNS:([^,\s]+)", text)
    return fields, sans


def _csr_file(view: d.OrderView, folder: Path) -> Path:
    path = folder / f"order-{view.id}.csr"
    path.write_text(view.csr_pem)
    return path


def test_order_csr_makes_a_valid_request(desk: Desk, operator: Actor, tmp_path: Path) -> None:
    new_tenant(desk, operator)
    view = order(
        desk,
        operator,
        cn="Shop.Example.org",
        sans=["www.shop.example.org", "shop.example.org"],
        urls=["https://shop.example.org/bss"],
        organization="Acme Shop S.A.",
        unit="Web",
        locality="Athens",
        state="Attica",
        country="gr",
    )
    assert (view.status, view.tenant, view.key_kind) == ("pending", "Acme Hosting", "p256")
    assert view.sans == ("shop.example.org", "www.shop.example.org")
    fields, sans = openssl_csr(_csr_file(view, tmp_path))
    assert fields == {
        "CN": "shop.example.org",
        "O": "Acme Shop S.A.",
        "OU": "Web",
        "L": "Athens",
        "ST": "Attica",
        "C": "GR",
    }
    assert sans == ["shop.example.org", "www.shop.example.org"]  # the CN is always a SAN
    text = run_openssl("req", "-in", _csr_file(view, tmp_path), "-noout", "-text").decode()
    assert "prime256v1" in text or "P-256" in text
    listed = desk.run(operator, d.list_orders, status="pending")
    assert [o.id for o in listed] == [view.id]
    request = desk.run(operator, d.list_requests)[0]
    assert (request.kind, request.status) == ("csr", "processing")
    assert desk.run(operator, d.list_audit)[0].action == "csr.order"


def test_default_key_is_rsa_2048(desk: Desk, operator: Actor, tmp_path: Path) -> None:
    new_tenant(desk, operator)
    view = desk.run(
        operator,
        d.order_csr,
        tenant="Acme Hosting",
        subject=d.orders.Subject(common_name="*.example.org"),
    )
    text = run_openssl("req", "-in", _csr_file(view, tmp_path), "-noout", "-text").decode()
    assert "Public-Key: (2048 bit)" in text
    assert openssl_csr(_csr_file(view, tmp_path))[1] == ["*.example.org"]


FORMATS = ["pem-chain", "der", "pem-leaf", "p7b-pem", "p7b-der"]


def _encode(pki: OpenSSLPKI, crt: Path, form: str) -> bytes:
    out = crt.with_name(f"{crt.stem}.{form}")
    if form == "pem-chain":
        return with_chain(pki, crt, out).read_bytes()
    if form == "der":
        return to_der(crt, out).read_bytes()
    if form == "pem-leaf":
        return crt.read_bytes()
    return to_p7b(pki, crt, out, der=form == "p7b-der").read_bytes()


@pytest.mark.parametrize("form", FORMATS)
def test_signed_certificate_comes_back_in_any_form(
    desk: Desk, operator: Actor, pki: OpenSSLPKI, tmp_path: Path, form: str
) -> None:
    new_tenant(desk, operator)
    if form in ("der", "pem-leaf"):
        # A leaf alone is completed with an intermediate certdesk has seen before.
        submit_leaf(desk, operator, pki)
    other = order(desk, operator, cn="other.example.org")
    view = order(
        desk,
        operator,
        cn="shop.example.org",
        sans=["www.shop.example.org"],
        urls=["https://shop.example.org", "https://www.shop.example.org:8443"],
    )
    crt = signed(pki, view, tmp_path)
    result = desk.run(operator, d.complete_order, data=_encode(pki, crt, form))

    fingerprint = openssl_fingerprint(crt)
    assert (result.sha256, result.order_id) == (fingerprint, view.id)  # found by its key
    assert result.urls == ("https://shop.example.org", "https://www.shop.example.org:8443")
    assert result.replaced == ()
    assert [f for f in result.findings if f.severity.value == "error"] == []
    shown = desk.run(operator, d.show_order, order_id=view.id)
    assert (shown.status, shown.certificate) == ("fulfilled", fingerprint)
    assert desk.run(operator, d.show_order, order_id=other.id).status == "pending"
    with desk.store.transaction() as session:
        cert = session.scalars(
            select(CertificateRecord).where(CertificateRecord.sha256 == fingerprint)
        ).one()
        stored_order = session.get(CsrOrder, view.id)
        assert stored_order is not None
        assert cert.private_key_id == stored_order.private_key_id
        assert cert.source == "csr"
        assert cert.chain_pem.count("BEGIN CERTIFICATE") == 2  # leaf + intermediate
        bound = session.scalars(
            select(Domain.url)
            .join(Binding, Binding.domain_id == Domain.id)
            .where(Binding.certificate_id == cert.id, Binding.unbound_at.is_(None))
            .order_by(Domain.url)
        ).all()
        assert list(bound) == list(result.urls)
    request = desk.run(operator, d.list_requests, status="completed")
    assert [r.kind for r in request if r.summary.startswith("CSR for shop")] == ["csr"]
    timeline = next(r for r in request if r.summary.startswith("CSR for shop")).timeline
    assert [s for _, s, _ in timeline] == ["received", "processing", "completed"]
    audit = desk.run(operator, d.list_audit)[0]
    assert (audit.action, audit.object_id, audit.detail["order"]) == (
        "csr.complete",
        fingerprint,
        view.id,
    )


def test_renewal_replaces_the_old_certificate_with_history(
    desk: Desk, operator: Actor, pki: OpenSSLPKI, tmp_path: Path
) -> None:
    new_tenant(desk, operator)
    old = submit_leaf(desk, operator, pki)
    view = desk.run(operator, d.renew, url="store.test.com")
    assert view.renewal_of == old.sha256
    assert view.sans == ("store.test.com", "www.test.com")
    assert sorted(view.urls) == sorted(LEAF_URLS)
    assert view.key_kind == "rsa2048"  # as the certificate it renews
    fields, sans = openssl_csr(_csr_file(view, tmp_path))
    assert fields == {"C": "GR", "O": "Test Inc.", "CN": "store.test.com"}
    assert sans == ["store.test.com", "www.test.com"]
    with desk.store.transaction() as session:
        new_spki = session.get(CsrOrder, view.id).spki_sha256  # type: ignore[union-attr]
        old_spki = session.scalars(select(CertificateRecord.spki_sha256)).one()
    assert new_spki != old_spki  # a new key

    crt = signed(pki, view, tmp_path)
    result = desk.run(operator, d.complete_order, data=crt.read_bytes())
    assert result.replaced == (old.sha256,)
    assert result.sha256 == openssl_fingerprint(crt)
    domains = desk.run(operator, d.list_domains)
    assert {v.url: v.certificate_sha256 for v in domains} == dict.fromkeys(LEAF_URLS, result.sha256)
    with desk.store.transaction() as session:
        history = session.execute(
            select(Domain.url, CertificateRecord.sha256, Binding.bound_at, Binding.unbound_at)
            .join(Domain, Domain.id == Binding.domain_id)
            .join(CertificateRecord, CertificateRecord.id == Binding.certificate_id)
            .order_by(Binding.id)
        ).all()
    assert len(history) == 4
    olds = [h for h in history if h.sha256 == old.sha256]
    news = [h for h in history if h.sha256 == result.sha256]
    assert sorted(h.url for h in olds) == sorted(LEAF_URLS) == sorted(h.url for h in news)
    for h in olds:
        assert h.unbound_at is not None
        assert h.unbound_at >= h.bound_at
        assert h.unbound_at - h.bound_at < timedelta(minutes=5)
    assert all(h.unbound_at is None for h in news)
    renewal = next(r for r in desk.run(operator, d.list_requests) if r.kind == "renew")
    assert renewal.status == "completed"
    # The old certificate is kept, and renewing again starts from the new one.
    again = desk.run(operator, d.renew, url="https://www.test.com/shop", key_kind="p256")
    assert (again.renewal_of, again.key_kind) == (result.sha256, "p256")


def test_cancel_an_order(desk: Desk, operator: Actor, pki: OpenSSLPKI, tmp_path: Path) -> None:
    new_tenant(desk, operator)
    view = order(desk, operator, cn="gone.example.org")
    crt = signed(pki, view, tmp_path)
    cancelled = desk.run(operator, d.cancel_order, order_id=view.id)
    assert cancelled.status == "cancelled"
    request = desk.run(operator, d.list_requests)[0]
    assert (request.status, [s for _, s, _ in request.timeline][-1]) == ("rejected", "rejected")
    assert desk.run(operator, d.list_orders, status="pending") == []
    with unchanged(desk), pytest.raises(d.Conflict) as caught:
        desk.run(operator, d.cancel_order, order_id=view.id)
    assert caught.value.code == "conflict"
    with unchanged(desk), pytest.raises(d.Conflict) as caught:
        desk.run(
            operator, d.complete_order, data=with_chain(pki, crt, tmp_path / "c.pem").read_bytes()
        )
    assert caught.value.code == "conflict"
    assert "cancelled" in caught.value.message
