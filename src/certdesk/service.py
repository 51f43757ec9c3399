"""Putting certdesk together from its settings: the store, the vault, the trust policy.

This is the one place that turns ``Settings`` into a working ``Desk``; the CLI and
the server call it and hand the desk to the use cases.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from certdesk.desk.context import Desk, Policy
from certdesk.settings import Settings
from certdesk.store.db import Store
from certdesk.store.vault import Vault, key_id, load_master_key, parse_master_key
from certdesk.trust import is_public_suffix, trust_roots

if TYPE_CHECKING:
    from certdesk.installer import Installer


def pending_key_file(settings: Settings) -> Path:
    """Where a rotation writes the new master key before it is committed."""
    return settings.master_key_file.with_name("master.key.new")


def open_vault(settings: Settings) -> Vault:
    """The vault with the configured master key, plus a rotation's new key if one is pending."""
    pending = pending_key_file(settings)
    others: dict[str, bytes] = {}
    if pending.exists():
        new = parse_master_key(pending.read_text())
        others[key_id(new)] = new
    if settings.master_key is None and not settings.master_key_file.exists() and others:
        # A rotation stopped after committing and before renaming its key file.
        new = next(iter(others.values()))
        return Vault(new)
    active = load_master_key(settings.master_key, settings.master_key_file)
    return Vault(active, others)


def policy_for(settings: Settings) -> Policy:
    return Policy(
        roots=trust_roots(settings.ca_bundle),
        is_public_suffix=is_public_suffix,
        expires_soon_days=settings.expires_soon_days,
        max_upload_bytes=settings.max_upload_bytes,
        max_pkcs12_iterations=settings.max_pkcs12_iterations,
        installs=settings.deploy_default is not None,
    )


def open_desk(settings: Settings) -> Desk:
    """Open the database (migrating it), the vault and the policy."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = Store.open(settings)
    return Desk(store=store, vault=open_vault(settings), policy=policy_for(settings))


def open_installer(settings: Settings, desk: Desk) -> Installer:
    """The installer of ``desk``'s certificates on the configured deploy targets."""
    from certdesk.installer import Installer
    from certdesk.notify import mailer_for

    return Installer(desk, settings, mailer_for(settings.smtp_url, settings.outbox))
