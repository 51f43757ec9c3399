"""The portal's conversions: openssl-made ``.crt`` + key (+ chain) to a ``.pfx`` that
``openssl pkcs12`` opens with the password given, a ``.pfx`` to PEM, each refusal beside
its field; nothing stored, no password in the logs."""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from certdesk.desk import Desk
from tests.database import unchanged
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI, run_openssl
from tests.web.conftest import TENANT_B, SyncASGI, browser_client

Login = Callable[[str], tuple[httpx.Client, str]]
NEW_PASSWORD = "a pfx password 7"


def _files(**paths: Path | None) -> dict[str, tuple[str, bytes]]:
    return {name: (path.name, path.read_bytes()) for name, path in paths.items() if path}


def _to_pfx(
    client: httpx.Client, csrf: str, pki: OpenSSLPKI, **overrides: object
) -> httpx.Response:
    files = overrides.pop("files", None) or _files(
        certificate=pki.leaf_crt, key=pki.leaf_key, chain=pki.int_crt
    )
    data = {"csrf_token": csrf, "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    data.update({k: str(v) for k, v in overrides.items()})
    return client.post("/convert/pfx", data=data, files=files)


def _certificates_in(pem: bytes) -> list[str]:
    """The subjects of the PEM's certificates, in order, as openssl prints them."""
    out = []
    for block in pem.decode().split("-----END CERTIFICATE-----")[:-1]:
        one = (block + "-----END CERTIFICATE-----\n").split("-----BEGIN CERTIFICATE-----")[1]
        text = run_openssl(
            "x509",
            "-noout",
            "-subject",
            stdin=("-----BEGIN CERTIFICATE-----" + one).encode(),
        )
        out.append(text.decode().strip())
    return out


def test_crt_key_and_chain_become_a_pfx_openssl_opens(
    login: Login, web_desk: Desk, pki: OpenSSLPKI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client, csrf = login("alice")
    assert client.get("/convert").status_code == 200
    caplog.set_level(logging.DEBUG)
    with unchanged(web_desk):
        answer = _to_pfx(client, csrf, pki)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/x-pkcs12"
    assert answer.headers["content-disposition"].endswith('.pfx"')
    pfx = tmp_path / "out.pfx"
    pfx.write_bytes(answer.content)
    certs = run_openssl("pkcs12", "-in", pfx, "-passin", f"pass:{NEW_PASSWORD}", "-nokeys")
    subjects = _certificates_in(certs)
    leaf_subject = run_openssl("x509", "-in", pki.leaf_crt, "-noout", "-subject").decode()
    int_subject = run_openssl("x509", "-in", pki.int_crt, "-noout", "-subject").decode()
    assert sorted(subjects) == sorted([leaf_subject.strip(), int_subject.strip()])
    key = run_openssl("pkcs12", "-in", pfx, "-passin", f"pass:{NEW_PASSWORD}", "-nocerts", "-nodes")
    ours = run_openssl("pkey", "-pubout", stdin=key)
    theirs = run_openssl("pkey", "-in", pki.leaf_key, "-pubout")
    assert ours == theirs
    with pytest.raises(subprocess.CalledProcessError):  # and not without the password
        run_openssl("pkcs12", "-in", pfx, "-passin", "pass:wrong", "-nokeys")
    assert NEW_PASSWORD not in caplog.text


def test_an_encrypted_key_opens_with_its_password(
    login: Login, pki: OpenSSLPKI, tmp_path: Path
) -> None:
    encrypted = tmp_path / "enc.key"
    run_openssl(
        "pkey", "-in", pki.leaf_key, "-aes256", "-passout", "pass:key pass 1", "-out", encrypted
    )
    client, csrf = login("alice")
    files = _files(certificate=pki.leaf_crt, key=encrypted)
    wrong = _to_pfx(client, csrf, pki, files=files, key_password="not it")
    assert wrong.status_code == 422
    assert 'id="key_password-error"' in wrong.text
    assert "<code>wrong-password</code>" in wrong.text
    right = _to_pfx(client, csrf, pki, files=files, key_password="key pass 1")
    assert right.status_code == 200, right.text


@pytest.mark.parametrize(
    ("case", "field", "code"),
    [
        ("other key", "key", "key-mismatch"),
        ("no key", "key", "no-private-key"),
        ("no password", "password", "invalid-argument"),
        ("passwords differ", "confirm_password", "invalid-argument"),
        ("key as certificate", "certificate", "no-certificate"),
        ("garbage chain", "chain", ""),
    ],
)
def test_each_refusal_is_beside_its_field(
    login: Login, web_desk: Desk, pki: OpenSSLPKI, tmp_path: Path, case: str, field: str, code: str
) -> None:
    client, csrf = login("alice")
    garbage = tmp_path / "chain.crt"
    garbage.write_bytes(b"not a certificate at all\n")
    files = {
        "other key": _files(certificate=pki.leaf_crt, key=pki.other_key),
        "no key": _files(certificate=pki.leaf_crt),
        "key as certificate": _files(certificate=pki.leaf_key, key=pki.leaf_key),
        "garbage chain": _files(certificate=pki.leaf_crt, key=pki.leaf_key, chain=garbage),
    }.get(case)
    extra: dict[str, object] = {}
    if case == "no password":
        extra = {"password": "", "confirm_password": ""}
    if case == "passwords differ":
        extra = {"confirm_password": "something else"}
    with unchanged(web_desk):
        answer = _to_pfx(client, csrf, pki, files=files, **extra)
    assert answer.status_code in (400, 422), answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert f'id="{field}-error"' in answer.text
    assert f"<code>{code}" in answer.text
    error = answer.text.split(f'id="{field}-error"')[1].split("</div>")[0]
    assert "certdesk " not in error, error  # no command for a reseller
    assert not re.search(r"(^|\s)--[a-z]", error), error


def test_a_pfx_becomes_pem_leaf_first(
    login: Login, web_desk: Desk, pki: OpenSSLPKI, tmp_path: Path
) -> None:
    client, csrf = login("alice")
    with unchanged(web_desk):
        answer = client.post(
            "/convert/pem",
            data={"csrf_token": csrf, "pfx_password": PFX_PASSWORD},
            files=_files(pfx=pki.modern_pfx),
        )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"].endswith('.pem"')
    assert b"PRIVATE KEY" not in answer.content
    subjects = _certificates_in(answer.content)
    assert "store.test.com" in subjects[0]
    assert len(subjects) >= 2

    with_key = client.post(
        "/convert/pem",
        data={
            "csrf_token": csrf,
            "pfx_password": PFX_PASSWORD,
            "include_key": "true",
            "pem_key_password": "pem key pass",
        },
        files=_files(pfx=pki.modern_pfx),
    )
    assert b"ENCRYPTED PRIVATE KEY" in with_key.content
    key = tmp_path / "k.pem"
    key.write_bytes(with_key.content)
    public = run_openssl("pkey", "-in", key, "-passin", "pass:pem key pass", "-pubout")
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(answer.content)
    assert public == run_openssl("x509", "-in", leaf, "-noout", "-pubkey")


def test_pem_refusals_are_beside_their_fields(
    login: Login, web_desk: Desk, pki: OpenSSLPKI
) -> None:
    client, csrf = login("alice")
    with unchanged(web_desk):
        wrong = client.post(
            "/convert/pem",
            data={"csrf_token": csrf, "pfx_password": "not it"},
            files=_files(pfx=pki.modern_pfx),
        )
        assert wrong.status_code == 422
        assert 'id="pfx_password-error"' in wrong.text
        assert "<code>wrong-password</code>" in wrong.text
        pem = client.post("/convert/pem", data={"csrf_token": csrf}, files=_files(pfx=pki.leaf_crt))
        assert pem.status_code == 422
        assert 'id="pfx-error"' in pem.text
        assert "<code>unsupported-format</code>" in pem.text
        nothing = client.post("/convert/pem", data={"csrf_token": csrf})
        assert 'id="pfx-error"' in nothing.text


def test_convert_needs_a_session_and_the_csrf_token_and_shows_no_tenant(
    transport: SyncASGI, login: Login, web_desk: Desk, pki: OpenSSLPKI
) -> None:
    with browser_client(transport) as anonymous:
        assert anonymous.get("/convert", follow_redirects=False).status_code == 303
        refused = anonymous.post("/convert/pem", files=_files(pfx=pki.modern_pfx))
        assert refused.status_code == 401
    client, _ = login("alice")
    assert TENANT_B not in client.get("/convert").text
    with unchanged(web_desk):
        forged = client.post(
            "/convert/pem",
            data={"csrf_token": "forged", "pfx_password": PFX_PASSWORD},
            files=_files(pfx=pki.modern_pfx),
        )
    assert forged.status_code == 403
    assert b"CERTIFICATE" not in forged.content
