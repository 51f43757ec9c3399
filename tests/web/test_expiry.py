"""Urgency classes and the 90-day chart of the dashboard (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from certdesk.web.expiry import chart, urgency

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_urgency_boundaries() -> None:
    assert urgency(None, NOW) == "none"
    assert urgency(NOW, NOW) == "expired"  # expiring exactly now is expired, as in reports
    assert urgency(NOW - DAY, NOW) == "expired"
    assert urgency(NOW + 3 * DAY, NOW) == "critical"
    assert urgency(NOW + 4 * DAY, NOW) == "warning"
    assert urgency(NOW + 30 * DAY, NOW) == "warning"
    assert urgency(NOW + 31 * DAY, NOW) == "ok"


def test_chart_counts_each_week_of_the_coming_90_days() -> None:
    expiries = [
        NOW - DAY,  # expired: not in the chart
        NOW + DAY,
        NOW + 2 * DAY,
        NOW + 8 * DAY,
        NOW + 90 * DAY,  # the last day counts
        NOW + 91 * DAY,  # beyond: not in the chart
    ]
    drawn = chart(expiries, NOW)
    counts = [bar.count for bar in drawn.bars]
    assert len(counts) == 13
    assert counts[0] == 2
    assert counts[1] == 1
    assert counts[12] == 1
    assert sum(counts) == drawn.total == 4
    assert drawn.top == 2
    assert [b.css for b in drawn.bars[:2]] == ["critical", "warning"]
    assert drawn.bars[-1].css == "ok"
    tallest = max(drawn.bars, key=lambda b: b.height)
    assert tallest.y + tallest.height == drawn.base
    assert "4 certificate(s) expire in the coming 90 days" in drawn.summary


def test_an_empty_chart_says_so() -> None:
    drawn = chart([], NOW)
    assert drawn.total == 0
    assert all(b.height == 0 for b in drawn.bars)
    assert drawn.summary == "0 certificate(s) expire in the coming 90 days."
