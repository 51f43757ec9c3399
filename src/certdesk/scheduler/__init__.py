"""The job engine (``engine``): every periodic job, each unit of work done once whichever
certdesk process gets there first; the report jobs (``reports``)."""

from certdesk.scheduler.engine import Job, Period, Registry, Run, Unit, UnitFailed
from certdesk.scheduler.reports import Outcome, ReportConfig, report_jobs, tick

__all__ = [
    "Job",
    "Outcome",
    "Period",
    "Registry",
    "ReportConfig",
    "Run",
    "Unit",
    "UnitFailed",
    "report_jobs",
    "tick",
]
