"""Expiry reports: when they are due (``windows``), what they list (``select``), how they
read (``render``)."""

from certdesk.reports.model import Report, ReportRow
from certdesk.reports.render import render
from certdesk.reports.select import build_report, preview_report, select_rows
from certdesk.reports.windows import (
    Period,
    Schedule,
    Window,
    daily_window,
    monthly_window,
    parse_timezone,
)

__all__ = [
    "Period",
    "Report",
    "ReportRow",
    "Schedule",
    "Window",
    "build_report",
    "daily_window",
    "monthly_window",
    "parse_timezone",
    "preview_report",
    "render",
    "select_rows",
]
