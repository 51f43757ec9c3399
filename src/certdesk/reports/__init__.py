"""Expiry reports: which kinds there are (``kinds``), when they are due (``windows``),
what they list (``select``), how they read (``render``)."""

from certdesk.reports.kinds import (
    KIND_NAMES,
    KindsConfig,
    ReportKind,
    daily_kind,
    find_kind,
    monthly_kind,
    report_kinds,
)
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
    "KIND_NAMES",
    "KindsConfig",
    "Period",
    "Report",
    "ReportKind",
    "ReportRow",
    "Schedule",
    "Window",
    "build_report",
    "daily_kind",
    "daily_window",
    "find_kind",
    "monthly_kind",
    "monthly_window",
    "parse_timezone",
    "preview_report",
    "render",
    "report_kinds",
    "select_rows",
]
