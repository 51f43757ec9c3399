"""Building e-mails: reports (plain text and HTML alternatives, and the CSV attachment) and
the "certificate installed" notice."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime

from certdesk.reports.model import Report
from certdesk.reports.render import title, to_csv, to_html, to_text


def _stable_id(label: str, key: str, domain: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return f"<{label}.{digest}@{domain}>"


def message_id(kind: str, period: str, recipient: str, domain: str = "certdesk") -> str:
    """The same Message-ID for the same report, so a resend can be recognised as one."""
    return _stable_id(f"report.{kind}.{period}", f"{kind}|{period}|{recipient}", domain)


def install_message_id(request_id: int, tenant: str, domain: str = "certdesk") -> str:
    """The same Message-ID for the same "certificate installed" notice."""
    return _stable_id(f"install.{request_id}", f"install|{request_id}|{tenant}", domain)


def report_message(report: Report, *, sender: str, to: Sequence[str], msg_id: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = title(report)
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(report.at)
    message["Message-ID"] = msg_id
    message["X-Certdesk-Report"] = f"{report.kind} {report.period or ''}".strip()
    message.set_content(to_text(report))
    message.add_alternative(to_html(report), subtype="html")
    name = f"certdesk-{report.kind}-{report.period or report.at.date().isoformat()}.csv"
    message.add_attachment(
        to_csv(report).encode("utf-8"), maintype="text", subtype="csv", filename=name
    )
    return message


def install_message(
    *,
    sender: str,
    to: Sequence[str],
    tenant: str,
    request_id: int,
    installed: Sequence[tuple[str, str | None, str, str]],
) -> EmailMessage:
    """ "Your certificate is installed": ``installed`` rows are (url, CN, SHA-256, valid until)."""
    message = EmailMessage()
    message["Subject"] = f"Certificate installed (request {request_id})"
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Message-ID"] = install_message_id(request_id, tenant)
    lines = [
        f"Hello {tenant},",
        "",
        f"the certificate of request {request_id} is installed and was checked with a real",
        "TLS handshake on each URL:",
        "",
    ]
    for url, common_name, sha256, until in installed:
        lines.append(f"  {url}")
        lines.append(f"    {common_name or '?'}, valid until {until}")
        lines.append(f"    SHA-256 {sha256}")
    lines += ["", "certdesk"]
    message.set_content("\n".join(lines))
    return message


def install_failing_message(
    *,
    sender: str,
    to: Sequence[str],
    failing: Sequence[tuple[str, int, str, str]],
) -> EmailMessage:
    """To the operators: installs that failed again and again. ``failing`` rows are
    (url, failures in a row, the last reason, the next try)."""
    message = EmailMessage()
    message["Subject"] = f"certdesk: {len(failing)} install(s) keep failing"
    message["From"] = sender
    message["To"] = ", ".join(to)
    digest = hashlib.sha256("|".join(f"{u}|{n}" for u, n, _, _ in failing).encode()).hexdigest()
    message["Message-ID"] = f"<install-failing.{digest[:24]}@certdesk>"
    lines = [
        "Hello,",
        "",
        "these certificates are stored but could not be installed, again and again;",
        "certdesk keeps trying on its own, and tells you of each only once:",
        "",
    ]
    for url, attempts, reason, next_try in failing:
        lines.append(f"  {url}")
        lines.append(f"    {attempts} failures in a row; next try at {next_try}")
        lines.append(f"    last: {reason}")
    lines += [
        "",
        "Fix the cause on the terminator, then run 'certdesk deploy URL' to install at once.",
        "",
        "certdesk",
    ]
    message.set_content("\n".join(lines))
    return message
