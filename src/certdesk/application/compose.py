"""Putting certdesk together from its settings: the store, the vault, the trust policy.

This is the one place that turns ``Settings`` into a working ``Desk``; the CLI and
the server call it and hand the desk to the use cases.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from certdesk.acme import AcmeConfig, wanted_record
from certdesk.application.claims import ClaimsConfig
from certdesk.application.installer import InstallConfig, Installer
from certdesk.application.managed import ManagedConfig
from certdesk.application.probing import ProbeConfig
from certdesk.application.readpool import Limits
from certdesk.desk.context import Actor, Desk, Policy
from certdesk.desk.vaultops import RotateResult, rotate_master_key
from certdesk.errors import InvalidArgument
from certdesk.notify import mailer_for
from certdesk.reports import KindsConfig, ReportKind, parse_timezone, report_kinds
from certdesk.scheduler import ReportConfig
from certdesk.settings import Settings
from certdesk.store.db import Store
from certdesk.store.models import PrivateKeyRecord
from certdesk.store.vault import (
    Vault,
    VaultLocked,
    key_id,
    load_master_key,
    new_master_key,
    parse_master_key,
    write_key_file,
)
from certdesk.trust import is_public_suffix, registrable_domain, trust_roots


def pending_key_file(settings: Settings) -> Path:
    """Where a rotation writes the new master key before it is committed."""
    return settings.master_key_file.with_name("master.key.new")


def finish_rotation(settings: Settings) -> None:
    """The last step of ``vault rotate``, once its transaction committed: the old
    ``master.key`` kept as ``master.key.old-<id>`` and the new key (``master.key.new``)
    put in its place atomically, so that there is always a ``master.key``."""
    pending = pending_key_file(settings)
    current = settings.master_key_file
    try:
        new = parse_master_key(pending.read_text())
    except FileNotFoundError:
        return  # finished already (by another process)
    if current.exists():
        old = parse_master_key(current.read_text())
        if old != new:
            with contextlib.suppress(FileExistsError):
                os.link(current, current.with_name(f"master.key.old-{key_id(old)}"))
    with contextlib.suppress(FileNotFoundError):
        os.replace(pending, current)


def rotate_vault(
    settings: Settings, desk: Desk, actor: Actor, new_master: str | None = None
) -> RotateResult:
    """Rotate the master key, crash-safe; every stored data key is re-wrapped under it.

    With the master key in ``CERTDESK_MASTER_KEY``, ``new_master`` is the new key, as
    base64 or hex of 32 bytes (the caller then sets the variable to it); re-wrapping is
    the whole rotation. With a key file, the file dance:

    1. The new key is written to ``master.key.new`` (mode 0600) before anything changes
       (a pending one, left by a rotation that stopped, is taken up again).
    2. One transaction re-wraps every data key under it.
    3. ``master.key`` is kept as ``master.key.old-<key id>`` and the new one takes its
       place (:func:`finish_rotation`). A crash between 2 and 3 is healed on the next
       start: the database's keys are sealed under ``master.key.new``, so
       :func:`open_vault` finishes step 3 itself.

    If step 2 fails (a key sealed under a master key certdesk does not have, the database
    unavailable), nothing changed and ``master.key.new`` is removed: no debris.
    """
    if settings.master_key is not None:
        if new_master is None:
            raise InvalidArgument(
                "the master key comes from CERTDESK_MASTER_KEY: the new key must be given",
                hint="afterwards set CERTDESK_MASTER_KEY to the new key everywhere certdesk runs",
            )
        return desk.run(actor, rotate_master_key, new=Vault(parse_master_key(new_master)))
    pending = pending_key_file(settings)
    if pending.exists():
        master = parse_master_key(pending.read_text())
    else:
        master = new_master_key()
        write_key_file(pending, master)
    new = Vault(master)
    try:
        result = desk.run(actor, rotate_master_key, new=new)
    except BaseException:
        # Rolled back: no key is sealed under the new master key; leave nothing behind.
        pending.unlink(missing_ok=True)
        raise
    finish_rotation(settings)
    desk.vault = new
    return result


def sealed_key_ids(store: Store) -> dict[str, int]:
    """How many stored private keys are sealed under each master key id."""
    with store.transaction(readonly=True) as session:
        rows = session.execute(
            select(PrivateKeyRecord.master_key_id, func.count()).group_by(
                PrivateKeyRecord.master_key_id
            )
        )
        return {str(i): int(n) for i, n in rows}


def open_vault(settings: Settings, sealed: Mapping[str, int] | None = None) -> Vault:
    """The vault with the configured master key, plus a rotation's new key if one is pending.

    ``sealed`` (count of stored keys by master key id) is checked: certdesk never starts
    with a master key other than the one its keys are sealed under, and never makes a new
    master key while sealed keys exist.
    """
    sealed = dict(sealed or {})
    pending = pending_key_file(settings)
    others: dict[str, bytes] = {}
    if pending.exists():
        new = parse_master_key(pending.read_text())
        others[key_id(new)] = new
    file_mode = settings.master_key is None
    if file_mode and others and set(sealed) <= set(others):
        # A rotation stopped after committing and before renaming its key file.
        if settings.master_key_file.exists() and sealed:
            finish_rotation(settings)
        if not settings.master_key_file.exists():
            vault = Vault(next(iter(others.values())))
            vault.check_sealed(sealed)
            return vault
    if file_mode and sealed and not settings.master_key_file.exists():
        raise VaultLocked(
            f"the database holds {sum(sealed.values())} private key(s) sealed under master "
            f"key {', '.join(sorted(sealed))}, but there is no master key: "
            f"{settings.master_key_file} is missing and CERTDESK_MASTER_KEY is not set; "
            "certdesk does not make a new master key while sealed keys exist",
            hint=f"put the master.key file back from your backup (into {settings.home}) or "
            "set CERTDESK_MASTER_KEY to that key",
        )
    active = load_master_key(settings.master_key, settings.master_key_file, create=not sealed)
    vault = Vault(active, others)
    vault.check_sealed(sealed)
    return vault


def policy_for(settings: Settings) -> Policy:
    return Policy(
        roots=trust_roots(settings.ca_bundle),
        is_public_suffix=is_public_suffix,
        registrable_domain=registrable_domain,
        lab_suffixes=settings.lab_suffixes,
        expires_soon_days=settings.expires_soon_days,
        max_upload_bytes=settings.max_upload_bytes,
        max_pkcs12_iterations=settings.max_pkcs12_iterations,
        installs=settings.deploy_default is not None,
        claims=settings.verifies_domains,
        pointing=wanted_record(settings.platform_targets),
    )


log = logging.getLogger("certdesk.application.compose")
_WARNED: set[Path] = set()


def exposed_folder(home: Path) -> str | None:
    """A warning when the data folder lets other users of the machine in, else None."""
    try:
        mode = stat.S_IMODE(home.stat().st_mode)
    except OSError:
        return None
    if not mode & 0o077:
        return None
    return (
        f"the data folder {home} is open to other users of this machine (mode {mode:04o}); "
        f"it holds the database and the master key: make it private with 'chmod 700 {home}'"
    )


def open_desk(settings: Settings) -> Desk:
    """Open the database (migrating it), the vault and the policy. A data folder open to
    other users is warned about once per process (a log warning: on stderr from the CLI)."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    warning = exposed_folder(settings.home)
    if warning is not None and settings.home not in _WARNED:
        _WARNED.add(settings.home)
        log.warning(warning)
    store = Store.open(settings.database_url)
    try:
        vault = open_vault(settings, sealed_key_ids(store))
    except BaseException:
        store.close()
        raise
    return Desk(store=store, vault=vault, policy=policy_for(settings))


