"""Reading a target's options: plain values from the settings, checked once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from certdesk.errors import InvalidArgument


class Options:
    """The options of one target; ``done()`` refuses any that was not read."""

    def __init__(self, target: str, options: Mapping[str, Any] | None) -> None:
        self.target = target
        self._values = dict(options or {})
        self._read: set[str] = set()

    def _get(self, key: str, required: bool) -> Any:
        self._read.add(key)
        value = self._values.get(key)
        if value is None and required:
            raise InvalidArgument(
                f"the {self.target} deploy target needs the option {key!r}",
                hint=f"set deploy option {key} for the {self.target} target",
            )
        return value

    def path(self, key: str) -> Path:
        value = self._get(key, True)
        if not isinstance(value, str | Path) or not str(value):
            raise self._wrong(key, "a path")
        return Path(value).absolute()

    def optional_path(self, key: str) -> Path | None:
        return self.path(key) if self._get(key, False) is not None else None

    def text(self, key: str, default: str) -> str:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._wrong(key, "text")
        return value

    def secret(self, key: str) -> bytes:
        value = self._get(key, True)
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, bytes):
            return value
        raise self._wrong(key, "text")

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._wrong(key, "true or false")
        return value

    def number(self, key: str, default: float) -> float:
        value = self._get(key, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self._wrong(key, "a positive number")
        return float(value)

    def words(self, key: str, default: Sequence[str]) -> tuple[str, ...]:
        """A list of strings; a single string is a list of one."""
        value = self._get(key, False)
        if value is None:
            return tuple(default)
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise self._wrong(key, "a list of strings")

    def command(self, key: str) -> tuple[str, ...] | None:
        value = self._get(key, False)
        if value is None:
            return None
        if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise self._wrong(key, "a command as a list of strings")

    def address(self, key: str) -> tuple[str, int] | None:
        """``"host:port"``, ``"[v6]:port"`` or a ``(host, port)`` pair."""
        value = self._get(key, False)
        if value is None:
            return None
        if isinstance(value, str):
            host, sep, port = value.rpartition(":")
            host = host.removeprefix("[").removesuffix("]")
            if sep and host and port.isdigit():
                value = (host, int(port))
        if (
            isinstance(value, list | tuple)
            and len(value) == 2
            and isinstance(value[0], str)
            and isinstance(value[1], int)
            and 0 < value[1] < 65536
        ):
            return (value[0], value[1])
        raise self._wrong(key, "an address as host:port")

    def done(self) -> None:
        unknown = sorted(set(self._values) - self._read)
        if unknown:
            raise InvalidArgument(
                f"unknown option(s) for the {self.target} deploy target: {', '.join(unknown)}",
                hint="check the spelling of the deploy options in the settings",
            )

    def _wrong(self, key: str, what: str) -> InvalidArgument:
        return InvalidArgument(f"the {self.target} deploy option {key!r} must be {what}")
