"""The one clock of certdesk, and how instants given by users are read.

Everything else takes ``now`` as an argument, so that windows and expiry can be
tested at any instant. Everything is UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from certdesk.errors import InvalidArgument

# The instants a user may give: the report windows and expiry thresholds reach months
# around an instant, which the calendar (years 1 to 9999) must hold.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


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
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is before the calendar starts
        moment = datetime.min.replace(tzinfo=UTC)
    if not EARLIEST <= moment < LATEST:
        raise InvalidArgument(
            f"{text!r} is out of range: give an instant from {EARLIEST.year} to {LATEST.year - 1}",
            hint="write it like 2027-01-31 or 2027-01-31T10:00:00Z",
        )
    return moment
