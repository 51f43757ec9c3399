"""Settings: from ``CERTDESK_*`` environment variables, else ``certdesk.toml`` in the data folder.

Settings are read once, at the edge (the CLI, the server) and passed down; nothing
below reads the environment by itself.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certdesk.addresses import DEFAULT_SENDER, email_address, sender_address
from certdesk.errors import InvalidArgument

CONFIG_FILE = "certdesk.toml"


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    database_url: str
    master_key: str | None = None  # base64 of 32 bytes; None: the key file in ``home``
    ca_bundle: Path | None = None
    max_upload_bytes: int = 1024 * 1024
    max_pkcs12_iterations: int = 1_000_000  # key-derivation iterations a .pfx may ask for
    expires_soon_days: int = 30
    # Monitoring and reports (the seed's values are the defaults).
    operator_emails: tuple[str, ...] = ()
    smtp_url: str | None = None  # None: .eml files in the outbox folder
    mail_from: str = DEFAULT_SENDER
    report_timezone: str = "+02:00"  # a fixed offset or an IANA zone name
    daily_time: str = "10:00"
    daily_window_minutes: int = 30
    daily_days: int = 3
    monthly_day: int = 1
    monthly_time: str = "00:00"
    monthly_window_minutes: int = 60
    monthly_min_days: int = 30
    monthly_max_days: int = 60
    send_empty_reports: bool = False
    probe_concurrency: int = 100
    probe_timeout: float = 10.0
    probe_allow_private: bool = False
    # How often ``certdesk serve`` probes every monitored URL (a sweep), in seconds.
    probe_interval: float = 6 * 3600.0
    # How often ``certdesk serve``'s job engine ticks (looks for due work), in seconds.
    scheduler_interval: float = 60.0
    # How long ``certdesk serve``'s on-demand workers hold a request ("probe now", "install
    # now") without renewing it before another process takes it over, in seconds.
    work_lease: float = 120.0
    # Reading uploaded files in ``certdesk serve`` (certdesk.application.readpool).
    intake_workers: int = 2
    intake_cpu_seconds: int = 10
    intake_timeout: float = 30.0
    intake_per_tenant: int = 2
    intake_queue_seconds: float = 30.0
    # Domains must be public DNS names; names under these suffixes are accepted too.
    lab_suffixes: tuple[str, ...] = ()
    # Reverse proxies whose X-Forwarded-For/-Proto count (addresses or networks).
    trusted_proxies: tuple[str, ...] = ()
    # Deploy targets by name: (kind, options); ``deploy_default`` is used for every domain
    # that names none. No target: certificates are stored and bound, not installed.
    deploy_targets: tuple[tuple[str, str, tuple[tuple[str, Any], ...]], ...] = ()
    deploy_default: str | None = None
    # Platform-managed certificates over ACME (certdesk.acme); no directory: none issued.
    acme_directory: str | None = None
    acme_email: str | None = None
    acme_ca_bundle: Path | None = None  # trust for the ACME server's HTTPS (a private CA)
    acme_eab_kid: str | None = None  # External Account Binding, for CAs that ask for it
    acme_eab_hmac_key: str | None = None
    acme_key_type: str = "p256"
    # The resolvers the DNS check asks ("ADDRESS" or "ADDRESS:PORT"); none: the system's.
    dns_servers: tuple[str, ...] = ()
    # The platform's addresses and CNAME targets: a managed domain must point at one.
    platform_targets: tuple[str, ...] = ()
    # Ownership of resellers' domains (desk.claims): ``dns`` (a reseller's new name is a
    # pending claim until DNS shows its token or that it points at the platform), ``off``
    # (a name is the first tenant's to add it), ``auto``: ``dns`` when
    # ``platform_targets`` is set, else ``off``.
    domain_verification: str = "auto"

    @property
    def verifies_domains(self) -> bool:
        """Whether resellers' new names wait for their ownership to be shown in DNS."""
        if self.domain_verification == "auto":
            return bool(self.platform_targets)
        return self.domain_verification == "dns"

    def deploy_target(self, name: str) -> tuple[str, dict[str, Any]] | None:
        """``(kind, options)`` of the target called ``name``."""
        for target, kind, options in self.deploy_targets:
            if target == name:
                return kind, dict(options)
        return None

    @property
    def outbox(self) -> Path:
        return self.home / "outbox"

    @property
    def master_key_file(self) -> Path:
        return self.home / "master.key"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def default_home(env: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME/certdesk``, else ``~/.local/share/certdesk``."""
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "certdesk"


def load_settings(home: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings for the data folder ``home`` (or ``CERTDESK_HOME``, or the default)."""
    env = os.environ if env is None else env
    folder = home or (Path(env["CERTDESK_HOME"]) if env.get("CERTDESK_HOME") else None)
    folder = (folder or default_home(env)).expanduser()
    file_values = _read_config(folder / CONFIG_FILE)

    def get(name: str) -> Any:
        value = env.get(f"CERTDESK_{name.upper()}")
        return value if value not in (None, "") else file_values.get(name)

    url = get("database_url") or f"sqlite:///{folder / 'certdesk.db'}"
    bundle = get("ca_bundle")
    acme_bundle = get("acme_ca_bundle")
    return Settings(
        home=folder,
        database_url=normalise_database_url(str(url)),
        master_key=get("master_key"),
        ca_bundle=Path(bundle).expanduser() if bundle else None,
        max_upload_bytes=_int(get("max_upload_bytes"), 1024 * 1024, "max_upload_bytes"),
        max_pkcs12_iterations=_int(
            get("max_pkcs12_iterations"), 1_000_000, "max_pkcs12_iterations"
        ),
        expires_soon_days=_int(get("expires_soon_days"), 30, "expires_soon_days"),
        operator_emails=tuple(
            email_address(e, what="an operator e-mail address (CERTDESK_OPERATOR_EMAILS)")
            for e in _list(get("operator_emails"))
        ),
        smtp_url=get("smtp_url") or None,
        mail_from=sender_address(str(get("mail_from") or DEFAULT_SENDER)),
        report_timezone=str(get("report_timezone") or "+02:00"),
        daily_time=str(get("daily_time") or "10:00"),
        daily_window_minutes=_int(get("daily_window_minutes"), 30, "daily_window_minutes"),
        daily_days=_int(get("daily_days"), 3, "daily_days"),
        monthly_day=_int(get("monthly_day"), 1, "monthly_day"),
        monthly_time=str(get("monthly_time") or "00:00"),
        monthly_window_minutes=_int(get("monthly_window_minutes"), 60, "monthly_window_minutes"),
        monthly_min_days=_int(get("monthly_min_days"), 30, "monthly_min_days"),
        monthly_max_days=_int(get("monthly_max_days"), 60, "monthly_max_days"),
        send_empty_reports=_bool(get("send_empty_reports"), False, "send_empty_reports"),
        probe_concurrency=_int(get("probe_concurrency"), 100, "probe_concurrency"),
        probe_timeout=float(get("probe_timeout") or 10.0),
        probe_allow_private=_bool(get("probe_allow_private"), False, "probe_allow_private"),
        probe_interval=_duration(get("probe_interval"), 6 * 3600.0, "probe_interval"),
        scheduler_interval=_duration(get("scheduler_interval"), 60.0, "scheduler_interval"),
        work_lease=_duration(get("work_lease"), 120.0, "work_lease"),
        intake_workers=_positive(get("intake_workers"), 2, "intake_workers"),
        intake_cpu_seconds=_positive(get("intake_cpu_seconds"), 10, "intake_cpu_seconds"),
        intake_timeout=_seconds(get("intake_timeout"), 30.0, "intake_timeout"),
        intake_per_tenant=_positive(get("intake_per_tenant"), 2, "intake_per_tenant"),
        intake_queue_seconds=_seconds(get("intake_queue_seconds"), 30.0, "intake_queue_seconds"),
        trusted_proxies=_list(get("trusted_proxies")),
        lab_suffixes=tuple(s.strip(".").lower() for s in _list(get("lab_suffixes"))),
        acme_directory=get("acme_directory") or None,
        acme_email=(
            email_address(str(get("acme_email")), what="the ACME contact (CERTDESK_ACME_EMAIL)")
            if get("acme_email")
            else None
        ),
        acme_ca_bundle=Path(acme_bundle).expanduser() if acme_bundle else None,
        acme_eab_kid=get("acme_eab_kid") or None,
        acme_eab_hmac_key=get("acme_eab_hmac_key") or None,
        acme_key_type=str(get("acme_key_type") or "p256"),
        dns_servers=_list(get("dns_servers")),
        platform_targets=tuple(t.strip(".").lower() for t in _list(get("platform_targets"))),
        domain_verification=_choice(
            get("domain_verification"), "auto", "domain_verification", ("auto", "dns", "off")
        ),
        **_deploy(env, file_values.get("deploy")),
    )


def normalise_database_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if not url.startswith(("sqlite", "postgresql+psycopg")):
        raise InvalidArgument(
            f"unsupported database URL scheme in {url.split('://')[0]!r}",
            hint="use sqlite:///PATH or postgresql://USER@HOST/DB",
        )
    return url


def _read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgument(f"{path} is not valid TOML: {exc}") from exc


def _deploy(env: Mapping[str, str], section: Any) -> dict[str, Any]:
    """Deploy targets from ``[deploy]`` in certdesk.toml, or CERTDESK_DEPLOY_TARGET/_OPTIONS.

    ``[deploy] target = "nginx"`` with ``[deploy.options]`` names one default target;
    ``[deploy.targets.NAME] kind = "nginx" ...`` names several, ``[deploy] default = NAME``.
    """
    targets: dict[str, tuple[str, dict[str, Any]]] = {}
    default: str | None = None
    if isinstance(section, dict):
        for name, table in (section.get("targets") or {}).items():
            if not isinstance(table, dict) or "kind" not in table:
                raise InvalidArgument(f'[deploy.targets.{name}] needs kind = "files"|…')
            options = {k: v for k, v in table.items() if k != "kind"}
            targets[str(name)] = (str(table["kind"]), options)
        if section.get("target"):
            targets["default"] = (str(section["target"]), dict(section.get("options") or {}))
            default = "default"
        default = str(section["default"]) if section.get("default") else default
    if env.get("CERTDESK_DEPLOY_TARGET"):
        try:
            options = json.loads(env.get("CERTDESK_DEPLOY_OPTIONS") or "{}")
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"CERTDESK_DEPLOY_OPTIONS is not JSON: {exc}") from exc
        if not isinstance(options, dict):
            raise InvalidArgument("CERTDESK_DEPLOY_OPTIONS must be a JSON object")
        targets["default"] = (env["CERTDESK_DEPLOY_TARGET"], options)
        default = "default"
    if default is not None and default not in targets:
        raise InvalidArgument(f"the default deploy target {default!r} is not defined")
    return {
        "deploy_targets": tuple(
            (name, kind, tuple(sorted(options.items())))
            for name, (kind, options) in targets.items()
        ),
        "deploy_default": default,
    }