def kinds_config(settings: Settings) -> KindsConfig:
    """When each report kind is due and what it lists, from ``settings``."""
    return KindsConfig(
        tz=parse_timezone(settings.report_timezone),
        daily_time=settings.daily_time,
        daily_window_minutes=settings.daily_window_minutes,
        daily_days=settings.daily_days,
        monthly_day=settings.monthly_day,
        monthly_time=settings.monthly_time,
        monthly_window_minutes=settings.monthly_window_minutes,
        monthly_min_days=settings.monthly_min_days,
        monthly_max_days=settings.monthly_max_days,
    )


def report_config(
    settings: Settings,
    *,
    lease: timedelta | None = None,
    kinds: Sequence[ReportKind] | None = None,
) -> ReportConfig:
    """What the report jobs take of ``settings``; ``kinds`` default to ``report_kinds``."""
    return ReportConfig(
        tz=parse_timezone(settings.report_timezone),
        kinds=tuple(kinds) if kinds is not None else report_kinds(kinds_config(settings)),
        operator_emails=settings.operator_emails,
        mail_from=settings.mail_from,
        send_empty=settings.send_empty_reports,
        lease=lease or timedelta(minutes=10),
    )


def reader_limits(settings: Settings) -> Limits:
    """The limits of the file readers (``application.readpool``), from ``settings``."""
    return Limits(
        workers=settings.intake_workers,
        cpu_seconds=settings.intake_cpu_seconds,
        timeout=settings.intake_timeout,
        per_tenant=settings.intake_per_tenant,
        queue_seconds=settings.intake_queue_seconds,
    )


