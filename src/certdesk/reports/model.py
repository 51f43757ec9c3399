"""A report as plain values: what every renderer and every mail is made from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from certdesk.pki.expiry import days_left


@dataclass(frozen=True, slots=True)
class ReportRow:
    url: str
    tenant: str
    portal: str
    common_name: str | None
    issuer: str | None
    not_after: datetime  # UTC
    source: str  # "served" (latest successful probe) | "installed"
    drift: bool | None
    last_probe_at: datetime | None
    last_probe_ok: bool | None
    last_error: str | None
    # The expiry of the certificate certdesk installed (proven) on the URL, when it is
    # not the one that counts (served): shown beside it.
    installed_not_after: datetime | None = None

    def days_left(self, at: datetime) -> int:
        """Whole days until expiry (negative when expired), rounded towards expiry."""
        return days_left(self.not_after, at)


@dataclass(frozen=True, slots=True)
class Report:
    kind: str  # the report kind's name (``reports.kinds``): daily | monthly
    title: str  # the kind's title: Daily | Monthly
    at: datetime  # the instant the windows are measured from (UTC)
    tz: tzinfo  # report time
    audience: str  # "operators" or the tenant's name
    expired: tuple[ReportRow, ...]
    expiring: tuple[ReportRow, ...]
    window_text: str  # e.g. "in the next 3 days"
    period: str | None = None
    late: bool = False

    @property
    def empty(self) -> bool:
        return not self.expired and not self.expiring

    @property
    def rows(self) -> tuple[ReportRow, ...]:
        return self.expired + self.expiring
