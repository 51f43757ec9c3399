"""Flow 5: the certificate and its key for the owner, read back by openssl."""

from __future__ import annotations

from pathlib import Path

import pytest

from certdesk import desk as d
from certdesk.desk import Actor, Desk
from tests.flows import new_tenant, submit_leaf
from tests.openssl_pki import OpenSSLPKI, openssl_fingerprint, run_openssl
from tests.signing import pkcs8_der


def _modulus(args: list[str], stdin: bytes | None = None) -> bytes:
    return run_openssl(*args, stdin=stdin).strip()


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
        operator, d.export_certificate, url="store.test.com", to="pem", password=password
    )
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