def managed_config(settings: Settings) -> ManagedConfig:
    """What issuing takes of ``settings``; refused with the setting to give if one that
    ordering needs is absent."""
    if not settings.acme_directory:
        raise InvalidArgument(
            "no ACME directory is configured: platform-managed certificates cannot be issued",
            hint="set CERTDESK_ACME_DIRECTORY (and CERTDESK_ACME_EMAIL) for the platform",
        )
    if not settings.platform_targets:
        raise InvalidArgument(
            "the platform's addresses are not configured: certdesk cannot tell whether a "
            "managed domain points at the platform",
            hint="set CERTDESK_PLATFORM_TARGETS to the platform's CNAME targets and "
            "addresses, e.g. edge.platform.example,203.0.113.10",
        )
    return ManagedConfig(
        acme=AcmeConfig(
            directory=settings.acme_directory,
            email=settings.acme_email,
            ca_bundle=settings.acme_ca_bundle,
            eab_kid=settings.acme_eab_kid,
            eab_hmac_key=settings.acme_eab_hmac_key,
        ),
        platform_targets=settings.platform_targets,
        dns_servers=settings.dns_servers,
        key_type=settings.acme_key_type,
    )


def claims_config(settings: Settings) -> ClaimsConfig:
    """What checking ownership claims in DNS takes of ``settings``."""
    return ClaimsConfig(
        dns_servers=settings.dns_servers, platform_targets=settings.platform_targets
    )


def probe_config(settings: Settings) -> ProbeConfig:
    """What probing takes of ``settings``."""
    return ProbeConfig(
        concurrency=settings.probe_concurrency,
        timeout=settings.probe_timeout,
        allow_private=settings.probe_allow_private,
        interval=settings.probe_interval,
    )


def install_config(settings: Settings) -> InstallConfig:
    """What installing takes of ``settings``."""
    return InstallConfig(
        targets={name: (kind, dict(options)) for name, kind, options in settings.deploy_targets},
        default=settings.deploy_default,
        mail_from=settings.mail_from,
        operator_emails=settings.operator_emails,
    )


def open_installer(settings: Settings, desk: Desk) -> Installer:
    """The installer of ``desk``'s certificates on the configured deploy targets."""
    return Installer(desk, install_config(settings), mailer_for(settings.smtp_url, settings.outbox))
