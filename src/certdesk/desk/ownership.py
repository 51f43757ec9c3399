"""The use cases of ownership claims (the rules are in ``desk.claims``): which pending
claims are due for a DNS check, what to look for, recording what DNS showed, and the
claims a tenant has (pending, and closed with their message).

The DNS look-up itself runs outside any transaction (``certdesk.application.claims``);
these are its short steps in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from certdesk.desk.claims import (
    ClaimMethod,
    ClaimState,
    claim_record,
    close,
    pending_claims,
    verify,
)
from certdesk.desk.context import Ctx, NotFound, reads, tenant_by_name
from certdesk.desk.domains import find_domain
from certdesk.pki import DomainUrl
from certdesk.store.models import Domain, Tenant

# A pending claim is looked at again after 1 minute, then twice as long each time, at
# most an hour apart (as a managed domain's DNS check).
CHECK_BACKOFF = (timedelta(minutes=1), timedelta(hours=1))
CLOSED_SHOWN = 50  # the closed claims a tenant is shown, newest first


@dataclass(frozen=True, slots=True)
class ClaimView:
    url: str
    tenant: str
    claim: str  # verified | pending | closed
    record: str  # the TXT record's name: _certdesk.<hostname>
    token: str | None
    message: str | None
    method: str | None  # how it was verified: operator | dns-txt | dns-pointing
    verified_at: datetime | None
    next_check_at: datetime | None
    closed_at: datetime | None


def _claim_view(ctx: Ctx, domain: Domain) -> ClaimView:
    tenant = ctx.session.get(Tenant, domain.tenant_id)
    return ClaimView(
        url=domain.url,
        tenant=tenant.name if tenant else "?",
        claim=domain.claim,
        record=claim_record(domain.hostname),
        token=domain.claim_token if domain.claim != ClaimState.VERIFIED else None,
        message=domain.claim_message,
        method=domain.claim_method,
        verified_at=domain.claim_verified_at,
        next_check_at=domain.claim_next_at,
        closed_at=domain.removed_at if domain.claim == ClaimState.CLOSED else None,
    )


@reads
def list_claims(ctx: Ctx, *, tenant: str | None = None) -> list[ClaimView]:
    """The actor's claims that are not (or no longer) its names: pending ones, by URL,
    then the latest closed ones (another account verified the name first) with why."""
    stmt = select(Domain).where(
        Domain.claim == ClaimState.PENDING.value, Domain.removed_at.is_(None)
    )
    closed = select(Domain).where(Domain.claim == ClaimState.CLOSED.value)
    if tenant is not None:
        owner = tenant_by_name(ctx, tenant).id
        stmt = stmt.where(Domain.tenant_id == owner)
        closed = closed.where(Domain.tenant_id == owner)
    pending = ctx.session.scalars(ctx.scoped(stmt, Domain.tenant_id).order_by(Domain.url))
    ended = ctx.session.scalars(
        ctx.scoped(closed, Domain.tenant_id)
        .order_by(Domain.removed_at.desc(), Domain.id.desc())
        .limit(CLOSED_SHOWN)
    )
    return [_claim_view(ctx, d) for d in (*pending, *ended)]


@reads
def show_claim(ctx: Ctx, *, url: str, tenant: str | None = None) -> ClaimView:
    """The claim of one of the actor's domains (an operator may name the tenant); a claim
    closed since (another account verified the name) is shown closed, with why."""
    return _claim_view(ctx, _claimed(ctx, url, tenant))


def _claimed(ctx: Ctx, url: str, tenant: str | None) -> Domain:
    """The actor's (or ``tenant``'s) active row of ``url``, else its latest closed claim."""
    owner = tenant_by_name(ctx, tenant).id if tenant is not None else None
    try:
        return find_domain(ctx, url, tenant_id=owner)
    except NotFound:
        whose = owner if owner is not None else ctx.actor.tenant_id
        if whose is None:
            raise
        parsed = DomainUrl.parse(url)
        closed = ctx.session.scalars(
            ctx.scoped(
                select(Domain).where(
                    Domain.tenant_id == whose,
                    Domain.hostname == parsed.hostname,
                    Domain.port == parsed.port,
                    Domain.claim == ClaimState.CLOSED.value,
                ),
                Domain.tenant_id,
            )
            .order_by(Domain.removed_at.desc(), Domain.id.desc())
            .limit(1)
        ).first()
        if closed is None:
            raise
        return closed


@reads
def due_claims(ctx: Ctx) -> list[str]:
    """The pending claims due for a DNS check now, as unit keys (the domain's id: several
    tenants may claim one URL)."""
    stmt = (
        select(Domain.id)
        .where(
            Domain.claim == ClaimState.PENDING.value,
            Domain.removed_at.is_(None),
            Domain.claim_next_at <= ctx.now,
        )
        .order_by(Domain.claim_next_at, Domain.id)
    )
    return [str(i) for i in ctx.session.scalars(ctx.scoped(stmt, Domain.tenant_id))]


@dataclass(frozen=True, slots=True)
class ClaimCheck:
    """What a DNS check of one pending claim needs, in plain values."""

    domain_id: int
    url: str
    hostname: str
    record: str
    token: str
    rivals: int  # other tenants' pending claims of the name


@reads
def claim_to_check(
    ctx: Ctx, *, url: str | None = None, domain_id: int | None = None, tenant: str | None = None
) -> ClaimCheck | ClaimView:
    """The pending claim to look up in DNS (by URL for the actor, or by id for the
    engine); the claim as it is when it is not pending (verified, or closed meanwhile)."""
    if domain_id is not None:
        found = ctx.session.scalars(
            ctx.scoped(select(Domain).where(Domain.id == domain_id), Domain.tenant_id)
        ).one_or_none()
        if found is None:
            raise NotFound(f"no domain {domain_id}")
        domain = found
    else:
        domain = _claimed(ctx, url or "", tenant)
    if domain.claim != ClaimState.PENDING or domain.removed_at is not None:
        return _claim_view(ctx, domain)
    rivals = [d for d in pending_claims(ctx, domain.hostname, domain.port) if d.id != domain.id]
    return ClaimCheck(
        domain_id=domain.id,
        url=domain.url,
        hostname=domain.hostname,
        record=claim_record(domain.hostname),
        token=domain.claim_token or "",
        rivals=len(rivals),
    )


def _backoff(attempts: int) -> timedelta:
    first, longest = CHECK_BACKOFF
    wait: timedelta = first * (2 ** min(max(attempts - 1, 0), 16))
    return min(wait, longest)


def record_claim_check(
    ctx: Ctx, *, domain_id: int, txt: bool, pointing: bool, txt_found: str, found: str
) -> ClaimView:
    """What DNS showed for a pending claim: the TXT record held its token (``txt``), or the
    name points at the platform (``pointing``; enough only while no other tenant claims
    it). Verified: the name is the tenant's, the other claims are closed. Else the claim
    waits, told what the TXT record holds (``txt_found``), what the name points at and
    what to set there (``found``; empty when the platform's targets are not configured),
    and is looked at again later.
    A claim another account verified first meanwhile is closed."""
    domain = ctx.session.scalars(
        ctx.scoped(select(Domain).where(Domain.id == domain_id), Domain.tenant_id)
    ).one_or_none()
    if domain is None:
        raise NotFound(f"no domain {domain_id}")
    if domain.claim != ClaimState.PENDING or domain.removed_at is not None:
        return _claim_view(ctx, domain)
    owner = ctx.session.scalars(
        select(Domain.id).where(
            Domain.hostname == domain.hostname,
            Domain.port == domain.port,
            Domain.removed_at.is_(None),
            Domain.claim == ClaimState.VERIFIED.value,
        )
    ).first()
    if owner is not None:  # another account verified it first (or an operator assigned it)
        close(ctx, domain)
        return _claim_view(ctx, domain)
    rivals = [d for d in pending_claims(ctx, domain.hostname, domain.port) if d.id != domain.id]
    if txt or (pointing and not rivals):
        verify(ctx, domain, ClaimMethod.TXT if txt else ClaimMethod.POINTING)
        return _claim_view(ctx, domain)
    record = claim_record(domain.hostname)
    want = f'set the TXT record {record} to "{domain.claim_token}"'
    if pointing:  # pointing at the platform does not tell which of the claims is the owner
        message = (
            f"{domain.hostname} points at the platform, but more than one account has asked "
            f"for it: {want} to show that it is yours"
        )
    else:
        message = f"not verified yet: {want} (it holds {txt_found})"
        message += f", or point the name at the platform ({found})" if found else ""
    domain.claim_attempts += 1
    domain.claim_message = message
    domain.claim_next_at = ctx.now + _backoff(domain.claim_attempts)
    return _claim_view(ctx, domain)
