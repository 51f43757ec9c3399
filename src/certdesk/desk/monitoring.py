"""Monitoring in the desk: which URLs to probe, and keeping what the probes found.

A probe whose handshake completed tells what the URL *serves* — even an expired,
untrusted or wrong-name certificate — and that served certificate's expiry is the
date that counts in the reports from then on. When it serves the certificate bound to
the domain, that binding is ``installed``: the handshake proves it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import zip_longest
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Table, select

from certdesk.desk.claims import ClaimState, require_verified
from certdesk.desk.context import Ctx, reads
from certdesk.desk.domains import current_certificates, domain_url, find_domain
from certdesk.desk.installs import InstallState, proven_by_probe
from certdesk.pki import Address, ProbeResult, ProbeTarget, to_pem
from certdesk.store.db import insert_all, insert_new, one_of, update_rows
from certdesk.store.models import Binding, CertificateRecord, Domain
from certdesk.store.monitoring import DomainState, Probe, ServedChain

# Ids per ``IN (…)`` list: well under SQLite's and PostgreSQL's limits on parameters.
_IN_BATCH = 1000


class _OfTenant(Protocol):
    @property
    def tenant_id(self) -> int: ...


T = TypeVar("T", bound=_OfTenant)


@dataclass(frozen=True, slots=True)
class Target:
    domain_id: int
    target: ProbeTarget


def probe_targets(
    ctx: Ctx, *, urls: Sequence[str] = (), shard: tuple[int | range, int] | None = None
) -> list[Target]:
    """The monitored domains (or the ``urls`` given), each with the fingerprint expected.

    ``shard=(k, n)``: only the monitored domains whose id is ``k`` modulo ``n``, or one of
    the residues ``k`` when it is a range (a unit of a probe sweep), the tenants taking
    turns (one domain of each in turn), so that one tenant's thousand domains never come
    all before another's few.

    The monitored domains are read in one query of plain rows (a sweep's shard holds
    thousands): each domain with its bound certificate's fingerprint, its URL made of
    the parts stored when the domain was added (the URL in its one form, host, port:
    written by :class:`~certdesk.pki.DomainUrl` then), each distinct connect-to address
    read once."""
    if urls:
        domains = [find_domain(ctx, u) for u in urls]
        for domain in domains:  # a pending claim's site may be someone else's
            require_verified(domain, "probe")
        current = current_certificates(ctx, [d.id for d in domains])
        return [
            Target(d.id, ProbeTarget.for_url(domain_url(d), c.sha256 if c else None))
            for d in domains
            for c in [current.get(d.id)]
        ]
    stmt = (
        select(
            Domain.id,
            Domain.tenant_id,
            Domain.url,
            Domain.hostname,
            Domain.port,
            Domain.connect_to,
            CertificateRecord.sha256,
        )
        .outerjoin(Binding, (Binding.domain_id == Domain.id) & Binding.unbound_at.is_(None))
        .outerjoin(CertificateRecord, CertificateRecord.id == Binding.certificate_id)
        .where(
            Domain.monitored.is_(True),
            Domain.removed_at.is_(None),
            Domain.claim == ClaimState.VERIFIED.value,
        )
    )
    if shard is not None:
        residues, count = shard
        if isinstance(residues, range):
            stmt = stmt.where((Domain.id % count).between(residues[0], residues[-1]))
        else:
            stmt = stmt.where(Domain.id % count == residues)
    # One row per domain (the last of its current bindings, as current_certificates).
    rows = list(
        {row.id: row for row in ctx.session.execute(ctx.scoped(stmt, Domain.tenant_id))}.values()
    )
    rows.sort(key=lambda row: row.id)
    if shard is not None:
        rows = _tenants_in_turn(rows)
    addresses: dict[str, tuple[str, int]] = {}
    out: list[Target] = []
    for row in rows:
        connect_to: tuple[str, int] | None = None
        if row.connect_to:
            connect_to = addresses.get(row.connect_to)
            if connect_to is None:
                connect_to = addresses[row.connect_to] = Address.parse(row.connect_to).pair
        target = ProbeTarget(row.url, row.hostname, row.port, connect_to, row.sha256)
        out.append(Target(row.id, target))
    return out


def _tenants_in_turn(domains: Sequence[T]) -> list[T]:
    """The first domain of each tenant, then the second of each, and so on."""
    by_tenant: dict[int, list[T]] = {}
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
    queries; the probes and the new states are inserted in one batch each
    (:func:`insert_all`: a ``COPY`` on PostgreSQL), the states and
    the domains' expiry updated in one statement per kind of change (:func:`update_rows`:
    one ``UPDATE … FROM unnest`` on PostgreSQL; plain rows, no ORM objects); each
    distinct served chain is made into PEM once and stored once, in ``served_chains``,
    which the probes refer to (:func:`_served_chain_ids`)."""
    ids = list(dict.fromkeys(domain_id for domain_id, _ in results))
    latest: dict[int, datetime | None] = {}  # each domain's state: its latest probe's instant
    # The domains the actor may change, with their expiry and its source as stored: a
    # domain whose served expiry is already its expiry is not written again (the usual
    # case, sweep after sweep; each write of a domain row is a new row version).
    visible: dict[int, tuple[datetime | None, str | None]] = {}
    awaiting: set[int] = set()  # domains whose current binding is not installed (yet)
    for start in range(0, len(ids), _IN_BATCH):
        chunk = ids[start : start + _IN_BATCH]
        latest.update(
            (domain_id, at)
            for domain_id, at in ctx.session.execute(
                select(DomainState.domain_id, DomainState.last_probe_at).where(
                    one_of(ctx.session, DomainState.domain_id, chunk)
                )
            )
        )
        visible.update(
            (domain_id, (expires_at, source))
            for domain_id, expires_at, source in ctx.session.execute(
                ctx.scoped(
                    select(Domain.id, Domain.expires_at, Domain.expiry_source).where(
                        one_of(ctx.session, Domain.id, chunk)
                    ),
                    Domain.tenant_id,
                )
            )
        )
        if prove_installs:
            awaiting.update(
                ctx.session.scalars(
                    select(Binding.domain_id).where(
                        one_of(ctx.session, Binding.domain_id, chunk),
                        Binding.unbound_at.is_(None),
                        Binding.install_state != InstallState.INSTALLED.value,
                    )
                )
            )
    pems: dict[tuple[bytes, ...], str] = {}
    chains = [_chain_pem(result, pems) for _, result in results]
    chain_ids = _served_chain_ids(ctx, results, chains)
    rows = [
        _probe_row(domain_id, result, None if pem is None else chain_ids[pem])
        for (domain_id, result), pem in zip(results, chains, strict=True)
    ]
    insert_all(ctx.session, _PROBES, rows)
    fresh: dict[int, dict[str, Any]] = {}  # states to create
    changed: dict[int, dict[str, Any]] = {}  # states to update: the columns that change
    expiry: dict[int, datetime] = {}  # domains whose expiry is now the served one
    proofs: dict[int, str] = {}
    for (domain_id, result), row in zip(results, rows, strict=True):
        if domain_id in latest:
            seen = latest[domain_id]
            if seen is not None and seen > result.started_at:
                continue  # an older result arriving late does not overwrite a newer one
            values = changed.setdefault(domain_id, {})
        else:
            values = fresh.setdefault(domain_id, dict.fromkeys(_STATE_COLUMNS))
        latest[domain_id] = result.started_at
        values |= {
            "last_probe_at": result.started_at,
            "last_ok": result.ok,
            "last_error_kind": row["error_kind"],
        }
        leaf = result.chain[0] if result.chain else None
        if leaf is not None:
            values |= {
                "served_at": result.started_at,
                "served_sha256": leaf.sha256,
                "served_common_name": row["common_name"],
                "served_issuer": row["issuer"],
                "served_not_after": leaf.not_after,
                "served_drift": result.drift,
            }
            if domain_id in visible:
                if visible[domain_id] == (leaf.not_after, "served"):
                    expiry.pop(domain_id, None)  # as stored (an earlier result may differ)
                else:
                    expiry[domain_id] = leaf.not_after
            if prove_installs and domain_id in awaiting:
                proofs[domain_id] = leaf.sha256
    insert_all(ctx.session, _STATES, [{"domain_id": k, **v} for k, v in fresh.items()])
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for domain_id, values in changed.items():
        by_columns.setdefault(tuple(values), []).append({"domain_id": domain_id, **values})
    for params in by_columns.values():
        update_rows(ctx.session, _STATES, "domain_id", params)
    # Only domains the scoped query above returned (``visible``).
    update_rows(
        ctx.session,
        _DOMAINS,
        "id",
        [{"id": k, "expires_at": v, "expiry_source": "served"} for k, v in expiry.items()],
    )
    for domain_id, sha256 in proofs.items():
        proven_by_probe(ctx, domain_id=domain_id, sha256=sha256)
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


