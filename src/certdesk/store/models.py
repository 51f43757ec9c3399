"""The database tables. Times are stored in UTC; private keys only as vault ciphertext."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[str]: JSON}  # noqa: RUF012


class Tenant(Base):
    """A reseller."""

    __tablename__ = "tenants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    emails: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]


class Domain(Base):
    """A custom domain URL of a tenant's portal."""

    __tablename__ = "domains"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    url: Mapped[str] = mapped_column(String(2048))
    hostname: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer, default=443)
    portal: Mapped[str] = mapped_column(String(20), default="other")
    monitored: Mapped[bool] = mapped_column(Boolean, default=True)
    connect_to: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]
    # The expiry that counts in reports, kept up to date where probes and bindings are
    # written: the served certificate's (latest handshake), else the installed one's.
    expires_at: Mapped[datetime | None]
    expiry_source: Mapped[str | None] = mapped_column(String(20))  # served | installed
    deploy_target: Mapped[str | None] = mapped_column(String(100))  # None: the default
    # Whose name it is (``desk.claims``): ``verified`` (an operator assigned it, or DNS
    # showed the tenant's token or that the name points at the platform), ``pending``
    # (a reseller's claim not shown yet: several tenants may hold one for a name, none
    # blocks another) or ``closed`` (another account verified the name first; the row is
    # removed and ``claim_message`` tells its tenant). ``claim_token``: the value the
    # TXT record ``_certdesk.<hostname>`` must hold (public by nature: it goes into DNS).
    claim: Mapped[str] = mapped_column(String(10), default="verified", server_default="verified")
    claim_token: Mapped[str | None] = mapped_column(String(64))
    claim_method: Mapped[str | None] = mapped_column(String(20))  # operator|dns-txt|dns-pointing
    claim_verified_at: Mapped[datetime | None]
    claim_message: Mapped[str | None] = mapped_column(Text)
    claim_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claim_next_at: Mapped[datetime | None] = mapped_column(index=True)
    tenant: Mapped[Tenant] = relationship()
    __table_args__ = (
        # Counting a tenant's active domains reads this index alone.
        Index("ix_domains_tenant_removed", "tenant_id", "removed_at"),
        # The active domains only: listings in host order, dashboards and reports in
        # expiry order, and counts of expiry ranges, all read from the index.
        Index(
            "ix_domains_active_tenant_host",
            "tenant_id",
            "hostname",
            "port",
            sqlite_where=text("removed_at IS NULL"),
            postgresql_where=text("removed_at IS NULL"),
        ),
        Index(
            "ix_domains_active_tenant_expiry",
            "tenant_id",
            "expires_at",
            "url",
            sqlite_where=text("removed_at IS NULL"),
            postgresql_where=text("removed_at IS NULL"),
        ),
        Index(
            "ix_domains_active_expiry",
            "expires_at",
            "url",
            sqlite_where=text("removed_at IS NULL"),
            postgresql_where=text("removed_at IS NULL"),
        ),
        # One owner per name: the active verified claim. Pending claims of several
        # tenants for one name coexist (none blocks the real owner); one per tenant.
        Index(
            "uq_domains_active_host_port",
            "hostname",
            "port",
            unique=True,
            sqlite_where=text("removed_at IS NULL AND claim = 'verified'"),
            postgresql_where=text("removed_at IS NULL AND claim = 'verified'"),
        ),
        Index(
            "uq_domains_active_tenant_host_port",
            "tenant_id",
            "hostname",
            "port",
            unique=True,
            sqlite_where=text("removed_at IS NULL"),
            postgresql_where=text("removed_at IS NULL"),
        ),
    )


class PrivateKeyRecord(Base):
    """A private key, sealed by the vault: the database alone never yields it."""

    __tablename__ = "private_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    spki_sha256: Mapped[str] = mapped_column(String(64), index=True)
    key_type: Mapped[str] = mapped_column(String(20))
    master_key_id: Mapped[str] = mapped_column(String(32))
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class CertificateRecord(Base):
    """A certificate with its chain (PEM, leaf first) and the facts reports need."""

    __tablename__ = "certificates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    spki_sha256: Mapped[str] = mapped_column(String(64), index=True)
    common_name: Mapped[str | None] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str] = mapped_column(Text)
    issuer_common_name: Mapped[str | None] = mapped_column(String(300))
    issuer_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    serial: Mapped[str] = mapped_column(String(80))
    not_before: Mapped[datetime]
    not_after: Mapped[datetime] = mapped_column(index=True)
    dns_names: Mapped[list[str]] = mapped_column(JSON)
    key_type: Mapped[str] = mapped_column(String(20))
    key_size: Mapped[int] = mapped_column(Integer)
    chain_pem: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))  # pfx | csr
    private_key_id: Mapped[int | None] = mapped_column(ForeignKey("private_keys.id"))
    created_at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("tenant_id", "sha256", name="uq_certificates_tenant_sha"),)


class CsrOrder(Base):
    """A CSR certdesk made, waiting for the signed certificate."""

    __tablename__ = "csr_orders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    common_name: Mapped[str] = mapped_column(String(300))
    subject: Mapped[dict[str, Any]] = mapped_column(JSON)
    sans: Mapped[list[str]] = mapped_column(JSON)
    urls: Mapped[list[str]] = mapped_column(JSON)
    key_kind: Mapped[str] = mapped_column(String(20))
    private_key_id: Mapped[int] = mapped_column(ForeignKey("private_keys.id"))
    spki_sha256: Mapped[str] = mapped_column(String(64), index=True)
    csr_pem: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    renewal_of_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Binding(Base):
    """Which certificate is on which domain, from when until when (history kept)."""

    __tablename__ = "bindings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id"), index=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"))
    bound_at: Mapped[datetime]
    unbound_at: Mapped[datetime | None]
    # Where the install of this binding stands (``desk.installs.InstallState``): stored,
    # installing, installed (proven by a handshake) or install-failed; with the last
    # reason, the failed attempts in a row, when the next try is due, when it was proven,
    # and whether the operators were told of repeated failures.
    install_state: Mapped[str] = mapped_column(String(20), default="stored")
    install_reason: Mapped[str | None] = mapped_column(Text)
    install_attempts: Mapped[int] = mapped_column(Integer, default=0)
    install_next_at: Mapped[datetime | None] = mapped_column(index=True)
    installed_at: Mapped[datetime | None]
    install_alerted: Mapped[bool] = mapped_column(Boolean, default=False)
    domain: Mapped[Domain] = relationship()
    certificate: Mapped[CertificateRecord] = relationship()


class Request(Base):
    """The support ticket of the seed: what was asked, and where it stands."""

    __tablename__ = "requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # submit | csr | renew
    status: Mapped[str] = mapped_column(String(20))  # received|processing|completed|rejected
    summary: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    events: Mapped[list[RequestEvent]] = relationship(order_by="RequestEvent.id")


class RequestEvent(Base):
    __tablename__ = "request_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)


class AuditEvent(Base):
    """Who did what to what, and when. Never a secret."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(80))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
