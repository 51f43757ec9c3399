"""Tenants (resellers): add, list, change, remove."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select

from certdesk.addresses import email_address, tenant_name
from certdesk.desk.context import Conflict, Ctx, Forbidden, reads, tenant_by_name
from certdesk.store.models import Domain, Tenant


@dataclass(frozen=True, slots=True)
class TenantView:
    id: int
    name: str
    emails: tuple[str, ...]
    domains: int


def _emails(values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        email = email_address(value, what="a contact e-mail address", field="emails")
        if email.lower() not in (e.lower() for e in out):
            out.append(email)
    return out


def _operator_only(ctx: Ctx, what: str) -> None:
    if not ctx.actor.is_operator:
        raise Forbidden(f"{what} is for the platform's operators")


def add_tenant(ctx: Ctx, *, name: str, emails: Sequence[str] = ()) -> TenantView:
    _operator_only(ctx, "adding a tenant")
    clean = tenant_name(name, field="name")
    exists = ctx.session.scalars(select(Tenant.id).where(Tenant.name == clean)).first()
    if exists is not None:
        raise Conflict(f"a tenant named {clean!r} exists already", field="name")
    tenant = Tenant(name=clean, emails=_emails(emails), created_at=ctx.now)
    ctx.session.add(tenant)
    ctx.session.flush()
    ctx.audit("tenant.add", "tenant", tenant.id, tenant.id, name=clean, emails=tenant.emails)
    return TenantView(tenant.id, tenant.name, tuple(tenant.emails), 0)


@reads
def list_tenants(ctx: Ctx) -> list[TenantView]:
    counts = (
        select(Domain.tenant_id, func.count(Domain.id).label("n"))
        .where(Domain.removed_at.is_(None))
        .group_by(Domain.tenant_id)
        .subquery()
    )
    stmt = ctx.scoped(
        select(Tenant, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.tenant_id == Tenant.id)
        .order_by(Tenant.name),
        Tenant.id,
    )
    return [TenantView(t.id, t.name, tuple(t.emails), n) for t, n in ctx.session.execute(stmt)]


def change_tenant(
    ctx: Ctx,
    *,
    name: str,
    new_name: str | None = None,
    emails: Sequence[str] | None = None,
) -> TenantView:
    tenant = tenant_by_name(ctx, name)
    before = {"name": tenant.name, "emails": list(tenant.emails)}
    if new_name is not None and new_name.strip() != tenant.name:
        _operator_only(ctx, "renaming a tenant")
        clean = tenant_name(new_name, field="new_name")
        if ctx.session.scalars(select(Tenant.id).where(Tenant.name == clean)).first():
            raise Conflict(f"a tenant named {clean!r} exists already", field="new_name")
        tenant.name = clean
    if emails is not None:
        tenant.emails = _emails(emails)
    ctx.audit(
        "tenant.change",
        "tenant",
        tenant.id,
        tenant.id,
        before=before,
        after={"name": tenant.name, "emails": list(tenant.emails)},
    )
    count = ctx.session.scalar(
        select(func.count(Domain.id)).where(
            Domain.tenant_id == tenant.id, Domain.removed_at.is_(None)
        )
    )
    return TenantView(tenant.id, tenant.name, tuple(tenant.emails), count or 0)
