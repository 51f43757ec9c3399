"""Probing the monitored URLs and keeping what they serve: one function for every caller
(``certdesk probe``, the on-demand workers that run the API's and the portal's "probe now"
requests, and the probe sweeps of the job engine)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from certdesk import clock
from certdesk.desk.context import Actor, Ctx, Desk
from certdesk.desk.monitoring import probe_targets, record_probes
from certdesk.monitor import ProbeResult, probe_all


@dataclass(frozen=True, slots=True)
class ProbeConfig:
    """What probing takes of the settings (made by ``application.compose.probe_config``):
    at most ``concurrency`` handshakes at once, each within ``timeout`` seconds; private
    addresses refused unless ``allow_private``; a sweep every ``interval`` seconds."""

    concurrency: int
    timeout: float
    allow_private: bool
    interval: float


def probe_and_record(
    desk: Desk,
    config: ProbeConfig,
    actor: Actor,
    *,
    urls: Sequence[str] = (),
    shard: tuple[int | range, int] | None = None,
    allow_private: bool | None = None,
    concurrency: int | None = None,
    started: Callable[[int], object] | None = None,
    progress: Callable[[ProbeResult], object] | None = None,
    recorded: Callable[[Ctx, list[ProbeResult]], object] | None = None,
) -> list[ProbeResult]:
    """Probe ``urls`` (default: every monitored URL the actor sees, or those of ``shard``:
    ``(k, n)``, the domains whose id is ``k`` modulo ``n``, or one of the residues ``k``
    if it is a range: a unit of a sweep) and record the results.

    ``started`` is told how many targets there are; ``progress`` gets each result;
    ``recorded`` is called inside the transaction that records them (a sweep marks its
    shard done there, so the probes and the shard's end commit together).
    """
    with desk.context(actor, readonly=True) as ctx:
        targets = probe_targets(ctx, urls=urls, shard=shard)
    if started is not None:
        started(len(targets))
    results = probe_all(
        [t.target for t in targets],
        roots=desk.policy.roots,
        now=clock.now,
        concurrency=concurrency or config.concurrency,
        timeout=config.timeout,
        allow_private=config.allow_private if allow_private is None else allow_private,
        progress=progress,
    )
    with desk.context(actor) as ctx:
        record_probes(ctx, [(t.domain_id, r) for t, r in zip(targets, results, strict=True)])
        if recorded is not None:
            recorded(ctx, results)
    return results