_PROBES = cast(Table, Probe.__table__)
_CHAINS = cast(Table, ServedChain.__table__)
_STATES = cast(Table, DomainState.__table__)
_DOMAINS = cast(Table, Domain.__table__)
_STATE_COLUMNS = tuple(c.name for c in _STATES.columns if c.name != "domain_id")


def _chain_pem(result: ProbeResult, pems: dict[tuple[bytes, ...], str]) -> str | None:
    """The chain ``result`` read as PEM, leaf first (None if no handshake completed);
    ``pems``: the PEM of each distinct chain of the batch, made once."""
    if not result.chain:
        return None
    ders = tuple(c.der for c in result.chain)
    pem = pems.get(ders)
    if pem is None:
        pem = pems[ders] = to_pem([c.certificate() for c in result.chain]).decode("ascii")
    return pem


def _served_chain_ids(
    ctx: Ctx, results: Sequence[tuple[int, ProbeResult]], chains: Sequence[str | None]
) -> dict[str, int]:
    """The ``served_chains`` id of each distinct chain (PEM) of ``chains``, the chains
    ``results`` served, each stored if it is new (first seen at the earliest probe of the
    batch that served it).

    The stored ones are found by their SHA-256 in one query (a URL serves the same chain
    sweep after sweep: usually all of them), the new ones inserted in one statement that
    skips any that another process has just inserted (:func:`insert_new`: two replicas
    may record one new chain at once), then read again."""
    first: dict[str, datetime] = {}
    for (_, result), pem in zip(results, chains, strict=True):
        if pem is not None and (pem not in first or result.started_at < first[pem]):
            first[pem] = result.started_at
    by_hash = {hashlib.sha256(pem.encode("ascii")).hexdigest(): pem for pem in first}
    session = ctx.session

    def stored(hashes: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(hashes), _IN_BATCH):
            chunk = hashes[start : start + _IN_BATCH]
            found.update(
                (by_hash[sha256], chain_id)
                for sha256, chain_id in session.execute(
                    select(ServedChain.sha256, ServedChain.id).where(
                        one_of(session, ServedChain.sha256, chunk)
                    )
                )
            )
        return found

    ids = stored(list(by_hash))
    # In the order of their hashes: two transactions inserting the same new chains wait
    # for each other in one order, never each for the other (a deadlock on PostgreSQL).
    new = sorted(sha256 for sha256, pem in by_hash.items() if pem not in ids)
    if new:
        rows = [
            {"sha256": h, "chain_pem": by_hash[h], "first_seen_at": first[by_hash[h]]} for h in new
        ]
        insert_new(session, _CHAINS, "sha256", rows)
        ids |= stored(new)
    return ids


def _probe_row(domain_id: int, result: ProbeResult, chain_id: int | None) -> dict[str, Any]:
    """A row of ``probes``; ``chain_id``: the chain it served (:func:`_served_chain_ids`)."""
    leaf = result.chain[0] if result.chain else None
    return {
        "domain_id": domain_id,
        "at": result.started_at,
        "ok": result.ok,
        "error_kind": result.error.value if result.error else None,
        "error_message": result.message if not result.ok else None,
        "sha256": leaf.sha256 if leaf else None,
        "common_name": leaf.info.common_name if leaf else None,
        "issuer": (leaf.info.issuer_common_name or leaf.info.issuer) if leaf else None,
        "not_after": leaf.not_after if leaf else None,
        "verified": result.trusted,
        "covers_host": result.covers_host,
        "drift": result.drift,
        "chain_id": chain_id,
    }


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
