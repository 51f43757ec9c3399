"""Periodic jobs, each done once per period whichever certdesk process gets there first."""

from certdesk.scheduler.reports import Outcome, ReportConfig, report_config, tick

__all__ = ["Outcome", "ReportConfig", "report_config", "tick"]
