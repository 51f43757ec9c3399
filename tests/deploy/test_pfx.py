"""The pfx target: files openssl opens with the password, in OpenSSL 3's encryption."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from certdesk.deploy import PfxTarget, load_target
from certdesk.errors import InvalidArgument
from tests.deploy.conftest import STORE, Certs
from tests.openssl_pki import run_openssl

PASSWORD = "pfx-pässword"


def test_openssl_opens_the_pfx(tmp_path: Path, certs: Certs) -> None:
    target = load_target("pfx", {"folder": str(tmp_path), "password": PASSWORD})
    assert isinstance(target, PfxTarget)
    target.deploy([certs.store.item(STORE)])
    pfx = target.pfx_path(STORE)
    assert pfx.name == f"{STORE}.pfx"
    assert stat.S_IMODE(pfx.stat().st_mode) == 0o600
    opened = run_openssl("pkcs12", "-in", pfx, "-passin", f"pass:{PASSWORD}", "-nodes")
    assert opened.count(b"BEGIN CERTIFICATE") == 2
    assert b"BEGIN PRIVATE KEY" in opened
    info = subprocess.run(
        ["openssl", "pkcs12", "-in", pfx, "-passin", f"pass:{PASSWORD}", "-info", "-noout"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    assert "MAC: sha256" in info
    assert "PBES2, PBKDF2, AES-256-CBC" in info
    wrong = subprocess.run(
        ["openssl", "pkcs12", "-in", pfx, "-passin", "pass:wrong", "-nodes"],
        capture_output=True, check=False,
    )  # fmt: skip
    assert wrong.returncode != 0
    assert PASSWORD not in repr(target)


def test_legacy_encryption_and_a_password_is_needed(tmp_path: Path, certs: Certs) -> None:
    target = PfxTarget(tmp_path, password=PASSWORD, legacy=True)
    target.deploy([certs.store.item(STORE)])
    info = subprocess.run(
        ["openssl", "pkcs12", "-legacy", "-in", target.pfx_path(STORE),
         "-passin", f"pass:{PASSWORD}", "-info", "-noout"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    assert "pbeWithSHA1And3-KeyTripleDES-CBC" in info
    assert "MAC: sha1" in info
    with pytest.raises(InvalidArgument):
        PfxTarget(tmp_path, password="")
    with pytest.raises(InvalidArgument):
        load_target("pfx", {"folder": str(tmp_path)})
