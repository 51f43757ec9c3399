"""Tables of monitoring: probe history, each domain's latest state, and the queued
"probe now" requests. (Report deliveries are units of the job engine: ``store.jobs``.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from certdesk.store.models import Base


class Probe(Base):
    """One look at what a URL really served (history: every probe is kept)."""

    __tablename__ = "probes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id"))
    at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    error_kind: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    common_name: Mapped[str | None] = mapped_column(String(300))
    issuer: Mapped[str | None] = mapped_column(Text)
    not_after: Mapped[datetime | None]
    verified: Mapped[bool | None] = mapped_column(Boolean)
    covers_host: Mapped[bool | None] = mapped_column(Boolean)
    drift: Mapped[bool | None] = mapped_column(Boolean)
    chain_pem: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("ix_probes_domain_at", "domain_id", "at"),)


class DomainState(Base):
    """The latest probe of each domain, and the latest successful one: what reports read."""

    __tablename__ = "domain_states"
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id"), primary_key=True)
    last_probe_id: Mapped[int | None] = mapped_column(ForeignKey("probes.id"))
    last_probe_at: Mapped[datetime | None]
    last_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_error_kind: Mapped[str | None] = mapped_column(String(40))
    served_probe_id: Mapped[int | None] = mapped_column(ForeignKey("probes.id"))
    served_at: Mapped[datetime | None]
    served_sha256: Mapped[str | None] = mapped_column(String(64))
    served_common_name: Mapped[str | None] = mapped_column(String(300))
    served_issuer: Mapped[str | None] = mapped_column(Text)
    served_not_after: Mapped[datetime | None] = mapped_column(index=True)
    served_drift: Mapped[bool | None] = mapped_column(Boolean)


class ProbeRequest(Base):
    """A "probe now" asked for over the API or the portal, run by ``certdesk serve``'s
    probe worker. ``status``: queued → running → done | failed. ``key`` is what makes two
    requests the same (the tenant and its URLs): a request equal to one still queued or
    running is that one."""

    __tablename__ = "probe_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"))
    requested_by: Mapped[str] = mapped_column(String(200))
    urls: Mapped[list[str]] = mapped_column(JSON)
    key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    targets: Mapped[int] = mapped_column(Integer, default=0)
    ok: Mapped[int] = mapped_column(Integer, default=0)
    results: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        Index("ix_probe_requests_status_created", "status", "created_at"),
        Index("ix_probe_requests_tenant_created", "tenant_id", "created_at"),
    )
