"""When reports are due, and which expiry dates they list. Pure: the instant is passed in.

Boundaries, with ``at`` the report's instant (its scheduled time, or ``--at``):

- expired:  ``not_after <= at`` (a certificate that expires exactly at ``at`` is expired)
- daily:    ``at < not_after <= at + 3 days``
- monthly:  ``at + 30 days <= not_after <= at + 60 days``

The daily report is due every day at 10:00 report time and delivered by 10:30; the
monthly one on the 1st at 00:00, delivered by 01:00. Report time is the seed's fixed
UTC+02:00 by default; a fixed offset (``+02:00``, ``UTC+2``) or an IANA zone name
(``Europe/Athens``) may be set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from certdesk.errors import InvalidArgument

_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)


def parse_timezone(text: str) -> tzinfo:
    value = text.strip()
    if value.upper() in ("UTC", "Z", "GMT"):
        return UTC
    match = _OFFSET.match(value)
    if match:
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        if delta > timedelta(hours=14):
            raise InvalidArgument(f"the offset {text!r} is out of range")
        return timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidArgument(
            f"{text!r} is not a time zone",
            hint="use an offset like +02:00 or a name like Europe/Athens",
        ) from exc


def parse_clock(text: str) -> time:
    try:
        hours, minutes = (int(p) for p in text.strip().split(":"))
        return time(hours, minutes)
    except ValueError as exc:
        raise InvalidArgument(f"{text!r} is not a time of day like 10:00") from exc


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a report kind is due: every day at ``at`` (``day`` None), or every month on
    ``day`` at ``at``, in ``tz``; delivered within ``window``."""

    kind: str
    tz: tzinfo
    at: time
    window: timedelta
    day: int | None = None  # the day of the month; None: every day

    def latest(self, now: datetime) -> Period:
        """The most recent period whose due time is at or before ``now``."""
        local = now.astimezone(self.tz).date()
        due = self._due(local)
        if due > now:
            due = self._due(self._before(local))
        return self._period(due)

    def following(self, now: datetime) -> Period:
        """The first period whose due time is after ``now``."""
        local = now.astimezone(self.tz).date()
        due = self._due(local)
        if due <= now:
            due = self._due(self._after(local))
        return self._period(due)

    def _period(self, due: datetime) -> Period:
        local = due.astimezone(self.tz).date()
        key = local.isoformat() if self.day is None else f"{local.year:04d}-{local.month:02d}"
        return Period(self.kind, key, due, due + self.window)

    def _due(self, local: date) -> datetime:
        if self.day is not None:
            local = date(local.year, local.month, self.day)
        return _local(local, self.at, self.tz)

    def _before(self, local: date) -> date:
        if self.day is None:
            return local - timedelta(days=1)
        return (
            date(local.year - 1, 12, 1)
            if local.month == 1
            else date(local.year, local.month - 1, 1)
        )

    def _after(self, local: date) -> date:
        if self.day is None:
            return local + timedelta(days=1)
        return (
            date(local.year + 1, 1, 1)
            if local.month == 12
            else date(local.year, local.month + 1, 1)
        )


@dataclass(frozen=True, slots=True)
class Period:
    """One occurrence of a report: its key (``2026-12-01``, ``2026-12``), due and deadline."""

    kind: str
    key: str
    due: datetime  # UTC
    deadline: datetime  # UTC

    def is_late(self, now: datetime) -> bool:
        return now > self.deadline


def _local(day: date, at: time, tz: tzinfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Window:
    """The expiry dates a report lists besides the expired ones: ``(low, high]`` or
    ``[low, high]``."""

    low: datetime
    high: datetime
    low_inclusive: bool


def daily_window(at: datetime, days: int = 3) -> Window:
    return Window(at, at + timedelta(days=days), low_inclusive=False)


def monthly_window(at: datetime, min_days: int = 30, max_days: int = 60) -> Window:
    return Window(at + timedelta(days=min_days), at + timedelta(days=max_days), low_inclusive=True)
