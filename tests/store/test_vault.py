"""The key vault: private keys sealed at rest, a wrong or rotated master key, and a scan of
the raw database (SQLite file bytes, every PostgreSQL row) for any private key material."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import MetaData, select, update

from certdesk import desk as d
from certdesk.application.compose import open_desk
from certdesk.cli.hints import word as cli_word
from certdesk.desk import Actor, Desk
from certdesk.errors import CertdeskError
from certdesk.settings import Settings
from certdesk.store.models import PrivateKeyRecord
from certdesk.store.vault import (
    Vault,
    VaultLocked,
    encode_master_key,
    key_id,
    load_master_key,
    new_master_key,
    parse_master_key,
)
from tests.cli.conftest import run_module
from tests.database import unchanged
from tests.flows import new_tenant, order, signed, submit_leaf
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI, run_openssl
from tests.signing import key_needles, pkcs8_der

# The key in clear, asked for explicitly: these tests read it back with openssl.
KEY = {"include_key": True, "clear_key": True}


def _load_key(path: Path) -> object:
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _pkcs8(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _spki(path: Path) -> str:
    return hashlib.sha256(
        run_openssl("pkey", "-in", path, "-pubout", "-outform", "DER")
    ).hexdigest()


@pytest.mark.parametrize("name", ["leaf", "p384"])
def test_seal_then_open_gives_the_same_key(pki: OpenSSLPKI, name: str) -> None:
    path: Path = getattr(pki, f"{name}_key")
    key = _load_key(path)
    vault = Vault(new_master_key())
    sealed = vault.seal(key)  # type: ignore[arg-type]
    assert sealed.master_key_id == vault.active_id
    opened = vault.open(sealed.master_key_id, sealed.wrapped_dek, sealed.ciphertext, _spki(path))
    # openssl's own PKCS#8 DER of the key file is what comes back out.
    assert _pkcs8(opened) == pkcs8_der(path)
    for needle in key_needles(path).values():
        assert needle not in sealed.ciphertext
        assert needle not in sealed.wrapped_dek
    again = vault.seal(key)  # type: ignore[arg-type]
    assert again.ciphertext != sealed.ciphertext  # a fresh data key and nonce each time
    assert again.wrapped_dek != sealed.wrapped_dek


def test_a_wrong_master_key_cannot_open(pki: OpenSSLPKI) -> None:
    sealed = Vault(new_master_key()).seal(_load_key(pki.leaf_key))  # type: ignore[arg-type]
    other = Vault(new_master_key())
    with pytest.raises(VaultLocked) as caught:
        other.open(sealed.master_key_id, sealed.wrapped_dek, sealed.ciphertext, _spki(pki.leaf_key))
    assert caught.value.code == "vault-locked"
    assert sealed.master_key_id in caught.value.message
    assert other.active_id in caught.value.message
    assert caught.value.fix is not None
    assert "CERTDESK_MASTER_KEY" in cli_word(caught.value.fix, options=())
    # Even a vault that believes the other key has the right id cannot decrypt.
    liar = Vault(new_master_key(), {sealed.master_key_id: new_master_key()})
    with pytest.raises(VaultLocked, match="integrity"):
        liar.open(sealed.master_key_id, sealed.wrapped_dek, sealed.ciphertext, _spki(pki.leaf_key))


def test_a_sealed_key_is_bound_to_its_public_key(pki: OpenSSLPKI) -> None:
    vault = Vault(new_master_key())
    sealed = vault.seal(_load_key(pki.leaf_key))  # type: ignore[arg-type]
    with pytest.raises(VaultLocked) as caught:
        vault.open(
            sealed.master_key_id, sealed.wrapped_dek, sealed.ciphertext, _spki(pki.other_key)
        )
    assert caught.value.code == "vault-locked"
    flipped = bytearray(sealed.ciphertext)
    flipped[len(flipped) // 2] ^= 0x01
    with pytest.raises(VaultLocked):
        vault.open(sealed.master_key_id, sealed.wrapped_dek, bytes(flipped), _spki(pki.leaf_key))


def test_key_file_made_on_first_run_with_mode_0600(settings: Settings) -> None:
    assert settings.master_key is None
    opened = open_desk(settings)
    try:
        mode = stat.S_IMODE(settings.master_key_file.stat().st_mode)
        assert mode == 0o600
        assert stat.S_IMODE(settings.home.stat().st_mode) == 0o700
        master = parse_master_key(settings.master_key_file.read_text())
        assert opened.vault.active_id == key_id(master)
        # The next start reads the same key; it is never replaced.
        assert load_master_key(None, settings.master_key_file) == master
        if settings.is_sqlite:
            db_file = Path(settings.database_url.removeprefix("sqlite:///"))
            assert stat.S_IMODE(db_file.stat().st_mode) == 0o600
    finally:
        opened.store.close()


def _records(desk: Desk) -> list[PrivateKeyRecord]:
    with desk.store.transaction() as session:
        return list(session.scalars(select(PrivateKeyRecord).order_by(PrivateKeyRecord.id)))


def _populate(desk: Desk, actor: Actor, pki: OpenSSLPKI, folder: Path) -> None:
    """A tenant with a submitted .pfx, one fulfilled CSR order and one pending."""
    new_tenant(desk, actor)
    submit_leaf(desk, actor, pki)
    done = order(desk, actor, cn="shop.example.org", urls=["https://shop.example.org"])
    desk.run(actor, d.complete_order, data=signed(pki, done, folder).read_bytes())
    order(desk, actor, cn="pending.example.org", key="rsa2048")


def test_wrong_master_key_on_the_desk(
    desk: Desk, settings: Settings, operator: Actor, pki: OpenSSLPKI, tmp_path: Path
) -> None:
    _populate(desk, operator, pki, tmp_path)
    wrong = Settings(
        home=settings.home,
        database_url=settings.database_url,
        ca_bundle=settings.ca_bundle,
        master_key=encode_master_key(new_master_key()),
    )
    # certdesk does not even start with it: it could open none of the keys and would
    # seal new ones under the wrong master key.
    with unchanged(desk), pytest.raises(VaultLocked) as caught:
        open_desk(wrong)
    assert caught.value.code == "vault-locked"
    assert "master key" in caught.value.message
    assert desk.vault.active_id in caught.value.message
    assert key_id(parse_master_key(wrong.master_key or "")) in caught.value.message
    assert caught.value.fix is not None
    assert "CERTDESK_MASTER_KEY" in cli_word(caught.value.fix, options=())
    # With the right key the same export works.
    pem = desk.run(
        operator, d.export_certificate, url="https://store.test.com", to="pem", **KEY
    ).data
    assert run_openssl("pkey", "-outform", "DER", stdin=pem) == run_openssl(
        "pkey", "-in", pki.leaf_key, "-outform", "DER"
    )


def test_swapped_or_altered_ciphertext_fails(
    desk: Desk, operator: Actor, pki: OpenSSLPKI, tmp_path: Path
) -> None:
    _populate(desk, operator, pki, tmp_path)
    rows = _records(desk)
    assert len(rows) == 3
    first, second = rows[0], rows[1]
    with desk.store.transaction() as session:  # swap the sealed blobs of two rows
        for mine, theirs in ((first, second), (second, first)):
            session.execute(
                update(PrivateKeyRecord)
                .where(PrivateKeyRecord.id == mine.id)
                .values(wrapped_dek=theirs.wrapped_dek, ciphertext=theirs.ciphertext)
            )
    for url in ("https://store.test.com", "https://shop.example.org"):
        with pytest.raises(VaultLocked) as caught:
            desk.run(operator, d.export_certificate, url=url, to="pem", **KEY)
        assert caught.value.code == "vault-locked"
        assert "altered" in caught.value.message
    with desk.store.transaction() as session:  # put them back, then flip one bit
        for row in (first, second):
            session.execute(
                update(PrivateKeyRecord)
                .where(PrivateKeyRecord.id == row.id)
                .values(wrapped_dek=row.wrapped_dek, ciphertext=row.ciphertext)
            )
    desk.run(operator, d.export_certificate, url="https://store.test.com", to="pem", **KEY)
    flipped = bytearray(first.ciphertext)
    flipped[-1] ^= 0x80
    with desk.store.transaction() as session:
        session.execute(
            update(PrivateKeyRecord)
            .where(PrivateKeyRecord.id == first.id)
            .values(ciphertext=bytes(flipped))
        )
    with pytest.raises(VaultLocked, match="altered"):
        desk.run(operator, d.export_certificate, url="https://store.test.com", to="pem", **KEY)


def test_rotation_reencrypts_every_key(
    desk: Desk, operator: Actor, pki: OpenSSLPKI, tmp_path: Path
) -> None:
    _populate(desk, operator, pki, tmp_path)
    old = desk.vault
    before = {
        r.id: old.open(r.master_key_id, r.wrapped_dek, r.ciphertext, r.spki_sha256)
        for r in _records(desk)
    }
    new = Vault(new_master_key())
    result = desk.run(operator, d.rotate_master_key, new=new)
    assert (result.old_key_id, result.new_key_id, result.keys) == (old.active_id, new.active_id, 3)
    for record in _records(desk):
        assert record.master_key_id == new.active_id
        key = new.open(
            record.master_key_id, record.wrapped_dek, record.ciphertext, record.spki_sha256
        )
        assert _pkcs8(key) == _pkcs8(before[record.id])
        with pytest.raises(VaultLocked):
            Vault(old.active).open(
                record.master_key_id, record.wrapped_dek, record.ciphertext, record.spki_sha256
            )
    audit = desk.run(operator, d.list_audit)[0]
    assert (audit.action, audit.detail["keys"]) == ("vault.rotate", 3)
    # A reseller may not rotate, and nothing changes when it tries.
    tenant_id = desk.run(operator, d.list_tenants)[0].id
    with unchanged(desk), pytest.raises(CertdeskError) as caught:
        desk.run(Actor("reseller", tenant_id), d.rotate_master_key, new=Vault(new_master_key()))
    assert caught.value.code == "forbidden"


def _cli_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}
    env["CERTDESK_HOME"] = str(settings.home)
    env["CERTDESK_DATABASE_URL"] = settings.database_url
    env["CERTDESK_CA_BUNDLE"] = str(settings.ca_bundle)
    return env


def test_cli_vault_rotate_with_a_key_file(
    desk: Desk, settings: Settings, operator: Actor, pki: OpenSSLPKI, tmp_path: Path
) -> None:
    _populate(desk, operator, pki, tmp_path)
    desk.store.close()
    old_master = parse_master_key(settings.master_key_file.read_text())
    done = run_module("vault", "rotate", env=_cli_env(settings))
    assert done.exit_code == 0, done.stderr
    assert "3 key(s) re-encrypted" in done.stdout
    new_master = parse_master_key(settings.master_key_file.read_text())
    assert new_master != old_master
    assert stat.S_IMODE(settings.master_key_file.stat().st_mode) == 0o600
    kept = settings.home / f"master.key.old-{key_id(old_master)}"
    assert parse_master_key(kept.read_text()) == old_master
    assert not (settings.home / "master.key.new").exists()
    for record in _records(desk):
        assert record.master_key_id == key_id(new_master)
        Vault(new_master).open(
            record.master_key_id, record.wrapped_dek, record.ciphertext, record.spki_sha256
        )
        with pytest.raises(VaultLocked):
            Vault(old_master).open(
                record.master_key_id, record.wrapped_dek, record.ciphertext, record.spki_sha256
            )
    # certdesk started afresh reads the new key file and exports with it.
    password = tmp_path / "pw"
    password.write_text("export-pw\n")
    out = tmp_path / "after.pfx"
    done = run_module(
        "export", "https://shop.example.org", "--to", "pfx", "--out", out,
        "--out-password-file", password, env=_cli_env(settings),
    )  # fmt: skip
    assert done.exit_code == 0, done.stderr
    text = run_openssl("pkcs12", "-in", out, "-nodes", "-passin", "pass:export-pw").decode()
    assert "PRIVATE KEY" in text
    assert "CN = shop.example.org" in text or "CN=shop.example.org" in text


def test_cli_vault_rotate_with_the_key_in_the_environment(
    desk: Desk, settings: Settings, operator: Actor, pki: OpenSSLPKI, tmp_path: Path
) -> None:
    _populate(desk, operator, pki, tmp_path)
    desk.store.close()
    old_master = parse_master_key(settings.master_key_file.read_text())
    key_file = settings.master_key_file.read_bytes()
    env = _cli_env(settings) | {"CERTDESK_MASTER_KEY": encode_master_key(old_master)}
    # Without the new key: refused, naming the option that gives it; nothing changes.
    refused = run_module("vault", "rotate", env=env)
    assert refused.exit_code != 0
    assert "--new-key-env VAR" in refused.stderr + refused.stdout
    assert {r.master_key_id for r in _records(desk)} == {key_id(old_master)}
    new_master = new_master_key()
    env["NEW_MASTER"] = encode_master_key(new_master)
    done = run_module("vault", "rotate", "--new-key-env", "NEW_MASTER", env=env)
    assert done.exit_code == 0, done.stderr
    assert "3 key(s) re-encrypted" in done.stdout
    for record in _records(desk):
        assert record.master_key_id == key_id(new_master)
        Vault(new_master).open(
            record.master_key_id, record.wrapped_dek, record.ciphertext, record.spki_sha256
        )
    # No file dance: the key file is as it was, no pending key is left.
    assert settings.master_key_file.read_bytes() == key_file
    assert not (settings.home / "master.key.new").exists()


# --- the raw database holds no private key material ------------------------------------


def _raw_sqlite(settings: Settings) -> bytes:
    """The bytes of the database file and its WAL/shared-memory files."""
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    files = sorted(path.parent.glob(path.name + "*"))
    assert path in files
    return b"".join(f.read_bytes() for f in files)


def _raw_rows(desk: Desk) -> bytes:
    """Every value of every row of every table, as bytes (binary) and as text."""
    meta = MetaData()
    meta.reflect(desk.store.engine)
    parts: list[bytes] = []
    with desk.store.engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        parts.append(bytes(value))
                    else:
                        parts.append(str(value).encode())
                        parts.append(json.dumps(value, default=str).encode())
    return b"\x00".join(parts)


def _needles(desk: Desk, pki: OpenSSLPKI, folder: Path) -> Iterator[tuple[str, bytes]]:
    """Key material of every stored key: the .pfx's key as openssl has it, and each key
    certdesk made (opened from the vault, then taken apart by openssl)."""
    for name, needle in key_needles(pki.leaf_key).items():
        yield f"leaf:{name}", needle
    for record in _records(desk):
        key = desk.vault.open(
            record.master_key_id, record.wrapped_dek, record.ciphertext, record.spki_sha256
        )
        pem = folder / f"key-{record.id}.pem"
        pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        for name, needle in key_needles(pem).items():
            yield f"key {record.id} ({record.key_type}):{name}", needle


def test_raw_database_holds_no_private_key(
    desk: Desk, settings: Settings, operator: Actor, pki: OpenSSLPKI, tmp_path: Path
) -> None:
    _populate(desk, operator, pki, tmp_path)
    needles = list(_needles(desk, pki, tmp_path))
    assert len({n.split(":")[0] for n, _ in needles}) == 4  # the .pfx key and 3 stored keys
    new = Vault(new_master_key())
    desk.run(operator, d.rotate_master_key, new=new)  # rewritten rows are scanned too
    desk.vault = new
    dumps = {"rows": _raw_rows(desk)}
    if settings.is_sqlite:
        dumps["sqlite files"] = _raw_sqlite(settings)
    desk.store.close()  # the last connection's close checkpoints the WAL into the file
    if settings.is_sqlite:
        dumps["sqlite files, closed"] = _raw_sqlite(settings)
    # The scan sees what is stored: the certificate (public) and the sealed blobs are there.
    record = _records(desk)[0]
    for where, blob in dumps.items():
        assert pki.leaf_crt.read_text().splitlines()[1].encode() in blob, where
        assert record.ciphertext in blob, where
        leaks = [name for name, needle in needles if needle in blob]
        assert leaks == [], f"private key material in the {where}: {leaks}"
        assert PFX_PASSWORD.encode() not in blob, where
