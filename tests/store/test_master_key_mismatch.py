"""certdesk never runs with a master key other than the one its database's keys are
sealed under: ``certdesk serve`` and every desk command refuse to start (``vault-locked``,
exit 2) with another ``CERTDESK_MASTER_KEY`` or with ``master.key`` gone (no new key is
made then); a second certdesk with another key on the same database seals nothing; and a
``vault rotate`` that fails leaves no ``master.key.new`` behind."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, update

from certdesk import desk as d
from certdesk.application.compose import open_desk
from certdesk.desk import Actor, Desk
from certdesk.settings import Settings
from certdesk.store.models import PrivateKeyRecord
from certdesk.store.vault import (
    Vault,
    VaultLocked,
    encode_master_key,
    key_id,
    new_master_key,
    parse_master_key,
    write_key_file,
)
from tests.cli.conftest import run_module
from tests.database import snapshot, unchanged
from tests.flows import new_tenant, order, submit_leaf
from tests.notify.smtpd import free_port
from tests.openssl_pki import OpenSSLPKI


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}
    env["CERTDESK_HOME"] = str(settings.home)
    env["CERTDESK_DATABASE_URL"] = settings.database_url
    env["CERTDESK_CA_BUNDLE"] = str(settings.ca_bundle)
    env.update(extra)
    return env


def _files(home: Path) -> list[str]:
    return sorted(p.name for p in home.glob("master.key*"))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serve_refuses_to_start_with_another_master_key(
    desk: Desk, settings: Settings, operator: Actor, pki: OpenSSLPKI
) -> None:
    new_tenant(desk, operator)
    submit_leaf(desk, operator, pki)
    right = key_id(parse_master_key(settings.master_key_file.read_text()))
    wrong = encode_master_key(new_master_key())
    before = snapshot(desk)
    proc = subprocess.run(
        [sys.executable, "-m", "certdesk", "serve", "--port", str(free_port())],
        env=_env(settings, CERTDESK_MASTER_KEY=wrong),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "vault-locked" in proc.stderr
    assert right in proc.stderr
    assert "CERTDESK_MASTER_KEY" in proc.stderr
    assert snapshot(desk) == before
    # The same for a command that would seal a key.
    ordered = run_module(
        "csr", "new", "--tenant", "Acme Hosting", "--cn", "shop.example.org",
        "--url", "https://shop.example.org", "--out", settings.home / "shop.csr",
        env=_env(settings, CERTDESK_MASTER_KEY=wrong),
    )  # fmt: skip
    assert ordered.exit_code == 2, ordered.stdout + ordered.stderr
    assert "vault-locked" in ordered.stdout + ordered.stderr
    assert snapshot(desk) == before


def test_no_new_master_key_while_sealed_keys_exist(
    desk: Desk, settings: Settings, operator: Actor, pki: OpenSSLPKI
) -> None:
    new_tenant(desk, operator)
    submit_leaf(desk, operator, pki)
    desk.store.close()
    kept = settings.home / "kept-elsewhere.key"
    os.replace(settings.master_key_file, kept)
    with pytest.raises(VaultLocked) as caught:
        open_desk(settings)
    assert "no master key" in caught.value.message
    assert "does not make a new master key" in caught.value.message
    assert _files(settings.home) == []  # none was made
    listed = run_module("domain", "list", env=_env(settings))
    assert listed.exit_code == 2
    assert "vault-locked" in listed.stdout + listed.stderr
    assert _files(settings.home) == []
    # Put back, it opens as before.
    os.replace(kept, settings.master_key_file)
    again = open_desk(settings)
    try:
        again.run(operator, d.export_certificate, url="https://store.test.com", to="pem")
    finally:
        again.store.close()


def test_an_empty_database_gets_a_new_master_key(settings: Settings) -> None:
    opened = open_desk(settings)
    try:
        assert _files(settings.home) == ["master.key"]
    finally:
        opened.store.close()


def test_a_second_certdesk_with_another_key_seals_nothing(
    desk: Desk, settings: Settings, operator: Actor, pki: OpenSSLPKI
) -> None:
    """Both start on an empty database (nothing to check yet); the first seals a key; the
    second, with another master key, is refused when it would seal one."""
    other = open_desk(dataclasses.replace(settings, master_key=encode_master_key(new_master_key())))
    try:
        new_tenant(desk, operator)
        submit_leaf(desk, operator, pki)
        with unchanged(desk), pytest.raises(VaultLocked) as caught:
            order(other, operator, cn="shop.example.org", urls=["https://shop.example.org"])
        assert desk.vault.active_id in caught.value.message
        assert other.vault.active_id in caught.value.message
    finally:
        other.store.close()
    with desk.store.transaction() as session:
        ids = set(session.scalars(select(PrivateKeyRecord.master_key_id)))
    assert ids == {desk.vault.active_id}


def test_a_failed_rotation_leaves_no_debris(
    desk: Desk, settings: Settings, operator: Actor, pki: OpenSSLPKI
) -> None:
    new_tenant(desk, operator)
    submit_leaf(desk, operator, pki)
    order(desk, operator, cn="shop.example.org", urls=["https://shop.example.org"])
    with desk.store.transaction() as session:  # one stored key altered
        record = session.scalars(select(PrivateKeyRecord).order_by(PrivateKeyRecord.id)).first()
        assert record is not None
        broken = bytearray(record.wrapped_dek)
        broken[-1] ^= 0x01
        session.execute(
            update(PrivateKeyRecord)
            .where(PrivateKeyRecord.id == record.id)
            .values(wrapped_dek=bytes(broken))
        )
    key_before = settings.master_key_file.read_text()
    before = snapshot(desk)
    desk.store.close()
    run = run_module("vault", "rotate", env=_env(settings))
    assert run.exit_code == 2, run.stdout + run.stderr
    assert "vault-locked" in run.stdout + run.stderr
    assert "nothing was rotated" in run.stdout + run.stderr
    assert _files(settings.home) == ["master.key"]
    assert settings.master_key_file.read_text() == key_before
    reopened = open_desk(settings)
    try:
        assert snapshot(reopened) == before
    finally:
        reopened.store.close()


def test_a_rotation_stopped_before_its_file_rename_is_finished_on_start(
    desk: Desk, settings: Settings, operator: Actor, pki: OpenSSLPKI
) -> None:
    new_tenant(desk, operator)
    submit_leaf(desk, operator, pki)
    old = parse_master_key(settings.master_key_file.read_text())
    new = new_master_key()
    write_key_file(settings.home / "master.key.new", new)
    desk.run(operator, d.rotate_master_key, new=Vault(new))  # committed; files not renamed
    desk.store.close()
    opened = open_desk(settings)
    try:
        assert opened.vault.active_id == key_id(new)
        assert parse_master_key(settings.master_key_file.read_text()) == new
        assert _files(settings.home) == ["master.key", f"master.key.old-{key_id(old)}"]
        opened.run(operator, d.export_certificate, url="https://store.test.com", to="pem")
    finally:
        opened.store.close()
