"""Probe now, queued: a request is answered at once with its id and run later by the
probe worker of ``certdesk serve`` (``certdesk.application.probe_worker``).

A tenant's requests are deduplicated (the same URLs still queued or running: that request
again) and limited (``MAX_OPEN`` queued or running, ``MAX_PER_HOUR`` made in an hour; more
is ``rate-limited``). The worker runs at most one request of a tenant at a time, so one
tenant's thousand domains never hold up the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import func, or_, select, update

from certdesk.desk.claims import require_verified
from certdesk.desk.context import Ctx, NotFound, reads
from certdesk.desk.domains import find_domain
from certdesk.errors import RateLimited
from certdesk.fixes import Action, fix
from certdesk.store.monitoring import ProbeRequest

MAX_OPEN = 3  # queued or running, per tenant
MAX_PER_HOUR = 30  # made, per tenant
LEASE = timedelta(minutes=30)  # a running request whose worker died is run again after it


class ProbeRateLimited(RateLimited):
    code: ClassVar[str] = "rate-limited"


@dataclass(frozen=True, slots=True)
class ProbeRequestView:
    id: int
    status: str  # queued | running | done | failed
    urls: tuple[str, ...]  # empty: every monitored URL of the tenant (or the platform)
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    targets: int
    ok: int
    results: tuple[dict[str, Any], ...] | None
    error: str | None
    deduplicated: bool = False


def _view(row: ProbeRequest, *, deduplicated: bool = False) -> ProbeRequestView:
    return ProbeRequestView(
        row.id,
        row.status,
        tuple(row.urls),
        row.created_at,
        row.started_at,
        row.finished_at,
        row.targets,
        row.ok,
        tuple(row.results) if row.results is not None else None,
        row.error,
        deduplicated,
    )


def request_probe(ctx: Ctx, *, urls: Sequence[str] = ()) -> ProbeRequestView:
    """Queue a probe of ``urls`` (each one of the caller's domains; none: all of them)."""
    domains = [find_domain(ctx, u) for u in urls]  # not-found: not yours
    for domain in domains:  # a pending claim's site may be someone else's: not probed
        require_verified(domain, "probe")
    names = sorted({domain.url for domain in domains})
    tenant_id = ctx.actor.tenant_id
    key = hashlib.sha256(f"{tenant_id}|{'|'.join(names)}".encode()).hexdigest()
    same_tenant = (
        ProbeRequest.tenant_id.is_(None)
        if tenant_id is None
        else ProbeRequest.tenant_id == tenant_id
    )
    open_rows = list(
        ctx.session.scalars(
            select(ProbeRequest)
            .where(same_tenant, ProbeRequest.status.in_(("queued", "running")))
            .order_by(ProbeRequest.id)
        )
    )
    for row in open_rows:
        if row.key == key and row.status == "queued":
            return _view(row, deduplicated=True)
    if len(open_rows) >= MAX_OPEN:
        raise ProbeRateLimited(
            f"{len(open_rows)} probe requests are still waiting or running",
            fix=fix(Action.WAIT_PROBES),
        )
    made = ctx.session.scalar(
        select(func.count(ProbeRequest.id)).where(
            same_tenant, ProbeRequest.created_at > ctx.now - timedelta(hours=1)
        )
    )
    if (made or 0) >= MAX_PER_HOUR:
        raise ProbeRateLimited(
            f"{made} probe requests were made in the last hour, the most allowed",
            hint="certdesk probes every monitored URL by itself; try again later",
        )
    row = ProbeRequest(
        tenant_id=tenant_id,
        requested_by=ctx.actor.name,
        urls=names,
        key=key,
        status="queued",
        created_at=ctx.now,
        targets=0,
        ok=0,
    )
    ctx.session.add(row)
    ctx.session.flush()
    ctx.audit("probe.request", "probe_request", row.id, tenant_id, urls=names)
    return _view(row)


@reads
def get_probe_request(ctx: Ctx, *, request_id: int) -> ProbeRequestView:
    row = ctx.session.get(ProbeRequest, request_id)
    if row is None or not (ctx.actor.is_operator or row.tenant_id == ctx.actor.tenant_id):
        raise NotFound(f"no probe request {request_id}")
    return _view(row)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    tenant_id: int | None
    requested_by: str
    urls: tuple[str, ...]


def claim_probe_request(ctx: Ctx, *, worker: str) -> Claimed | None:
    """The oldest queued request of a tenant that has none running (or a running one whose
    worker died), now running for ``worker``; None when there is nothing to run."""
    stale = ctx.now - LEASE
    busy = (
        select(ProbeRequest.tenant_id)
        .where(
            ProbeRequest.status == "running",
            ProbeRequest.started_at > stale,
            ProbeRequest.tenant_id.is_not(None),
        )
        .scalar_subquery()
    )
    operators_busy = ctx.session.scalar(
        select(func.count(ProbeRequest.id)).where(
            ProbeRequest.status == "running",
            ProbeRequest.started_at > stale,
            ProbeRequest.tenant_id.is_(None),
        )
    )
    candidates = ctx.session.scalars(
        select(ProbeRequest)
        .where(
            or_(
                ProbeRequest.status == "queued",
                (ProbeRequest.status == "running") & (ProbeRequest.started_at <= stale),
            ),
            or_(ProbeRequest.tenant_id.is_(None), ProbeRequest.tenant_id.not_in(busy)),
        )
        .order_by(ProbeRequest.created_at, ProbeRequest.id)
        .limit(20)
    )
    for row in candidates:
        if row.tenant_id is None and operators_busy and row.status == "queued":
            continue
        taken = ctx.session.execute(
            update(ProbeRequest)
            .where(ProbeRequest.id == row.id, ProbeRequest.status == row.status)
            .where(
                ProbeRequest.started_at.is_(None)
                if row.started_at is None
                else ProbeRequest.started_at == row.started_at
            )
            .values(status="running", claimed_by=worker, started_at=ctx.now)
            .execution_options(synchronize_session=False)
        )
        if getattr(taken, "rowcount", 0) == 1:
            return Claimed(row.id, row.tenant_id, row.requested_by, tuple(row.urls))
    return None


def finish_probe_request(
    ctx: Ctx,
    *,
    request_id: int,
    worker: str,
    results: Sequence[dict[str, Any]] | None,
    error: str | None = None,
) -> None:
    row = ctx.session.get(ProbeRequest, request_id)
    if row is None or row.claimed_by != worker or row.status != "running":
        return  # taken over meanwhile
    row.status = "failed" if error else "done"
    row.finished_at = ctx.now
    row.error = error[:2000] if error else None
    row.results = list(results) if results is not None else None
    row.targets = len(results or ())
    row.ok = sum(1 for r in results or () if r.get("ok"))
