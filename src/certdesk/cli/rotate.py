"""The file dance of a master-key rotation, kept crash-safe.

1. The new key is written to ``master.key.new`` (mode 0600) before anything changes.
2. One transaction re-wraps every data key under it.
3. ``master.key`` is moved aside to ``master.key.old-<key id>`` and the new one takes
   its place. A crash between 2 and 3 is healed on the next start: the vault also
   reads ``master.key.new``.
"""

from __future__ import annotations

import os

from certdesk.desk import Actor, Desk, RotateResult, rotate_master_key
from certdesk.errors import InvalidArgument
from certdesk.service import pending_key_file
from certdesk.settings import Settings
from certdesk.store.vault import Vault, key_id, new_master_key, parse_master_key, write_key_file


def rotate(settings: Settings, desk: Desk, actor: Actor, new_key_env: str | None) -> RotateResult:
    if settings.master_key is not None:
        if new_key_env is None or not os.environ.get(new_key_env):
            raise InvalidArgument(
                "the master key comes from CERTDESK_MASTER_KEY: give the new one with "
                "--new-key-env VAR",
                hint="afterwards set CERTDESK_MASTER_KEY to the new key everywhere certdesk runs",
            )
        new = Vault(parse_master_key(os.environ[new_key_env]))
        with desk.context(actor) as ctx:
            return rotate_master_key(ctx, new=new)
    pending = pending_key_file(settings)
    if pending.exists():
        master = parse_master_key(pending.read_text())
    else:
        master = new_master_key()
        write_key_file(pending, master)
    new = Vault(master)
    with desk.context(actor) as ctx:
        result = rotate_master_key(ctx, new=new)
    current = settings.master_key_file
    old_id = key_id(parse_master_key(current.read_text())) if current.exists() else "none"
    if current.exists():
        os.replace(current, current.with_name(f"master.key.old-{old_id}"))
    os.replace(pending, current)
    desk.vault = new
    return result
