"""Ownership claims of custom domains: who a name belongs to.

Without them, the first reseller to add a name owned it, and the real owner met a
``conflict`` ever after. With domain verification on (``Policy.claims``), a reseller's
new name is a *pending* claim: it blocks nobody, and several tenants may hold one for
the same name. A claim becomes *verified* when DNS shows it is the tenant's — the TXT
record ``_certdesk.<hostname>`` holds the claim's token, or the name points at the
platform while no other tenant claims it — or when an operator assigns the name. The
first to verify owns it: every other pending claim for the name is *closed* (removed,
with a message its tenant reads, and an audit event in its log).

Until a claim is verified nothing is done for the name on the platform: no install on
the terminators (the binding stays ``stored``, :data:`HELD_REASON`), no ACME order, no
probe, no report. This module holds the rules on rows; ``desk.ownership`` the use cases.
"""

from __future__ import annotations

import enum
import secrets

from sqlalchemy import select

from certdesk.desk.context import Ctx, OwnershipNotVerified
from certdesk.fixes import Action, fix
from certdesk.store.models import Binding, Domain

CLAIM_LABEL = "_certdesk"
HELD_REASON = "ownership not verified yet"


class ClaimState(enum.StrEnum):
    VERIFIED = "verified"
    PENDING = "pending"
    CLOSED = "closed"


class ClaimMethod(enum.StrEnum):
    OPERATOR = "operator"  # an operator assigned the name
    TXT = "dns-txt"  # the TXT record held the claim's token
    POINTING = "dns-pointing"  # the name pointed at the platform, no other claim for it
    UNCHECKED = "unchecked"  # verification is off: the first to add the name has it


def claim_record(hostname: str) -> str:
    """The TXT record's name that proves a claim of ``hostname``."""
    return f"{CLAIM_LABEL}.{hostname}"


def new_token() -> str:
    """A claim's token: random, for one claim (public once in DNS; never reused)."""
    return "certdesk-" + secrets.token_urlsafe(24)


def start_claim(ctx: Ctx, domain: Domain) -> None:
    """Set the claim of a new ``domain``: pending for a reseller when verification is on
    (checked by the engine from now on), else verified at once (an operator's assignment,
    or no verification)."""
    if ctx.policy.claims and not ctx.actor.is_operator:
        domain.claim = ClaimState.PENDING.value
        domain.claim_token = new_token()
        domain.claim_next_at = ctx.now
        domain.claim_attempts = 0
        pointing = f" ({ctx.policy.pointing})" if ctx.policy.pointing else ""
        domain.claim_message = (
            f"not verified yet: set the TXT record {claim_record(domain.hostname)} to "
            f"{domain.claim_token}, or point {domain.hostname} at the platform{pointing}"
        )
        return
    method = ClaimMethod.OPERATOR if ctx.policy.claims else ClaimMethod.UNCHECKED
    domain.claim = ClaimState.VERIFIED.value
    domain.claim_method = method.value
    domain.claim_verified_at = ctx.now


def pending_claims(ctx: Ctx, hostname: str, port: int) -> list[Domain]:
    """Every active pending claim of ``hostname:port`` (any tenant's), oldest first."""
    return list(
        ctx.session.scalars(
            select(Domain)
            .where(
                Domain.hostname == hostname,
                Domain.port == port,
                Domain.removed_at.is_(None),
                Domain.claim == ClaimState.PENDING.value,
            )
            .order_by(Domain.id)
        )
    )


def verify(ctx: Ctx, domain: Domain, method: ClaimMethod) -> list[Domain]:
    """``domain``'s claim is verified now: the name is its tenant's. Every other pending
    claim of the name is closed; returns them. Its held installs become due."""
    domain.claim = ClaimState.VERIFIED.value
    domain.claim_method = method.value
    domain.claim_verified_at = ctx.now
    domain.claim_next_at = None
    domain.claim_message = None
    ctx.session.flush()  # the one-owner index decides now, before the others are closed
    closed = [
        other
        for other in pending_claims(ctx, domain.hostname, domain.port)
        if other.id != domain.id
    ]
    for other in closed:
        close(ctx, other)
    for binding in ctx.session.scalars(
        select(Binding).where(Binding.domain_id == domain.id, Binding.unbound_at.is_(None))
    ):
        if binding.install_state == "stored" and binding.install_reason == HELD_REASON:
            binding.install_reason = None
            if ctx.policy.installs:
                binding.install_next_at = ctx.now  # the install retry takes it up
    ctx.audit(
        "domain.claim-verified",
        "domain",
        domain.id,
        domain.tenant_id,
        url=domain.url,
        method=method.value,
    )
    return closed


def close(ctx: Ctx, domain: Domain) -> None:
    """Another account verified the name first: this pending claim is closed (removed),
    with the message its tenant reads; certificates bound to it are unbound."""
    domain.claim = ClaimState.CLOSED.value
    domain.claim_message = (
        f"{domain.hostname} was verified by another account; your claim of it is closed. "
        "If the name is yours, ask the platform's operators"
    )
    domain.claim_next_at = None
    domain.removed_at = ctx.now
    domain.monitored = False
    for binding in ctx.session.scalars(
        select(Binding).where(Binding.domain_id == domain.id, Binding.unbound_at.is_(None))
    ):
        binding.unbound_at = ctx.now
    ctx.audit(
        "domain.claim-closed",
        "domain",
        domain.id,
        domain.tenant_id,
        url=domain.url,
        message=domain.claim_message,
    )


def require_verified(domain: Domain, doing: str) -> None:
    """Refuse ``doing`` (``install``, ``order a certificate for``, ``probe``…) for a
    pending claim: nothing is done on the platform for a name not shown to be yours."""
    if domain.claim != ClaimState.VERIFIED.value:
        raise OwnershipNotVerified(
            f"certdesk does not {doing} {domain.url} yet: its ownership is not verified "
            f"(set the TXT record {claim_record(domain.hostname)} to {domain.claim_token}, "
            f"or point {domain.hostname} at the platform)",
            fix=fix(Action.VERIFY_CLAIM, url=domain.url),
        )
