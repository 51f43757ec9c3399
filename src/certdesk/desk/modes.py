"""A domain's certificate mode: the customer's (``customer``) or platform-managed
(``acme``), chosen when the domain is added or changed. A managed domain has one
:class:`~certdesk.store.acme.ManagedCertificate` row; ``certdesk.desk.managed`` runs it.
"""

from __future__ import annotations

import enum

from sqlalchemy import select

from certdesk.desk.context import Ctx
from certdesk.desk.records import advance
from certdesk.desk.statuses import OrderStatus, RequestStatus
from certdesk.errors import InvalidArgument
from certdesk.store.acme import ManagedCertificate
from certdesk.store.models import CsrOrder, Domain, Request


class CertificateMode(enum.StrEnum):
    CUSTOMER = "customer"
    ACME = "acme"


class ManagedState(enum.StrEnum):
    WAITING_FOR_DNS = "waiting-for-dns"
    ORDERING = "ordering"
    ISSUED = "issued"
    RENEWING = "renewing"
    FAILED = "failed"


def certificate_mode(value: str) -> CertificateMode:
    try:
        return CertificateMode(value.strip().lower())
    except ValueError:
        raise InvalidArgument(
            f"unknown certificate mode {value!r}",
            hint="choose acme (the platform issues and renews it) or customer (the customer "
            "sends it)",
            field="managed",
        ) from None


def managed_row(ctx: Ctx, domain_id: int) -> ManagedCertificate | None:
    return ctx.session.scalars(
        select(ManagedCertificate).where(ManagedCertificate.domain_id == domain_id)
    ).one_or_none()


def set_mode(ctx: Ctx, domain: Domain, mode: str) -> None:
    """Make ``domain``'s certificate platform-managed (``acme``) or the customer's again.

    A newly managed domain is checked at once (DNS first). Back to ``customer``, the
    managed state goes; the certificate installed stays until the customer's replaces it.
    """
    wanted = certificate_mode(mode)
    row = managed_row(ctx, domain.id)
    if wanted is CertificateMode.ACME and row is None:
        ctx.session.add(
            ManagedCertificate(
                domain_id=domain.id,
                tenant_id=domain.tenant_id,
                state=ManagedState.WAITING_FOR_DNS.value,
                message=f"certdesk checks that {domain.hostname} points at the platform, "
                "then orders its certificate",
                attempts=0,
                next_try_at=ctx.now,
                updated_at=ctx.now,
            )
        )
        ctx.session.flush()
    elif wanted is CertificateMode.CUSTOMER and row is not None:
        _drop_pending_order(ctx, row)
        ctx.session.delete(row)
        ctx.session.flush()
    else:
        return
    ctx.audit(
        "domain.managed", "domain", domain.id, domain.tenant_id, url=domain.url, mode=wanted.value
    )


def _drop_pending_order(ctx: Ctx, row: ManagedCertificate) -> None:
    """The CSR order the platform made for its own certificate is cancelled with it."""
    order = ctx.session.get(CsrOrder, row.csr_order_id) if row.csr_order_id else None
    if order is None or order.status != OrderStatus.PENDING:
        return
    order.status = OrderStatus.CANCELLED
    order.updated_at = ctx.now
    request = ctx.session.get(Request, order.request_id) if order.request_id else None
    if request is not None:
        advance(
            ctx,
            request,
            RequestStatus.REJECTED,
            "the domain's certificate is the customer's again: the platform's order was dropped",
        )
