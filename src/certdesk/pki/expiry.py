"""When a certificate counts as expired, how many days it has left, and how urgent it is.

Defined once here, for the checks, the pages, the API, the counts and the reports:

- *expired* at ``at`` when ``not_after <= at`` (a certificate that expires exactly at
  ``at`` is expired);
- *days left* are whole days until expiry, rounded towards expiry (negative when
  expired): 3 days and 1 second left is 3 days;
- *urgency*: ``none`` when no expiry is known, ``expired``, ``critical`` for 3 days
  left or less, ``warning`` for 30 or less, else ``ok``. As ranges of instants (for a
  database): ``critical`` is ``at < not_after < at + 4 days``, ``warning`` up to
  ``at + 31 days`` (:data:`URGENCY_BUCKETS`).
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

_DAY = 86400


class Urgency(enum.StrEnum):
    """How soon a domain's certificate needs renewing, most urgent known first."""

    NONE = "none"  # no expiry known (no certificate)
    EXPIRED = "expired"
    CRITICAL = "critical"  # 3 days left or less
    WARNING = "warning"  # 30 days left or less
    OK = "ok"


CRITICAL_DAYS = 3
WARNING_DAYS = 30

# The buckets between expired and ok, as ``(urgency, delta)``: ``not_after < at + delta``
# (whole days left <= n is less than n + 1 days).
URGENCY_BUCKETS: tuple[tuple[Urgency, timedelta], ...] = (
    (Urgency.CRITICAL, timedelta(days=CRITICAL_DAYS + 1)),
    (Urgency.WARNING, timedelta(days=WARNING_DAYS + 1)),
)


def is_expired(not_after: datetime, at: datetime) -> bool:
    """Is a certificate valid until ``not_after`` expired at ``at``?"""
    return not_after <= at


def days_left(not_after: datetime, at: datetime) -> int:
    """Whole days until expiry, rounded towards expiry; negative when expired."""
    return int((not_after - at).total_seconds() // _DAY)


def urgency(not_after: datetime | None, at: datetime) -> Urgency:
    """The urgency of an expiry at ``at`` (see the module's docstring)."""
    if not_after is None:
        return Urgency.NONE
    if is_expired(not_after, at):
        return Urgency.EXPIRED
    for level, delta in URGENCY_BUCKETS:
        if not_after < at + delta:
            return level
    return Urgency.OK
