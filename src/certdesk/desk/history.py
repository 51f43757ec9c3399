"""Requests (the seed's support tickets) and the audit log, as the actor may see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from certdesk.desk.context import Ctx, NotFound, reads, tenant_by_name
from certdesk.desk.statuses import RequestStatus
from certdesk.store.models import AuditEvent, Request, RequestEvent, Tenant


@dataclass(frozen=True, slots=True)
class RequestView:
    id: int
    tenant: str
    kind: str
    status: str
    summary: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    timeline: tuple[tuple[datetime, str, str], ...]


@dataclass(frozen=True, slots=True)
class AuditView:
    id: int
    at: datetime
    actor: str
    tenant: str | None
    action: str
    object_type: str
    object_id: str | None
    detail: dict[str, Any]


@reads
def list_requests(
    ctx: Ctx,
    *,
    tenant: str | None = None,
    status: RequestStatus | None = None,
    limit: int = 500,
) -> list[RequestView]:
    stmt = select(Request, Tenant.name).join(Tenant, Tenant.id == Request.tenant_id)
    if tenant is not None:
        stmt = stmt.where(Request.tenant_id == tenant_by_name(ctx, tenant).id)
    if status is not None:
        stmt = stmt.where(Request.status == status)
    stmt = ctx.scoped(stmt, Request.tenant_id).order_by(Request.id.desc()).limit(limit)
    rows = ctx.session.execute(stmt).all()
    ids = [r.id for r, _ in rows]
    events: dict[int, list[tuple[datetime, str, str]]] = {i: [] for i in ids}
    if ids:
        for ev in ctx.session.scalars(
            select(RequestEvent).where(RequestEvent.request_id.in_(ids)).order_by(RequestEvent.id)
        ):
            events[ev.request_id].append((ev.at, ev.status, ev.message))
    return [
        RequestView(
            r.id,
            name,
            r.kind,
            r.status,
            r.summary,
            r.created_by,
            r.created_at,
            r.updated_at,
            tuple(events[r.id]),
        )
        for r, name in rows
    ]


@reads
def get_request(ctx: Ctx, *, request_id: int) -> RequestView:
    request = ctx.session.get(Request, request_id)
    if request is None or not ctx.visible(request.tenant_id):
        raise NotFound(f"no request {request_id}")
    tenant = ctx.session.get(Tenant, request.tenant_id)
    return next(
        r for r in list_requests(ctx, tenant=tenant.name if tenant else None) if r.id == request_id
    )


@reads
def list_audit(ctx: Ctx, *, tenant: str | None = None, limit: int = 500) -> list[AuditView]:
    stmt = select(AuditEvent, Tenant.name).outerjoin(Tenant, Tenant.id == AuditEvent.tenant_id)
    if tenant is not None:
        stmt = stmt.where(AuditEvent.tenant_id == tenant_by_name(ctx, tenant).id)
    stmt = ctx.scoped(stmt, AuditEvent.tenant_id).order_by(AuditEvent.id.desc()).limit(limit)
    return [
        AuditView(a.id, a.at, a.actor, name, a.action, a.object_type, a.object_id, dict(a.detail))
        for a, name in ctx.session.execute(stmt)
    ]
