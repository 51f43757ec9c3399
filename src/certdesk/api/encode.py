"""Turning the desk's frozen dataclasses into JSON: ISO-8601 UTC times, enums as values."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from typing import Any

from certdesk.pki import iso_utc


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value
