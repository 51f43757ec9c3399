"""Flow 5: the certificate and its key for the owner, read back by openssl."""

from __future__ import annotations

from pathlib import Path

import pytest

from certdesk import desk as d
from certdesk.desk import Actor, Desk
from certdesk.errors import InvalidArgument
from tests.database import unchanged
from tests.flows import new_tenant, submit_leaf
from tests.openssl_pki import OpenSSLPKI, openssl_fingerprint, run_openssl
from tests.signing import pkcs8_der


@pytest.mark.parametrize("legacy", [False, True], ids=["modern", "legacy"])
def test_export_pfx_is_read_by_openssl(
    desk: Desk, operator: Actor, pki: OpenSSLPKI, tmp_path: Path, legacy: bool
) -> None:
    new_tenant(desk, operator)
    submitted = submit_leaf(desk, operator, pki)
    export = desk.run(
        operator,
        d.export_certificate,
        url="https://www.test.com/shop",
        to="pfx",
        password=b"new pass",
        legacy=legacy,
    )
    assert (export.sha256, export.filename) == (submitted.sha256, "www.test.com.pfx")
    pfx = tmp_path / export.filename
    pfx.write_bytes(export.data)
    extra = ["-legacy"] if legacy else []
    info = run_openssl("pkcs12", "-in", pfx, "-info", "-noout", "-passin", "pass:new pass", *extra)
    del info
    certs = run_openssl(
        "pkcs12", "-in", pfx, "-nokeys", "-passin", "pass:new pass", *extra
    ).decode()
    assert certs.count("BEGIN CERTIFICATE") == 2  # leaf and intermediate
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(certs[certs.index("-----BEGIN CERTIFICATE") :])
    assert openssl_fingerprint(leaf) == openssl_fingerprint(pki.leaf_crt)
    key = run_openssl(
        "pkcs12", "-in", pfx, "-nocerts", "-nodes", "-passin", "pass:new pass", *extra
    )
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(run_openssl("pkey", stdin=key))
    assert pkcs8_der(key_file) == pkcs8_der(pki.leaf_key)
    with pytest.raises(Exception, match="exit status"):
        run_openssl("pkcs12", "-in", pfx, "-noout", "-passin", "pass:wrong", *extra)
    audit = desk.run(operator, d.list_audit)[0]
    assert (audit.action, audit.detail["to"], audit.detail["legacy"]) == (
        "certificate.export",
        "pfx",
        legacy,
    )
    assert "new pass" not in repr(audit.detail)


@pytest.mark.parametrize("password", [None, b"pem pass"], ids=["plain", "encrypted"])
def test_export_pem_is_read_by_openssl(
    desk: Desk, operator: Actor, pki: OpenSSLPKI, tmp_path: Path, password: bytes | None
) -> None:
    new_tenant(desk, operator)
    submit_leaf(desk, operator, pki)
    export = desk.run(
        operator,
        d.export_certificate,
        url="store.test.com",
        to="pem",
        password=password,
        include_key=True,
        clear_key=password is None,
    )
    audit = desk.run(operator, d.list_audit)[0]
    assert audit.detail["with_key"] is True
    assert audit.detail["clear_key"] is (password is None)
    assert audit.detail["key_encrypted"] is (password is not None)
    pem = tmp_path / export.filename
    pem.write_bytes(export.data)
    text = export.data.decode()
    assert text.count("BEGIN CERTIFICATE") == 2
    assert ("ENCRYPTED PRIVATE KEY" in text) is (password is not None)
    passin = ["-passin", f"pass:{password.decode()}"] if password else []
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(run_openssl("pkey", "-in", pem, *passin))
    assert pkcs8_der(key_file) == pkcs8_der(pki.leaf_key)
    # openssl x509 reads the first certificate of the file: the leaf.
    assert openssl_fingerprint(pem) == openssl_fingerprint(pki.leaf_crt)


def test_the_key_is_exported_only_when_asked_and_never_in_clear_by_default(
    desk: Desk, operator: Actor, pki: OpenSSLPKI
) -> None:
    new_tenant(desk, operator)
    submit_leaf(desk, operator, pki)
    plain = desk.run(operator, d.export_certificate, url="store.test.com", to="pem")
    assert b"PRIVATE KEY" not in plain.data
    assert plain.data.count(b"BEGIN CERTIFICATE") == 2
    assert desk.run(operator, d.list_audit)[0].detail["with_key"] is False
    refusals = [
        # A PEM with its key needs a password, unless a clear key is asked for.
        ({"to": "pem", "include_key": True}, "needs a password to encrypt the key"),
        # A .pfx always has a password.
        ({"to": "pfx"}, "a .pfx export needs a password"),
        ({"to": "pfx", "password": b""}, "a .pfx export needs a password"),
        # A password without the key would protect nothing.
        ({"to": "pem", "password": b"x"}, "applies only to an export with the private key"),
    ]
    for options, message in refusals:
        with unchanged(desk), pytest.raises(InvalidArgument, match=message):
            desk.run(operator, d.export_certificate, url="store.test.com", **options)
