"""Checking ownership claims in DNS: the engine's ``claim.verify`` job and "check now".

For a pending claim (``certdesk.desk.claims``), the TXT record ``_certdesk.<hostname>`` is
looked up for the claim's token, and whether the name points at the platform
(``CERTDESK_PLATFORM_TARGETS``, as a managed domain's DNS check) — outside any
transaction, through the resolvers of ``CERTDESK_DNS_SERVERS`` — and what was found is
recorded by ``desk.ownership.record_claim_check``: verified (the other claims of the name
closed), or told what to set and looked at again later (1 minute, doubling to an hour).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import dns.resolver

from certdesk.acme import check_pointing, check_txt, resolver_for
from certdesk.desk.context import Actor, Desk
from certdesk.desk.ownership import (
    ClaimView,
    claim_to_check,
    due_claims,
    record_claim_check,
)

# Who checks claims by itself: the platform (an operator's reach).
CLAIMS_ACTOR = Actor(name="certdesk-claims")


@dataclass(frozen=True, slots=True)
class ClaimsConfig:
    """What checking claims takes of the settings (made by
    ``application.compose.claims_config``): the resolvers that look the records up, and
    the platform's addresses a claimed name may point at (none: only the TXT record
    shows a claim)."""

    dns_servers: tuple[str, ...]
    platform_targets: tuple[str, ...]


def due_claim_checks(desk: Desk, now: datetime) -> list[str]:
    """The unit keys (domain ids) of the pending claims due for a DNS check at ``now``."""
    with desk.context(CLAIMS_ACTOR, at=now, readonly=True) as ctx:
        return due_claims(ctx)


def check_claim(
    desk: Desk,
    config: ClaimsConfig,
    actor: Actor,
    *,
    url: str | None = None,
    domain_id: int | None = None,
    tenant: str | None = None,
    at: datetime | None = None,
    resolver: dns.resolver.Resolver | None = None,
) -> ClaimView:
    """Look up one pending claim in DNS now and record what was found; a claim that is
    not pending (verified, or closed) is answered as it is."""
    with desk.context(actor, at=at, readonly=True) as ctx:
        check = claim_to_check(ctx, url=url, domain_id=domain_id, tenant=tenant)
    if isinstance(check, ClaimView):  # not pending: verified, or closed meanwhile
        return check
    ask = resolver or resolver_for(config.dns_servers)
    txt = check_txt(check.record, check.token, ask)
    pointing = (
        check_pointing(check.hostname, config.platform_targets, ask)
        if config.platform_targets
        else None
    )
    with desk.context(actor, at=at) as ctx:
        return record_claim_check(
            ctx,
            domain_id=check.domain_id,
            txt=txt.ok,
            pointing=pointing is not None and pointing.ok,
            txt_found=txt.found,
            found=pointing.message if pointing is not None and not pointing.ok else "",
        )


def run_claim_unit(
    desk: Desk,
    config: ClaimsConfig,
    unit: str,
    now: datetime,
    *,
    resolver: dns.resolver.Resolver | None = None,
) -> str:
    """One unit of ``claim.verify``: the claim's state after its check (``verified``,
    ``pending``, ``closed``)."""
    view = check_claim(desk, config, CLAIMS_ACTOR, domain_id=int(unit), at=now, resolver=resolver)
    return view.claim
