"""On-demand work, queued: "probe now" and "install now" are answered at once with a
request id and run later by the on-demand workers of ``certdesk serve``
(``certdesk.application.on_demand``).

One durable queue (the ``work_requests`` table) for every kind (:class:`WorkKind`):

- a tenant's requests are deduplicated: the same kind and URLs still queued is that
  request again;
- probes are limited (``MAX_OPEN`` queued or running, ``MAX_PER_HOUR`` made in an hour;
  more is ``rate-limited``); installs are not (each follows a certificate that was
  stored, or a "retry now" of one, and the dedupe keeps one waiting per URL set);
- a worker runs at most one request of a tenant and kind at a time, so one tenant's
  thousand domains never hold up the others, and a probe never holds up an install
  (across processes this is best effort: two claims in the same instant may each take
  one of a tenant's requests; one request is never claimed twice);
- a claimed request is *leased*: its worker renews the lease while it works
  (:func:`renew_lease`); a request whose lease has passed (its process died) is taken
  over by another worker, at most :data:`MAX_ATTEMPTS` times in all, then it is
  ``failed`` with the reason.

Every reader sees only its own tenant's requests (``Ctx.scoped``).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import func, or_, select, update

from certdesk.desk.claims import require_verified
from certdesk.desk.context import Ctx, NotFound, reads
from certdesk.desk.domains import find_domain
from certdesk.errors import InvalidArgument, RateLimited
from certdesk.fixes import Action, fix
from certdesk.store.jobs import WorkRequest

MAX_OPEN = 3  # probe requests queued or running, per tenant
MAX_PER_HOUR = 30  # probe requests made, per tenant
# How long a claim holds without its worker renewing it (every third of it while it works).
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 3  # claims of one request (the first, and takeovers) before it is failed


class WorkKind(enum.StrEnum):
    """What a work request asks for."""

    PROBE = "probe"
    INSTALL = "install"


class WorkStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


OPEN = (WorkStatus.QUEUED.value, WorkStatus.RUNNING.value)


class ProbeRateLimited(RateLimited):
    code: ClassVar[str] = "rate-limited"


@dataclass(frozen=True, slots=True)
class WorkRequestView:
    id: int
    kind: str  # probe | install
    status: str  # queued | running | done | failed
    urls: tuple[str, ...]  # a probe's empty: every monitored URL of the tenant (or platform)
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    targets: int
    ok: int
    results: tuple[dict[str, Any], ...] | None
    error: str | None
    deduplicated: bool = False

    @property
    def finished(self) -> bool:
        return self.status in (WorkStatus.DONE, WorkStatus.FAILED)


def _view(row: WorkRequest, *, deduplicated: bool = False) -> WorkRequestView:
    return WorkRequestView(
        row.id,
        row.kind,
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


def _same_tenant(tenant_id: int | None) -> Any:
    return (
        WorkRequest.tenant_id.is_(None) if tenant_id is None else WorkRequest.tenant_id == tenant_id
    )


def _queue(ctx: Ctx, kind: WorkKind, names: list[str]) -> tuple[WorkRequestView | None, str]:
    """The request still queued for the same kind, tenant and URLs (or None), and the key."""
    tenant_id = ctx.actor.tenant_id
    text = "|".join(names)
    key = hashlib.sha256(f"{kind.value}|{tenant_id}|{text}".encode()).hexdigest()
    same = ctx.session.scalars(
        select(WorkRequest)
        .where(
            WorkRequest.kind == kind.value,
            WorkRequest.key == key,
            WorkRequest.status == WorkStatus.QUEUED.value,
            _same_tenant(tenant_id),
        )
        .order_by(WorkRequest.id)
        .limit(1)
    ).one_or_none()
    return (_view(same, deduplicated=True) if same is not None else None), key


def _add(ctx: Ctx, kind: WorkKind, names: list[str], key: str) -> WorkRequestView:
    row = WorkRequest(
        kind=kind.value,
        tenant_id=ctx.actor.tenant_id,
        requested_by=ctx.actor.name,
        urls=names,
        key=key,
        status=WorkStatus.QUEUED.value,
        created_at=ctx.now,
        attempts=0,
        targets=0,
        ok=0,
    )
    ctx.session.add(row)
    ctx.session.flush()
    ctx.audit(f"{kind.value}.request", "work_request", row.id, ctx.actor.tenant_id, urls=names)
    return _view(row)


def request_probe(ctx: Ctx, *, urls: Sequence[str] = ()) -> WorkRequestView:
    """Queue a probe of ``urls`` (each one of the caller's domains; none: all of them)."""
    domains = [find_domain(ctx, u) for u in urls]  # not-found: not yours
    for domain in domains:  # a pending claim's site may be someone else's: not probed
        require_verified(domain, "probe")
    names = sorted({domain.url for domain in domains})
    same, key = _queue(ctx, WorkKind.PROBE, names)
    if same is not None:
        return same
    open_now = ctx.session.scalar(
        select(func.count(WorkRequest.id)).where(
            WorkRequest.kind == WorkKind.PROBE.value,
            WorkRequest.status.in_(OPEN),
            _same_tenant(ctx.actor.tenant_id),
        )
    )
    if (open_now or 0) >= MAX_OPEN:
        raise ProbeRateLimited(
            f"{open_now} probe requests are still waiting or running",
            fix=fix(Action.WAIT_PROBES),
        )
    made = ctx.session.scalar(
        select(func.count(WorkRequest.id)).where(
            WorkRequest.kind == WorkKind.PROBE.value,
            _same_tenant(ctx.actor.tenant_id),
            WorkRequest.created_at > ctx.now - timedelta(hours=1),
        )
    )
    if (made or 0) >= MAX_PER_HOUR:
        raise ProbeRateLimited(
            f"{made} probe requests were made in the last hour, the most allowed",
            hint="certdesk probes every monitored URL by itself; try again later",
        )
    return _add(ctx, WorkKind.PROBE, names, key)


def request_install(ctx: Ctx, *, urls: Sequence[str]) -> WorkRequestView:
    """Queue the install (deploy and handshake proof) of the certificates bound to
    ``urls`` (each one of the caller's domains): after an upload, or "retry now"."""
    names = sorted({find_domain(ctx, u).url for u in urls})  # not-found: not yours
    if not names:
        raise InvalidArgument("an install needs at least one URL", field="url")
    same, key = _queue(ctx, WorkKind.INSTALL, names)
    if same is not None:
        return same
    return _add(ctx, WorkKind.INSTALL, names, key)


@reads
def get_work_request(ctx: Ctx, *, request_id: int, kind: WorkKind | None = None) -> WorkRequestView:
    """One of the caller's requests (of ``kind``); another tenant's is ``not-found``."""
    stmt = select(WorkRequest).where(WorkRequest.id == request_id)
    if kind is not None:
        stmt = stmt.where(WorkRequest.kind == kind.value)
    row = ctx.session.scalars(ctx.scoped(stmt, WorkRequest.tenant_id)).one_or_none()
    if row is None:
        what = f"{kind.value} request" if kind is not None else "request"
        raise NotFound(f"no {what} {request_id}")
    return _view(row)


@reads
def get_probe_request(ctx: Ctx, *, request_id: int) -> WorkRequestView:
    return get_work_request(ctx, request_id=request_id, kind=WorkKind.PROBE)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    kind: WorkKind
    tenant_id: int | None
    requested_by: str
    urls: tuple[str, ...]
    attempt: int  # 1: the first claim; more: taken over from a worker that stopped


def claim_work(
    ctx: Ctx,
    *,
    worker: str,
    kinds: Sequence[WorkKind] = tuple(WorkKind),
    lease: timedelta = LEASE,
) -> Claimed | None:
    """The oldest request of ``kinds`` that is queued, or running under a lease that has
    passed, of a tenant with none of that kind running; now running for ``worker`` until
    ``now + lease``. None when there is nothing to run.

    A request taken over :data:`MAX_ATTEMPTS` times already is failed instead: a
    request that stops its process each time is not run for ever.
    """
    now = ctx.now
    wanted = [k.value for k in kinds]
    busy = {
        (tenant, kind)
        for tenant, kind in ctx.session.execute(
            select(WorkRequest.tenant_id, WorkRequest.kind)
            .where(
                WorkRequest.status == WorkStatus.RUNNING.value,
                WorkRequest.lease_until > now,
                WorkRequest.kind.in_(wanted),
            )
            .distinct()
        )
    }
    candidates = ctx.session.scalars(
        select(WorkRequest)
        .where(
            WorkRequest.kind.in_(wanted),
            or_(
                WorkRequest.status == WorkStatus.QUEUED.value,
                (WorkRequest.status == WorkStatus.RUNNING.value) & (WorkRequest.lease_until <= now),
            ),
        )
        .order_by(WorkRequest.created_at, WorkRequest.id)
        .limit(50)
    ).all()
    for row in candidates:
        if (row.tenant_id, row.kind) in busy:
            continue
        held = (
            WorkRequest.id == row.id,
            WorkRequest.status == row.status,
            WorkRequest.attempts == row.attempts,
        )
        if row.attempts >= MAX_ATTEMPTS:  # taken over too often: failed, not run again
            ctx.session.execute(
                update(WorkRequest)
                .where(*held)
                .values(
                    status=WorkStatus.FAILED.value,
                    finished_at=now,
                    error=f"the process running it stopped {row.attempts} times; not tried again",
                )
                .execution_options(synchronize_session=False)
            )
            continue
        taken = ctx.session.execute(
            update(WorkRequest)
            .where(*held)
            .values(
                status=WorkStatus.RUNNING.value,
                claimed_by=worker,
                started_at=now,
                lease_until=now + lease,
                attempts=row.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(taken, "rowcount", 0) == 1:
            return Claimed(
                row.id,
                WorkKind(row.kind),
                row.tenant_id,
                row.requested_by,
                tuple(row.urls),
                row.attempts + 1,
            )
    return None


def renew_lease(ctx: Ctx, *, request_id: int, worker: str, lease: timedelta = LEASE) -> bool:
    """``worker`` still runs the request: its lease runs ``lease`` from now. False when it
    was taken over meanwhile (the worker was too slow to renew)."""
    renewed = ctx.session.execute(
        update(WorkRequest)
        .where(
            WorkRequest.id == request_id,
            WorkRequest.claimed_by == worker,
            WorkRequest.status == WorkStatus.RUNNING.value,
        )
        .values(lease_until=ctx.now + lease)
        .execution_options(synchronize_session=False)
    )
    return getattr(renewed, "rowcount", 0) == 1


def finish_work(
    ctx: Ctx,
    *,
    request_id: int,
    worker: str,
    results: Sequence[dict[str, Any]] | None,
    error: str | None = None,
) -> bool:
    """Record what ``worker`` did; False (nothing recorded) when another worker took the
    request over meanwhile."""
    row = ctx.session.get(WorkRequest, request_id, with_for_update=True)
    if row is None or row.claimed_by != worker or row.status != WorkStatus.RUNNING.value:
        return False
    row.status = WorkStatus.FAILED.value if error else WorkStatus.DONE.value
    row.finished_at = ctx.now
    row.lease_until = None
    row.error = error[:2000] if error else None
    row.results = list(results) if results is not None else None
    row.targets = len(results or ())
    row.ok = sum(1 for r in results or () if r.get("ok"))
    return True