def _list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _bool(value: Any, default: bool, name: str) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InvalidArgument(f"the setting {name} must be true or false, not {value!r}")


def _choice(value: Any, default: str, name: str, choices: tuple[str, ...]) -> str:
    if value is None:
        return default
    text = str(value).strip().lower()
    if text not in choices:
        raise InvalidArgument(
            f"the setting {name} must be one of {', '.join(choices)}, not {value!r}"
        )
    return text


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: Any, default: float, name: str) -> float:
    """Seconds, or a number with a unit: ``90s``, ``30m``, ``6h``, ``1d``."""
    if value is None:
        return default
    text = str(value).strip().lower()
    factor = _UNITS.get(text[-1:])
    try:
        number = float(text[:-1] if factor else text) * (factor or 1)
    except ValueError as exc:
        raise InvalidArgument(
            f"the setting {name} must be a duration such as 6h, 30m or 3600 (seconds), "
            f"not {value!r}"
        ) from exc
    if not number > 0 or math.isinf(number):
        raise InvalidArgument(f"the setting {name} must be more than 0 seconds, not {value!r}")
    return number


def _int(value: Any, default: int, name: str) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"the setting {name} must be a whole number, not {value!r}") from exc


def _positive(value: Any, default: int, name: str) -> int:
    number = _int(value, default, name)
    if number < 1:
        raise InvalidArgument(f"the setting {name} must be 1 or more, not {value!r}")
    return number


def _seconds(value: Any, default: float, name: str) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(
            f"the setting {name} must be a number of seconds, not {value!r}"
        ) from exc
    if not number > 0 or math.isinf(number):
        raise InvalidArgument(f"the setting {name} must be more than 0 seconds, not {value!r}")
    return number
