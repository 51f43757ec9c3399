"""Monitoring in the desk: which URLs to probe, and keeping what the probes found.

A probe whose handshake completed tells what the URL *serves* — even an expired,
untrusted or wrong-name certificate — and that served certificate's expiry is the
date that counts in the reports from then on. When it serves the certificate bound to
the domain, that binding is ``installed``: the handshake proves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import zip_longest

from sqlalchemy import select

from certdesk.desk.claims import ClaimState, require_verified
from certdesk.desk.context import Ctx, reads
from certdesk.desk.domains import current_certificates, domain_url, find_domain
from certdesk.desk.installs import InstallState, proven_by_probe
from certdesk.pki import ProbeResult, ProbeTarget, to_pem
from certdesk.store.models import Binding, Domain
from certdesk.store.monitoring import DomainState, Probe

# Ids per ``IN (…)`` list: well under SQLite's and PostgreSQL's limits on parameters.
_IN_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Target:
    domain_id: int
    target: ProbeTarget


def probe_targets(
    ctx: Ctx, *, urls: Sequence[str] = (), shard: tuple[int, int] | None = None
) -> list[Target]:
    """The monitored domains (or the ``urls`` given), each with the fingerprint expected.

    ``shard=(k, n)``: only the monitored domains whose id is ``k`` modulo ``n`` (one of the
    ``n`` shards of a probe sweep), the tenants taking turns (one domain of each in turn),
    so that one tenant's thousand domains never come all before another's few."""
    if urls:
        domains = [find_domain(ctx, u) for u in urls]
        for domain in domains:  # a pending claim's site may be someone else's
            require_verified(domain, "probe")
    else:
        stmt = select(Domain).where(
            Domain.monitored.is_(True),
            Domain.removed_at.is_(None),
            Domain.claim == ClaimState.VERIFIED.value,
        )
        if shard is not None:
            index, count = shard
            stmt = stmt.where(Domain.id % count == index)
        domains = list(ctx.session.scalars(ctx.scoped(stmt, Domain.tenant_id).order_by(Domain.id)))
        if shard is not None:
            domains = _tenants_in_turn(domains)
    current = current_certificates(ctx, [d.id for d in domains])
    out: list[Target] = []
    for domain in domains:
        cert = current.get(domain.id)
        expected = cert.sha256 if cert else None
        out.append(Target(domain.id, ProbeTarget.for_url(domain_url(domain), expected)))
    return out


def _tenants_in_turn(domains: Sequence[Domain]) -> list[Domain]:
    """The first domain of each tenant, then the second of each, and so on."""
    by_tenant: dict[int, list[Domain]] = {}
    for domain in domains:
        by_tenant.setdefault(domain.tenant_id, []).append(domain)
    turns = zip_longest(*by_tenant.values())
    return [domain for turn in turns for domain in turn if domain is not None]


def record_probes(
    ctx: Ctx, results: Sequence[tuple[int, ProbeResult]], *, prove_installs: bool = True
) -> int:
    """Keep each result in the history and update each domain's latest state.

    ``prove_installs``: a domain seen serving its bound certificate has it ``installed``
    (False for an install's own proof, whose outcome the installer records itself).

    Batched, as a sweep records a shard of thousands at once: the domains, their states
    and which of them have a bound certificate not yet installed are read in a few
    queries, and the probes are inserted in one flush (not a round trip per probe)."""
    ids = list(dict.fromkeys(domain_id for domain_id, _ in results))
    states: dict[int, DomainState] = {}
    domains: dict[int, Domain] = {}
    awaiting: set[int] = set()  # domains whose current binding is not installed (yet)
    for start in range(0, len(ids), _IN_BATCH):
        chunk = ids[start : start + _IN_BATCH]
        states.update(
            (s.domain_id, s)
            for s in ctx.session.scalars(
                select(DomainState).where(DomainState.domain_id.in_(chunk))
            )
        )
        domains.update(
            (d.id, d)
            for d in ctx.session.scalars(
                ctx.scoped(select(Domain).where(Domain.id.in_(chunk)), Domain.tenant_id)
            )
        )
        if prove_installs:
            awaiting.update(
                ctx.session.scalars(
                    select(Binding.domain_id).where(
                        Binding.domain_id.in_(chunk),
                        Binding.unbound_at.is_(None),
                        Binding.install_state != InstallState.INSTALLED.value,
                    )
                )
            )
    probes = [(domain_id, result, _probe_row(domain_id, result)) for domain_id, result in results]
    ctx.session.add_all(p for _, _, p in probes)
    ctx.session.flush()  # one batch of inserts; each probe has its id after it
    for domain_id, result, probe in probes:
        leaf = result.chain[0] if result.chain else None
        state = states.get(domain_id)
        if state is None:
            state = states[domain_id] = DomainState(domain_id=domain_id)
            ctx.session.add(state)
        if state.last_probe_at is not None and state.last_probe_at > result.started_at:
            continue  # an older result arriving late does not overwrite a newer one
        state.last_probe_id = probe.id
        state.last_probe_at = result.started_at
        state.last_ok = result.ok
        state.last_error_kind = probe.error_kind
        if leaf is not None:
            state.served_probe_id = probe.id
            state.served_at = result.started_at
            state.served_sha256 = leaf.sha256
            state.served_common_name = probe.common_name
            state.served_issuer = probe.issuer
            state.served_not_after = leaf.not_after
            state.served_drift = result.drift
            domain = domains.get(domain_id)
            if domain is not None:
                domain.expires_at = leaf.not_after
                domain.expiry_source = "served"
            if prove_installs and domain_id in awaiting:
                proven_by_probe(ctx, domain_id=domain_id, sha256=leaf.sha256)
    if results:
        ctx.audit(
            "probe.record",
            "probe",
            None,
            None,
            count=len(results),
            failed=sum(not r.ok for _, r in results),
        )
    return len(results)


def _probe_row(domain_id: int, result: ProbeResult) -> Probe:
    leaf = result.chain[0] if result.chain else None
    return Probe(
        domain_id=domain_id,
        at=result.started_at,
        ok=result.ok,
        error_kind=result.error.value if result.error else None,
        error_message=result.message if not result.ok else None,
        sha256=leaf.sha256 if leaf else None,
        common_name=leaf.info.common_name if leaf else None,
        issuer=(leaf.info.issuer_common_name or leaf.info.issuer) if leaf else None,
        not_after=leaf.not_after if leaf else None,
        verified=result.trusted,
        covers_host=result.covers_host,
        drift=result.drift,
        chain_pem=to_pem([c.certificate() for c in result.chain]).decode("ascii")
        if result.chain
        else None,
    )


@dataclass(frozen=True, slots=True)
class ProbeView:
    url: str
    at: datetime
    ok: bool
    error: str | None
    message: str | None
    sha256: str | None
    not_after: datetime | None
    drift: bool | None


@reads
def probe_history(ctx: Ctx, *, url: str, limit: int = 50) -> list[ProbeView]:
    domain = find_domain(ctx, url)
    rows = ctx.session.scalars(
        select(Probe)
        .where(Probe.domain_id == domain.id)
        .order_by(Probe.at.desc(), Probe.id.desc())
        .limit(limit)
    )
    return [
        ProbeView(
            domain.url, p.at, p.ok, p.error_kind, p.error_message, p.sha256, p.not_after, p.drift
        )
        for p in rows
    ]
