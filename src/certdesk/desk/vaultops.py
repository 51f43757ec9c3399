"""Rotating the vault's master key: every data key re-encrypted, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from certdesk.desk.context import Ctx, Forbidden
from certdesk.store.models import PrivateKeyRecord
from certdesk.store.vault import Vault


@dataclass(frozen=True, slots=True)
class RotateResult:
    old_key_id: str
    new_key_id: str
    keys: int


def rotate_master_key(ctx: Ctx, *, new: Vault) -> RotateResult:
    """Re-wrap every stored data key under ``new``'s master key (operators only)."""
    if not ctx.actor.is_operator:
        raise Forbidden("rotating the master key is for the platform's operators")
    count = 0
    for record in ctx.session.scalars(select(PrivateKeyRecord).with_for_update()):
        if record.master_key_id == new.active_id:
            continue
        record.wrapped_dek = ctx.vault.rewrap(
            record.master_key_id, record.wrapped_dek, record.spki_sha256, new
        )
        record.master_key_id = new.active_id
        count += 1
    ctx.audit(
        "vault.rotate",
        "vault",
        new.active_id,
        None,
        old=ctx.vault.active_id,
        new=new.active_id,
        keys=count,
    )
    return RotateResult(ctx.vault.active_id, new.active_id, count)
