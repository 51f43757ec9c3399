"""Tables of monitoring: probe history and each domain's latest state. (Report deliveries
are units of the job engine, and the queued "probe now" requests on-demand work requests:
``store.jobs``.)"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
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
    last_probe_at: Mapped[datetime | None]
    last_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_error_kind: Mapped[str | None] = mapped_column(String(40))
    served_at: Mapped[datetime | None]
    served_sha256: Mapped[str | None] = mapped_column(String(64))
    served_common_name: Mapped[str | None] = mapped_column(String(300))
    served_issuer: Mapped[str | None] = mapped_column(Text)
    served_not_after: Mapped[datetime | None] = mapped_column(index=True)
    served_drift: Mapped[bool | None] = mapped_column(Boolean)
