"""The file dance of a master-key rotation, kept crash-safe.

1. The new key is written to ``master.key.new`` (mode 0600) before anything changes.
2. One transaction re-wraps every data key under it.
3. ``master.key`` is kept as ``master.key.old-<key id>`` and the new one takes its
   place. A crash between 2 and 3 is healed on the next start: the database's keys are
   sealed under ``master.key.new``, so certdesk finishes step 3 itself.

If step 2 fails (a key sealed under a master key certdesk does not have, the database
unavailable), nothing changed and ``master.key.new`` is removed: no debris.
"""

from __future__ import annotations

import os

from certdesk.desk import Actor, Desk, RotateResult, rotate_master_key
from certdesk.errors import InvalidArgument
from certdesk.service import finish_rotation, pending_key_file
from certdesk.settings import Settings
from certdesk.store.vault import Vault, new_master_key, parse_master_key, write_key_file


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
    try:
        with desk.context(actor) as ctx:
            result = rotate_master_key(ctx, new=new)
    except BaseException:
        # Rolled back: no key is sealed under the new master key; leave nothing behind.
        pending.unlink(missing_ok=True)
        raise
    finish_rotation(settings)
    desk.vault = new
    return result
