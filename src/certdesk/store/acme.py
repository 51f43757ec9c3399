"""Platform-managed certificates: each managed domain's state, its pending HTTP-01 answer,
and the ACME accounts (their keys sealed by the vault, as every private key)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from certdesk.store.models import Base


class AcmeAccount(Base):
    """A tenant's account at one ACME directory; the key is a sealed private key."""

    __tablename__ = "acme_accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    directory_url: Mapped[str] = mapped_column(String(2048))
    account_url: Mapped[str] = mapped_column(String(2048))
    private_key_id: Mapped[int] = mapped_column(ForeignKey("private_keys.id"))
    created_at: Mapped[datetime]
    __table_args__ = (
        UniqueConstraint("tenant_id", "directory_url", name="uq_acme_accounts_tenant_directory"),
    )


class ManagedCertificate(Base):
    """Where a platform-managed domain's certificate stands (one row per managed domain).

    ``state``: waiting-for-dns | ordering | issued | renewing | failed. ``busy_until`` is
    the lease of the one order running for the domain (whichever replica took it);
    ``next_try_at`` is when the engine looks at the domain again; ``renew_at`` when its
    certificate is renewed (two thirds of its lifetime, or the time chosen in the CA's
    suggested window); ``ari_check_at`` when the CA's renewal information (RFC 9773) is
    asked for again. ``problem`` keeps the CA's problem document (type, detail,
    subproblems) of the last failure.
    """

    __tablename__ = "managed_certificates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id"), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    state: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")
    problem: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime | None] = mapped_column(index=True)
    busy_until: Mapped[datetime | None]
    csr_order_id: Mapped[int | None] = mapped_column(ForeignKey("csr_orders.id"))
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    renew_at: Mapped[datetime | None]
    # When to ask the CA's renewal information (RFC 9773) next; None: it offers none.
    ari_check_at: Mapped[datetime | None] = mapped_column(index=True)
    # The HTTP-01 answer pending for this domain: any replica of ``serve`` reads it.
    token: Mapped[str | None] = mapped_column(String(200), unique=True)
    key_authorization: Mapped[str | None] = mapped_column(String(400))
    updated_at: Mapped[datetime]
