"""A report as plain text, HTML (a table sorted by expiry, expired first), CSV and JSON.

Rendering is apart from sending: these functions only turn a ``Report`` into text.
"""

from __future__ import annotations

import html
import io
import json
from datetime import datetime
from typing import Any

from certdesk.fixes import Action, fix
from certdesk.pki import iso_utc, time_left
from certdesk.pki.expiry import is_expired
from certdesk.reports.hints import WORDING
from certdesk.reports.model import Report, ReportRow
from certdesk.reports.spreadsheet import csv_writer

CSV_COLUMNS = (
    "url",
    "tenant",
    "portal",
    "common_name",
    "issuer",
    "not_after_utc",
    "not_after_report_time",
    "days_left",
    "status",
    "source",
    "drift",
    "last_probe_utc",
    "last_probe_result",
)


def title(report: Report) -> str:
    when = report.at.astimezone(report.tz).strftime("%Y-%m-%d %H:%M %Z").strip()
    late = " (late)" if report.late else ""
    return f"{report.title} SSL expiration report for {report.audience}, {when}{late}"


def _local(report: Report, moment: datetime) -> str:
    return moment.astimezone(report.tz).strftime("%Y-%m-%d %H:%M %Z").strip()


def _status(report: Report, row: ReportRow) -> str:
    return "expired" if is_expired(row.not_after, report.at) else "expiring"


def _probe(row: ReportRow) -> str:
    if row.last_probe_at is None:
        return "never probed"
    return "ok" if row.last_probe_ok else f"failed: {row.last_error or 'error'}"


def _source(row: ReportRow) -> str:
    """Where the expiry comes from, with the installed certificate's beside a served one
    that differs (a renewal whose deploy failed: the old certificate is still served)."""
    if row.installed_not_after is None:
        return row.source
    return f"{row.source} (installed: {iso_utc(row.installed_not_after)})"


def _next_step(report: Report, row: ReportRow) -> str:
    step = WORDING.word(fix(Action.RENEW, url=row.url))
    if is_expired(row.not_after, report.at):
        return f"renew now, visitors see a security warning: {step}"
    return f"{step} before it expires"


def row_json(report: Report, row: ReportRow) -> dict[str, Any]:
    return {
        "url": row.url,
        "tenant": row.tenant,
        "portal": row.portal,
        "common_name": row.common_name,
        "issuer": row.issuer,
        "not_after": iso_utc(row.not_after),
        "not_after_report_time": row.not_after.astimezone(report.tz).isoformat(),
        "days_left": row.days_left(report.at),
        "status": _status(report, row),
        "source": row.source,
        "drift": row.drift,
        "last_probe": iso_utc(row.last_probe_at) if row.last_probe_at else None,
        "last_probe_result": _probe(row),
        "installed_not_after": iso_utc(row.installed_not_after)
        if row.installed_not_after
        else None,
    }


def to_json(report: Report) -> str:
    return json.dumps(
        {
            "schema": "certdesk.report/1",
            "kind": report.kind,
            "period": report.period,
            "audience": report.audience,
            "at": iso_utc(report.at),
            "late": report.late,
            "window": report.window_text,
            "expired": [row_json(report, r) for r in report.expired],
            "expiring": [row_json(report, r) for r in report.expiring],
        },
        indent=2,
        ensure_ascii=False,
    )


def to_csv(report: Report) -> str:
    """The report as CSV; a cell that a spreadsheet would run as a formula is quoted
    (``certdesk.reports.spreadsheet``)."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        data = row_json(report, row)
        writer.writerow(
            [
                row.url,
                row.tenant,
                row.portal,
                row.common_name or "",
                row.issuer or "",
                data["not_after"],
                data["not_after_report_time"],
                data["days_left"],
                data["status"],
                row.source,
                "" if row.drift is None else str(row.drift).lower(),
                data["last_probe"] or "",
                data["last_probe_result"],
            ]
        )
    return buffer.getvalue()


def to_text(report: Report) -> str:
    lines = [title(report), ""]
    sections = (
        (f"Expired and still monitored ({len(report.expired)})", report.expired),
        (f"Certificates {report.window_text} ({len(report.expiring)})", report.expiring),
    )
    for heading, rows in sections:
        lines.append(heading)
        lines.append("-" * len(heading))
        if not rows:
            lines.append("  none")
        for row in rows:
            when = time_left(row.not_after, report.at)
            left = f"expired {when}" if is_expired(row.not_after, report.at) else when
            lines.append(f"  {row.url}  [{row.tenant}, {row.portal}]")
            lines.append(
                f"    {row.common_name or '?'} from {row.issuer or '?'}; "
                f"expires {iso_utc(row.not_after)} ({_local(report, row.not_after)}), "
                f"{left}; {_source(row)}"
                + ("; DRIFT: not the certificate certdesk installed" if row.drift else "")
            )
            lines.append(f"    last probe: {_probe(row)}; next: {_next_step(report, row)}")
        lines.append("")
    return "\n".join(lines)


def to_html(report: Report) -> str:
    esc = html.escape

    def table(rows: tuple[ReportRow, ...]) -> str:
        if not rows:
            return "<p>None.</p>"
        head = "".join(
            f"<th>{h}</th>"
            for h in (
                "URL",
                "Tenant",
                "Portal",
                "Common name",
                "Issuer",
                "Expires (UTC)",
                "Expires (report time)",
                "Days left",
                "Source",
                "Drift",
                "Last probe",
                "What to do",
            )
        )
        body = []
        for row in rows:
            expired = is_expired(row.not_after, report.at)
            style = ' style="background:#fde2e1"' if expired else ""
            cells = (
                row.url,
                row.tenant,
                row.portal,
                row.common_name or "",
                row.issuer or "",
                iso_utc(row.not_after),
                _local(report, row.not_after),
                str(row.days_left(report.at)),
                _source(row),
                "yes" if row.drift else ("no" if row.drift is not None else ""),
                _probe(row),
                _next_step(report, row),
            )
            body.append(f"<tr{style}>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
        return (
            f'<table border="1" cellpadding="4" cellspacing="0"><thead><tr>{head}</tr>'
            f"</thead><tbody>{''.join(body)}</tbody></table>"
        )

    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{esc(title(report))}</title>'
        f"</head><body><h1>{esc(title(report))}</h1>"
        f"<h2>Expired and still monitored ({len(report.expired)})</h2>{table(report.expired)}"
        f"<h2>Certificates {esc(report.window_text)} ({len(report.expiring)})</h2>"
        f"{table(report.expiring)}</body></html>"
    )


def render(report: Report, fmt: str) -> str:
    renderers = {"text": to_text, "html": to_html, "csv": to_csv, "json": to_json}
    return renderers[fmt](report)
