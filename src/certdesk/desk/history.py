"""Requests (the seed's support tickets) and the audit log, as the actor may see them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, func, select

from certdesk.desk.context import Ctx, NotFound, reads, tenant_by_name
from certdesk.desk.statuses import RequestStatus
from certdesk.errors import InvalidArgument
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


# What a request's kind and status may be (``Request.kind``, ``Request.status``).
REQUEST_KINDS = ("submit", "csr", "renew")
REQUEST_STATUSES = tuple(s.value for s in RequestStatus)


@dataclass(frozen=True, slots=True)
class RequestPage:
    rows: list[RequestView]
    total: int  # of the requests the filters keep, over every page


@dataclass(frozen=True, slots=True)
class AuditPage:
    rows: list[AuditView]
    total: int  # of the events the filters keep, over every page


def _one_of(value: str | None, allowed: tuple[str, ...], what: str, field: str) -> None:
    if value is not None and value not in allowed:
        raise InvalidArgument(
            f"no {what} {value!r}", hint="choose one of: " + ", ".join(allowed), field=field
        )


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    """``column`` holds ``text``, in any case (``%`` and ``_`` taken literally)."""
    return func.lower(column).contains(text.strip().lower(), autoescape=True)


def _requests_where(
    ctx: Ctx,
    *,
    tenant: str | None,
    status: str | None,
    kind: str | None = None,
    search: str | None = None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if tenant is not None:
        conditions.append(Request.tenant_id == tenant_by_name(ctx, tenant).id)
    if status is not None:
        conditions.append(Request.status == status)
    if kind is not None:
        conditions.append(Request.kind == kind)
    if search and search.strip():
        conditions.append(_contains(Request.summary, search))
    return conditions


def _request_views(ctx: Ctx, rows: Sequence[Row[Request, str]]) -> list[RequestView]:
    """The requests of ``rows`` (with their tenant's name) and their timelines: one query."""
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
def list_requests(
    ctx: Ctx,
    *,
    tenant: str | None = None,
    status: RequestStatus | None = None,
    limit: int = 500,
) -> list[RequestView]:
    conditions = _requests_where(ctx, tenant=tenant, status=status)
    stmt = select(Request, Tenant.name).join(Tenant, Tenant.id == Request.tenant_id)
    stmt = ctx.scoped(stmt.where(*conditions), Request.tenant_id)
    rows = ctx.session.execute(stmt.order_by(Request.id.desc()).limit(limit)).all()
    return _request_views(ctx, rows)


@reads
def requests_page(
    ctx: Ctx,
    *,
    tenant: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> RequestPage:
    """One page of the requests the actor may see, newest first, with the number the
    filters keep: ``tenant`` (by name), ``status`` (:data:`REQUEST_STATUSES`), ``kind``
    (:data:`REQUEST_KINDS`), ``search`` (words of the summary, in any case)."""
    _one_of(status, REQUEST_STATUSES, "request status", "status")
    _one_of(kind, REQUEST_KINDS, "request kind", "kind")
    conditions = _requests_where(ctx, tenant=tenant, status=status, kind=kind, search=search)
    count = ctx.scoped(select(func.count(Request.id)).where(*conditions), Request.tenant_id)
    total = ctx.session.scalar(count) or 0
    stmt = select(Request, Tenant.name).join(Tenant, Tenant.id == Request.tenant_id)
    stmt = ctx.scoped(stmt.where(*conditions), Request.tenant_id).order_by(Request.id.desc())
    rows = ctx.session.execute(stmt.limit(max(0, limit)).offset(max(0, offset))).all()
    return RequestPage(_request_views(ctx, rows), int(total))


@reads
def get_request(ctx: Ctx, *, request_id: int) -> RequestView:
    stmt = select(Request, Tenant.name).join(Tenant, Tenant.id == Request.tenant_id)
    stmt = ctx.scoped(stmt.where(Request.id == request_id), Request.tenant_id)
    row = ctx.session.execute(stmt).one_or_none()
    if row is None:  # another tenant's too, as if it did not exist
        raise NotFound(f"no request {request_id}")
    return _request_views(ctx, [row])[0]


def _audit_where(
    ctx: Ctx, *, tenant: str | None, action: str | None = None, actor: str | None = None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if tenant is not None:
        conditions.append(AuditEvent.tenant_id == tenant_by_name(ctx, tenant).id)
    if action and action.strip():
        conditions.append(AuditEvent.action.startswith(action.strip(), autoescape=True))
    if actor and actor.strip():
        conditions.append(_contains(AuditEvent.actor, actor))
    return conditions


def _audit_view(a: AuditEvent, tenant: str | None) -> AuditView:
    return AuditView(
        a.id, a.at, a.actor, tenant, a.action, a.object_type, a.object_id, dict(a.detail)
    )


@reads
def list_audit(ctx: Ctx, *, tenant: str | None = None, limit: int = 500) -> list[AuditView]:
    stmt = select(AuditEvent, Tenant.name).outerjoin(Tenant, Tenant.id == AuditEvent.tenant_id)
    stmt = stmt.where(*_audit_where(ctx, tenant=tenant))
    stmt = ctx.scoped(stmt, AuditEvent.tenant_id).order_by(AuditEvent.id.desc()).limit(limit)
    return [_audit_view(a, name) for a, name in ctx.session.execute(stmt)]


@reads
def audit_page(
    ctx: Ctx,
    *,
    tenant: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AuditPage:
    """One page of the audit log the actor may see (a reseller: its tenant's events),
    newest first, with the number the filters keep: ``tenant`` (by name), ``action`` (the
    action or its start: ``user.`` keeps every account event), ``actor`` (part of who
    acted, in any case)."""
    conditions = _audit_where(ctx, tenant=tenant, action=action, actor=actor)
    count = select(func.count(AuditEvent.id)).where(*conditions)
    total = ctx.session.scalar(ctx.scoped(count, AuditEvent.tenant_id)) or 0
    stmt = select(AuditEvent, Tenant.name).outerjoin(Tenant, Tenant.id == AuditEvent.tenant_id)
    stmt = ctx.scoped(stmt.where(*conditions), AuditEvent.tenant_id)
    stmt = stmt.order_by(AuditEvent.id.desc()).limit(max(0, limit)).offset(max(0, offset))
    return AuditPage([_audit_view(a, name) for a, name in ctx.session.execute(stmt)], int(total))
