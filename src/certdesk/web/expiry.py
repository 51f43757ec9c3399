"""Urgency in words, table rows, and the dashboard's chart of expiries (server-made SVG).
Expiry, days left and urgency themselves are ``certdesk.pki.expiry``'s."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from certdesk.desk import DomainView
from certdesk.pki.expiry import URGENCY_BUCKETS, days_left, is_expired, urgency

__all__ = [
    "URGENCY_BUCKETS",
    "URGENCY_TEXT",
    "chart",
    "chart_of_weeks",
    "days_left",
    "rows",
    "urgency",
]

WEEKS = 13  # 91 days: the coming 90 days, a bar per week
CHART_DAYS = 90
_TICK = timedelta(microseconds=1)


URGENCY_TEXT = {
    "none": "no certificate",
    "expired": "expired",
    "critical": "3 days or less",
    "warning": "30 days or less",
    "ok": "more than 30 days",
}


@dataclass(frozen=True, slots=True)
class Row:
    """A domain as a table shows it; the strings are made here once rather than by
    filters in the template (a table has a hundred rows)."""

    domain: DomainView
    days_left: int | None
    urgency: str
    href: str  # the domain's page
    expires: str  # the expiry's day (UTC), or a dash
    status: str  # the urgency in words


def rows(domains: Sequence[DomainView], now: datetime) -> list[Row]:
    """Soonest expiry first; domains without a certificate last."""
    out = []
    for d in domains:
        level = urgency(d.not_after, now)
        out.append(
            Row(
                d,
                days_left(d.not_after, now) if d.not_after is not None else None,
                level,
                "/domain?url=" + quote(d.url, safe=""),
                _expires(d),
                URGENCY_TEXT[level],
            )
        )
    far = datetime.max.replace(tzinfo=now.tzinfo)
    out.sort(key=lambda r: (r.domain.not_after or far, r.domain.url))
    return out


def _day(at: datetime) -> str:
    return at.astimezone(UTC).date().isoformat()


def _expires(d: DomainView) -> str:
    """The expiry that counts (served, else the bound certificate's), with the installed
    one beside it when they differ, and a certificate whose install failed said so."""
    if d.not_after is None:
        return "—"
    text = _day(d.not_after)
    if d.installed_not_after is not None and d.installed_not_after != d.not_after:
        text += f" (installed: {_day(d.installed_not_after)})"
    elif d.install_state == "install-failed":
        text += " (stored; not installed)"
    return text


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    start: datetime
    end: datetime
    css: str
    label: str | None  # the axis label under this bar, every other week


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    base: float  # y of the axis
    bars: tuple[Bar, ...]
    top: int  # the count the tallest bar stands for
    total: int
    summary: str  # the text alternative


def chart(expiries: Sequence[datetime], now: datetime) -> Chart:
    """Certificates expiring in each of the coming 13 weeks (days 0–90), as SVG geometry."""
    counts = [0] * WEEKS
    horizon = now + timedelta(days=CHART_DAYS)
    for moment in expiries:
        if not is_expired(moment, now) and moment <= horizon:
            counts[min((moment - now) // timedelta(days=7), WEEKS - 1)] += 1
    return chart_of_weeks(counts, now)


def chart_of_weeks(counts: Sequence[int], now: datetime) -> Chart:
    """The chart from counts per week (as the database counts them for the dashboard)."""
    counts = list(counts)[:WEEKS] + [0] * max(0, WEEKS - len(counts))
    horizon = now + timedelta(days=CHART_DAYS)
    width, height, pad_left, pad_bottom, pad_top = 650, 220, 34, 30, 26
    base = height - pad_bottom
    top = max(max(counts), 1)
    slot = (width - pad_left) / WEEKS
    bars = []
    for week, count in enumerate(counts):
        start = now + timedelta(days=7 * week)
        # A bar has the urgency of the soonest expiry it counts (just after its start).
        css = urgency(start + _TICK, now).value
        tall = (base - pad_top) * count / top
        bars.append(
            Bar(
                x=round(pad_left + week * slot + slot * 0.15, 1),
                y=round(base - tall, 1),
                width=round(slot * 0.7, 1),
                height=round(tall, 1),
                count=count,
                start=start,
                end=min(start + timedelta(days=7), horizon),
                css=css,
                label=start.strftime("%d %b") if week % 2 == 0 else None,
            )
        )
    total = sum(counts)
    busiest = max(range(WEEKS), key=lambda i: counts[i])
    summary = (
        f"{total} certificate(s) expire in the coming {CHART_DAYS} days"
        + (
            f"; the busiest week starts {bars[busiest].start:%d %b} with {counts[busiest]}"
            if total
            else ""
        )
        + "."
    )
    return Chart(width, height, base, tuple(bars), top, total, summary)
