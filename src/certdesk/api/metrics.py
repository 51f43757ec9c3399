"""``/metrics`` in the Prometheus text format: the desk's snapshot, formatted."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from certdesk.desk.context import Desk
from certdesk.desk.metrics import MetricsSnapshot, metrics_snapshot
from certdesk.http.auth import principal

router = APIRouter()


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """For Prometheus: operators, or an operator's API token."""
    who = principal(request)
    desk: Desk = request.app.state.desk
    body = prometheus_text(desk.run(who.actor, metrics_snapshot))
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


def prometheus_text(snapshot: MetricsSnapshot) -> str:
    lines = [
        "# HELP certdesk_certificate_expiry_timestamp_seconds When the certificate that "
        "counts for a URL expires (served if probed, else installed).",
        "# TYPE certdesk_certificate_expiry_timestamp_seconds gauge",
    ]
    probe_lines = [
        "# HELP certdesk_probe_success Whether the latest probe of a URL succeeded.",
        "# TYPE certdesk_probe_success gauge",
    ]
    drift_lines = [
        "# HELP certdesk_certificate_drift Whether a URL serves another certificate than "
        "the one certdesk installed.",
        "# TYPE certdesk_certificate_drift gauge",
    ]
    for figures in snapshot.urls:
        labels = f'url="{_label(figures.url)}",tenant="{_label(figures.tenant)}"'
        if figures.expires_at is not None:
            lines.append(
                f"certdesk_certificate_expiry_timestamp_seconds{{{labels},"
                f'source="{figures.source}"}} {int(figures.expires_at.timestamp())}'
            )
        if figures.probe_ok is not None:
            probe_lines.append(f"certdesk_probe_success{{{labels}}} {int(figures.probe_ok)}")
        if figures.drift is not None:
            drift_lines.append(f"certdesk_certificate_drift{{{labels}}} {int(figures.drift)}")
    report_lines = [
        "# HELP certdesk_report_deliveries Report deliveries by kind and status.",
        "# TYPE certdesk_report_deliveries gauge",
    ] + [
        f'certdesk_report_deliveries{{kind="{d.kind}",status="{d.status}"}} {d.count}'
        for d in snapshot.deliveries
    ]
    job_lines = [
        "# HELP certdesk_job_last_success_timestamp_seconds When a unit of the job was last done.",
        "# TYPE certdesk_job_last_success_timestamp_seconds gauge",
    ]
    failed_lines = [
        "# HELP certdesk_job_units_failed Units of the job that failed (waiting for a retry "
        "or given up).",
        "# TYPE certdesk_job_units_failed gauge",
    ]
    pending_lines = [
        "# HELP certdesk_job_units_pending Units of the job claimed or waiting for a retry.",
        "# TYPE certdesk_job_units_pending gauge",
    ]
    overtaken_lines = [
        "# HELP certdesk_job_units_overtaken Units of the job left unfinished in a past period "
        "and closed without being run.",
        "# TYPE certdesk_job_units_overtaken gauge",
    ]
    for job in snapshot.jobs:
        label = f'job="{_label(job.job)}"'
        if job.last_success is not None:
            job_lines.append(
                f"certdesk_job_last_success_timestamp_seconds{{{label}}} "
                f"{int(job.last_success.timestamp())}"
            )
        failed_lines.append(f"certdesk_job_units_failed{{{label}}} {job.failed}")
        pending_lines.append(f"certdesk_job_units_pending{{{label}}} {job.pending}")
        overtaken_lines.append(f"certdesk_job_units_overtaken{{{label}}} {job.overtaken}")
    return (
        "\n".join(
            lines
            + probe_lines
            + drift_lines
            + report_lines
            + job_lines
            + failed_lines
            + pending_lines
            + overtaken_lines
        )
        + "\n"
    )
