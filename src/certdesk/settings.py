"""Settings: from ``CERTDESK_*`` environment variables, else ``certdesk.toml`` in the data folder.

Settings are read once, at the edge (the CLI, the server) and passed down; nothing
below reads the environment by itself.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certdesk.errors import InvalidArgument

CONFIG_FILE = "certdesk.toml"


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    database_url: str
    master_key: str | None = None  # base64 of 32 bytes; None: the key file in ``home``
    ca_bundle: Path | None = None
    max_upload_bytes: int = 1024 * 1024
    expires_soon_days: int = 30

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
    return Settings(
        home=folder,
        database_url=normalise_database_url(str(url)),
        master_key=get("master_key"),
        ca_bundle=Path(bundle).expanduser() if bundle else None,
        max_upload_bytes=_int(get("max_upload_bytes"), 1024 * 1024, "max_upload_bytes"),
        expires_soon_days=_int(get("expires_soon_days"), 30, "expires_soon_days"),
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


def _int(value: Any, default: int, name: str) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"the setting {name} must be a whole number, not {value!r}") from exc
