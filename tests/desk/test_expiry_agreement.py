"""One expiry, one urgency: the dashboard (its counts, table and chart), the served page
and the reports say the same of domains that sit on every edge — expired a second ago,
expiring exactly now, exactly 3 days and 3 days + 1 s away, exactly 30 days away —
on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from certdesk import desk as d
from certdesk.application.compose import kinds_config
from certdesk.desk import Actor, Desk
from certdesk.pki import Urgency
from certdesk.reports import build_report, report_kinds
from certdesk.reports.render import row_json
from certdesk.settings import Settings
from certdesk.store.models import Domain
from certdesk.web import expiry as web_expiry
from tests.flows import new_tenant

AT = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
S = timedelta(seconds=1)
DAY = timedelta(days=1)
TENANT = "Acme Hosting"

# URL -> (expiry, the urgency and whole days left the README's words give it).
EDGES: dict[str, tuple[datetime | None, str, int | None]] = {
    "https://expired-1s-ago.test.com": (AT - S, "expired", -1),
    "https://expires-now.test.com": (AT, "expired", 0),
    "https://in-1s.test.com": (AT + S, "critical", 0),
    "https://in-3-days.test.com": (AT + 3 * DAY, "critical", 3),
    "https://in-3-days-1s.test.com": (AT + 3 * DAY + S, "critical", 3),
    "https://in-4-days.test.com": (AT + 4 * DAY, "warning", 4),
    "https://in-30-days.test.com": (AT + 30 * DAY, "warning", 30),
    "https://in-30-days-1s.test.com": (AT + 30 * DAY + S, "warning", 30),
    "https://in-31-days.test.com": (AT + 31 * DAY, "ok", 31),
    "https://in-60-days.test.com": (AT + 60 * DAY, "ok", 60),
    "https://no-certificate.test.com": (None, "none", None),
}
ORDER = [u.value for u in Urgency]


@pytest.fixture
def at_desk(desk: Desk, operator: Actor) -> Desk:
    new_tenant(desk, operator, TENANT)
    with desk.context(operator) as ctx:
        for url, (expires, _, _) in EDGES.items():
            view = d.add_domain(ctx, url=url, tenant=TENANT)
            ctx.session.execute(
                update(Domain)
                .where(Domain.id == view.id)
                .values(expires_at=expires, expiry_source="installed" if expires else None)
            )
    return dataclasses.replace(desk, now=lambda: AT)


def test_served_page_dashboard_chart_and_reports_agree(at_desk: Desk, operator: Actor) -> None:
    expected = {url: level for url, (_, level, _) in EDGES.items()}
    days = {url: left for url, (_, _, left) in EDGES.items()}

    # The served page.
    page = at_desk.run(operator, d.served_overview, limit=100)
    assert {row.url: row.urgency for row in page.rows} == expected
    assert {row.url: row.days_left for row in page.rows} == days
    for level in ORDER:
        chosen = at_desk.run(operator, d.served_overview, urgency=level, limit=100)
        assert {row.url for row in chosen.rows} == {u for u, e in expected.items() if e == level}

    # The dashboard: its counts, each urgency's table, and the table's rows.
    overview = at_desk.run(
        operator, d.domain_overview, at=AT, buckets=web_expiry.URGENCY_BUCKETS, limit=100
    )
    assert overview.counts == {level: list(expected.values()).count(level) for level in ORDER}
    for level in ORDER:
        shown = at_desk.run(
            operator,
            d.domain_overview,
            at=AT,
            buckets=web_expiry.URGENCY_BUCKETS,
            show=level,
            limit=100,
        )
        assert {row.url for row in shown.rows} == {u for u, e in expected.items() if e == level}
    table = web_expiry.rows(overview.rows, AT)
    assert {row.domain.url: row.urgency for row in table} == expected
    assert {row.domain.url: row.days_left for row in table} == days

    # The chart: the database's weeks and the chart drawn from the expiries agree, an
    # expired certificate is in neither, and a bar is as urgent as the soonest it counts.
    dated = [expires for expires, _, _ in EDGES.values() if expires is not None]
    drawn = web_expiry.chart(dated, AT)
    assert [bar.count for bar in drawn.bars] == overview.weeks
    assert sum(overview.weeks) == sum(
        1 for url, (e, level, _) in EDGES.items() if level not in {"none", "expired"}
    )
    for url, (expires, level, _) in EDGES.items():
        if expires is None or level == "expired":
            continue
        bar = next(b for b in drawn.bars if b.start < expires <= b.end)
        assert ORDER.index(bar.css) <= ORDER.index(level), url
        if level == "critical":
            assert bar.css == "critical"

    # The reports: what they call expired, and the days left they print.
    with at_desk.context(operator, at=AT) as ctx:
        kinds = report_kinds(kinds_config(Settings(home=Path("unused"), database_url="sqlite://")))
        reports = [build_report(ctx, kind, AT, UTC) for kind in kinds]
    for report in reports:
        assert {row.url for row in report.expired} == {
            u for u, e in expected.items() if e == "expired"
        }
        for row in report.rows:
            data = row_json(report, row)
            assert data["days_left"] == days[row.url], row.url
            assert (data["status"] == "expired") is (expected[row.url] == "expired"), row.url
    daily, monthly = ({r.url for r in report.expiring} for report in reports)
    assert "https://in-3-days.test.com" in daily
    assert "https://in-30-days.test.com" in monthly
