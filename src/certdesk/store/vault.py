"""The key vault: private keys encrypted at rest with envelope encryption.

Each private key is encrypted (AES-256-GCM) under its own random data key; the
data key is encrypted (AES-256-GCM) under the master key. The master key lives
outside the database — ``CERTDESK_MASTER_KEY`` or a key file (mode 0600) created
on first run — so a copy of the database alone never yields a private key. The
associated data binds each ciphertext to its public key, so rows cannot be
swapped. Rotating the master key re-encrypts only the data keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import load_der_private_key

from certdesk.errors import InvalidArgument, Unavailable
from certdesk.fixes import Action, fix
from certdesk.pki import PrivateKey, spki_sha256
from certdesk.pki.load import check_key_type

_NONCE = 12


class VaultLocked(Unavailable):
    """The master key at hand cannot open the stored keys."""

    code: ClassVar[str] = "vault-locked"


def key_id(master: bytes) -> str:
    """A public identifier of a master key (it reveals nothing of the key)."""
    return hashlib.sha256(b"certdesk master key id\x00" + master).hexdigest()[:16]


def parse_master_key(text: str) -> bytes:
    """A master key written as base64 (or hex) of 32 random bytes."""
    value = text.strip()
    raw: bytes | None = None
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=False)
    except (binascii.Error, ValueError):
        raw = None
    if raw is None or len(raw) != 32:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = None
    if raw is None or len(raw) != 32:
        raise InvalidArgument(
            "the master key must be 32 random bytes written in base64 (44 characters) or hex",
            hint='make one with: python -c "import secrets,base64;'
            'print(base64.b64encode(secrets.token_bytes(32)).decode())"',
        )
    return raw


def new_master_key() -> bytes:
    return secrets.token_bytes(32)


def encode_master_key(master: bytes) -> str:
    return base64.b64encode(master).decode("ascii")


@dataclass(frozen=True, slots=True)
class Sealed:
    master_key_id: str
    wrapped_dek: bytes
    ciphertext: bytes


class Vault:
    """Seals and opens private keys with the active master key; opens with any known one."""

    def __init__(self, active: bytes, others: Mapping[str, bytes] | None = None) -> None:
        self.active = active
        self.active_id = key_id(active)
        self._keys = {self.active_id: active, **(others or {})}

    def seal(self, key: PrivateKey) -> Sealed:
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        aad = _aad(spki_sha256(key))
        dek = AESGCM.generate_key(bit_length=256)
        return Sealed(
            master_key_id=self.active_id,
            wrapped_dek=_encrypt(self.active, dek, b"dek|" + aad),
            ciphertext=_encrypt(dek, der, aad),
        )

    def open(
        self, master_key_id: str, wrapped_dek: bytes, ciphertext: bytes, spki: str
    ) -> PrivateKey:
        master = self._keys.get(master_key_id)
        if master is None:
            raise VaultLocked(
                f"the private keys are encrypted under master key {master_key_id}, "
                f"but the master key given is {self.active_id}",
                fix=fix(Action.RESTORE_MASTER_KEY, key_id=master_key_id),
            )
        aad = _aad(spki)
        try:
            dek = _decrypt(master, wrapped_dek, b"dek|" + aad)
            der = _decrypt(dek, ciphertext, aad)
        except InvalidTag as exc:
            raise VaultLocked(
                "a stored private key fails its integrity check: the database row was altered",
                hint="restore the database from a backup",
            ) from exc
        # The key was sealed by certdesk and its integrity is proven by AES-GCM bound to its
        # public key: pyca's RSA consistency check (~40-200 ms) would only repeat that.
        key = load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)
        return check_key_type(key)

    def rewrap(self, master_key_id: str, wrapped_dek: bytes, spki: str, new: Vault) -> bytes:
        """The data key re-encrypted under ``new``'s active master key."""
        master = self._keys.get(master_key_id)
        if master is None:
            raise VaultLocked(
                f"a private key is sealed under master key {master_key_id}, which this "
                "certdesk does not have: nothing was rotated",
                fix=fix(Action.ROTATE_MASTER_KEY),
            )
        aad = b"dek|" + _aad(spki)
        try:
            dek = _decrypt(master, wrapped_dek, aad)
        except InvalidTag as exc:
            raise VaultLocked(
                "a stored private key fails its integrity check: nothing was rotated",
                hint="restore the database from a backup",
            ) from exc
        return _encrypt(new.active, dek, aad)

    def knows(self, master_key_id: str) -> bool:
        return master_key_id in self._keys

    def check_sealed(self, sealed: Mapping[str, int]) -> None:
        """Refuse this vault for a database whose keys (``sealed``: count by master key id)
        are not sealed under its active master key, or under keys it does not have.

        Started with another master key, certdesk could open none of the stored keys and
        would seal new ones under the wrong master key; so it does not start at all.
        """
        if not sealed:
            return
        unknown = sorted(i for i in sealed if not self.knows(i))
        if self.active_id in sealed and not unknown:
            return
        total = sum(sealed.values())
        under = ", ".join(f"{i} ({sealed[i]} key(s))" for i in sorted(sealed))
        if len(sealed) == 1:
            [wanted] = sealed
            raise VaultLocked(
                f"the master key given has id {self.active_id}, but the database's {total} "
                f"private key(s) are sealed under master key {wanted}: with this key "
                "certdesk could open none of them and would seal new keys under the wrong "
                "master key, so it stops here",
                fix=fix(Action.RESTORE_MASTER_KEY, key_id=wanted),
            )
        raise VaultLocked(
            f"the database's {total} private key(s) are sealed under several master keys "
            f"({under}) and this certdesk has no key with id {', '.join(unknown)}",
            fix=fix(Action.ROTATE_MASTER_KEY),
        )


def _aad(spki: str) -> bytes:
    return b"certdesk private key|" + spki.encode("ascii")


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], aad)


def load_master_key(configured: str | None, key_file: Path, *, create: bool = True) -> bytes:
    """The master key from the setting, else from ``key_file`` (made, mode 0600, if absent
    and ``create``: only when the database holds no sealed key)."""
    if configured:
        return parse_master_key(configured)
    try:
        return parse_master_key(key_file.read_text())
    except FileNotFoundError:
        if not create:
            raise VaultLocked(f"no master key at {key_file}") from None
    master = new_master_key()
    try:
        write_key_file(key_file, master)
    except FileExistsError:  # another process made it first: use that one
        return parse_master_key(key_file.read_text())
    return master


def write_key_file(path: Path, master: bytes) -> None:
    """Write a master key file atomically with mode 0600, never over an existing one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(encode_master_key(master) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, path)  # fails if the file appeared meanwhile: never replace a key
    finally:
        tmp.unlink()
