"""The one clock of certdesk, and how instants given by users are read.

Everything else takes ``now`` as an argument, so that windows and expiry can be
tested at any instant. Everything is UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from certdesk.errors import InvalidArgument


def now() -> datetime:
    """The current instant, UTC-aware."""
    return datetime.now(UTC)


def parse_instant(text: str) -> datetime:
    """Read an ISO-8601 date or date-time; without an offset it is taken as UTC.

    ``2027-01-01`` means midnight UTC that day; ``2027-01-01T10:00+02:00`` keeps its offset.
    """
    value = text.strip()
    if value.endswith(("z", "Z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidArgument(
            f"{text!r} is not an ISO-8601 date or time",
            hint="write it like 2027-01-31 or 2027-01-31T10:00:00Z",
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
