"""Tables of monitoring: probe history and each domain's latest state. (Report deliveries
are units of the job engine, and the queued "probe now" requests on-demand work requests:
``store.jobs``.)"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from certdesk.store.models import Base


class ServedChain(Base):
    """A certificate chain some URL served, stored once however many probes saw it (a URL
    serves the same chain sweep after sweep, and thousands of URLs may share one wildcard
    chain): the evidence of what was served, which each probe refers to.

    ``sha256`` is the hex SHA-256 of ``chain_pem``'s text (ASCII), the chain as PEM, leaf
    first, as the probe read it: one PEM per distinct chain of DER certificates, so
    the same chain always has the same text and the same hash. ``first_seen_at`` is the
    ``at`` of the first probe recorded that served it."""

    __tablename__ = "served_chains"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    chain_pem: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime]


class Probe(Base):
    """One look at what a URL really served (history: every probe is kept). ``chain_id``:
    the chain it served (:class:`ServedChain`), NULL when no handshake completed."""

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
    chain_id: Mapped[int | None] = mapped_column(ForeignKey("served_chains.id"))
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
