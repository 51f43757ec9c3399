"""Bounds of the numbers the API and the portal take: what the database can hold, checked
before a route runs, so that a number out of range is a 400 (``invalid-argument``), not a 500."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

# Offsets are bound as 64-bit integers (SQLite's INTEGER, PostgreSQL's BIGINT); a larger
# number cannot be sent to the database at all.
MAX_INT64 = 2**63 - 1
# Ids are INTEGER columns: 32 bits on PostgreSQL, which refuses a larger number outright.
MAX_ID = 2**31 - 1

Id = Annotated[int, Path(ge=1, le=MAX_ID, description="The object's id.")]

__all__ = ["MAX_ID", "MAX_INT64", "Id"]
