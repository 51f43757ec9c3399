"""The report kinds: each one's name, title, schedule and window in one place.

``daily`` and ``monthly`` are the two entries of :func:`report_kinds`; a new kind is one
more :class:`ReportKind`. Its ``name`` is how the API, the portal, the command line,
the settings (``CERTDESK_<NAME>_…``) and the scheduler's job (``report.<name>``) spell
it; its ``title`` heads the e-mail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from functools import partial

from certdesk.errors import InvalidArgument
from certdesk.reports.windows import (
    Schedule,
    Window,
    daily_window,
    monthly_window,
    parse_clock,
)

# The kinds certdesk has, as the interfaces spell them (``report_kinds`` makes each).
KIND_NAMES = ("daily", "monthly")


@dataclass(frozen=True, slots=True)
class ReportKind:
    name: str  # "daily"
    title: str  # "Daily": "Daily SSL expiration report for …"
    schedule: Schedule  # when it is due and by when it is delivered
    window: Callable[[datetime], Window]  # the expiry dates it lists besides the expired
    window_text: str  # "expiring in the next 3 days"


def daily_kind(tz: tzinfo, *, at: str = "10:00", minutes: int = 30, days: int = 3) -> ReportKind:
    return ReportKind(
        name="daily",
        title="Daily",
        schedule=Schedule("daily", tz, parse_clock(at), timedelta(minutes=minutes)),
        window=partial(daily_window, days=days),
        window_text=f"expiring in the next {days} days",
    )


def monthly_kind(
    tz: tzinfo,
    *,
    day: int = 1,
    at: str = "00:00",
    minutes: int = 60,
    min_days: int = 30,
    max_days: int = 60,
) -> ReportKind:
    return ReportKind(
        name="monthly",
        title="Monthly",
        schedule=Schedule("monthly", tz, parse_clock(at), timedelta(minutes=minutes), day),
        window=partial(monthly_window, min_days=min_days, max_days=max_days),
        window_text=f"expiring in {min_days} to {max_days} days",
    )


@dataclass(frozen=True, slots=True)
class KindsConfig:
    """When each kind is due and what it lists, in the zone ``tz`` (made from the settings
    by ``application.compose.kinds_config``)."""

    tz: tzinfo
    daily_time: str
    daily_window_minutes: int
    daily_days: int
    monthly_day: int
    monthly_time: str
    monthly_window_minutes: int
    monthly_min_days: int
    monthly_max_days: int


def report_kinds(config: KindsConfig) -> tuple[ReportKind, ...]:
    """Every report kind, as ``config`` shapes it."""
    return (
        daily_kind(
            config.tz,
            at=config.daily_time,
            minutes=config.daily_window_minutes,
            days=config.daily_days,
        ),
        monthly_kind(
            config.tz,
            day=config.monthly_day,
            at=config.monthly_time,
            minutes=config.monthly_window_minutes,
            min_days=config.monthly_min_days,
            max_days=config.monthly_max_days,
        ),
    )


def find_kind(kinds: Iterable[ReportKind], name: str) -> ReportKind:
    """The kind called ``name``, or ``invalid-argument`` naming the kinds there are."""
    known = {kind.name: kind for kind in kinds}
    if name not in known:
        raise InvalidArgument(
            f"there is no {name!r} report",
            hint=f"the reports are: {', '.join(known)}",
            field="kind",
        )
    return known[name]
