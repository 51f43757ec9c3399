"""Flow 1: a customer's .pfx (made by openssl) submitted for a tenant's URLs."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from certdesk import desk as d
from certdesk.desk import Actor, Desk
from certdesk.store.models import Binding, CertificateRecord, Domain, PrivateKeyRecord
from tests.database import snapshot
from tests.flows import LEAF_URLS, new_tenant, submit_leaf
from tests.openssl_pki import (
    PFX_PASSWORD,
    OpenSSLPKI,
    openssl_date,
    openssl_fingerprint,
    openssl_spki_sha256,
    openssl_x509,
)
from tests.signing import key_needles, pkcs8_der


def test_submit_pfx_stores_binds_and_records(desk: Desk, operator: Actor, pki: OpenSSLPKI) -> None:
    tenant_id = new_tenant(desk, operator)
    desk.run(operator, d.add_domain, url="https://store.test.com", tenant="Acme Hosting")
    result = submit_leaf(desk, operator, pki)

    fingerprint = openssl_fingerprint(pki.leaf_crt)
    assert result.sha256 == fingerprint
    assert result.urls == ("https://store.test.com", "https://www.test.com/shop")
    assert [f.severity.value for f in result.findings if f.severity.value == "error"] == []

    with desk.store.transaction() as session:
        cert = session.scalars(select(CertificateRecord)).one()
        assert (cert.tenant_id, cert.sha256, cert.source) == (tenant_id, fingerprint, "pfx")
        assert cert.spki_sha256 == openssl_spki_sha256(pki.leaf_crt, is_cert=True)
        assert sorted(cert.dns_names) == ["store.test.com", "www.test.com"]
        assert cert.common_name == "store.test.com"
        # The chain is stored leaf first, then the intermediate from the .pfx.
        stored = cert.chain_pem.encode()
        assert stored.startswith(pki.leaf_crt.read_bytes().split(b"-----END")[0])
        assert pki.int_crt.read_bytes().split(b"-----BEGIN CERTIFICATE-----")[1][:64] in stored
        key = session.get(PrivateKeyRecord, cert.private_key_id)
        assert key is not None
        assert key.spki_sha256 == cert.spki_sha256
        for needle in key_needles(pki.leaf_key).values():
            assert needle not in key.ciphertext
        opened = desk.vault.open(
            key.master_key_id, key.wrapped_dek, key.ciphertext, key.spki_sha256
        )
        assert opened.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ) == pkcs8_der(pki.leaf_key)
        bindings = session.scalars(select(Binding).order_by(Binding.id)).all()
        assert [(b.certificate_id, b.unbound_at) for b in bindings] == [(cert.id, None)] * 2
        assert all(b.request_id == result.request_id for b in bindings)

    # The unknown URL became the tenant's domain; both show the certificate.
    domains = desk.run(operator, d.list_domains, tenant="Acme Hosting")
    assert [(v.url, v.certificate_sha256, v.monitored) for v in domains] == [
        ("https://store.test.com", fingerprint, True),
        ("https://www.test.com/shop", fingerprint, True),
    ]
    assert domains[0].not_after == openssl_date(openssl_x509(pki.leaf_crt, "-enddate"))

    request = desk.run(operator, d.get_request, request_id=result.request_id)
    assert (request.kind, request.status, request.tenant) == ("submit", "completed", "Acme Hosting")
    assert [status for _, status, _ in request.timeline] == ["received", "processing", "completed"]

    audit = desk.run(operator, d.list_audit)
    actions = [a.action for a in audit]
    assert actions[0] == "certificate.submit"
    assert actions.count("domain.add") == 2  # the one added by hand, the one added by submit
    submitted = audit[0]
    assert (submitted.actor, submitted.object_id) == ("test", fingerprint)
    assert submitted.detail["urls"] == list(result.urls)
    # The password was used to open the file, then dropped: nowhere in the database.
    everything = json.dumps(snapshot(desk), default=repr)
    assert PFX_PASSWORD not in everything
    assert PFX_PASSWORD not in json.dumps([a.detail for a in audit])


def test_a_legacy_pfx_is_accepted_too(desk: Desk, operator: Actor, pki: OpenSSLPKI) -> None:
    new_tenant(desk, operator)
    result = submit_leaf(desk, operator, pki, urls=["store.test.com"], pfx=pki.legacy_pfx)
    assert result.sha256 == openssl_fingerprint(pki.leaf_crt)
    assert result.urls == ("https://store.test.com",)


def test_submitting_again_for_a_new_url_binds_the_same_certificate(
    desk: Desk, operator: Actor, pki: OpenSSLPKI
) -> None:
    new_tenant(desk, operator)
    first = submit_leaf(desk, operator, pki, urls=[LEAF_URLS[0]])
    second = submit_leaf(desk, operator, pki, urls=list(LEAF_URLS))
    assert first.sha256 == second.sha256
    with desk.store.transaction() as session:
        assert len(session.scalars(select(CertificateRecord)).all()) == 1
        # The key it already holds is not sealed and stored a second time.
        assert len(session.scalars(select(PrivateKeyRecord)).all()) == 1
        assert len(session.scalars(select(Domain)).all()) == 2
        current = session.scalars(select(Binding).where(Binding.unbound_at.is_(None))).all()
        assert len(current) == 2
