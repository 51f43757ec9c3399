"""The proof that a deploy is live: a real handshake shows the new certificate.

For each item, certdesk's prober connects to the terminator's address
(``connect_to``; the URL's own host and port when None) with the domain as SNI, and
compares the SHA-256 of the leaf served with the leaf deployed. A terminator may
take a moment to switch (nginx reloads asynchronously), so probes that do not show
the new leaf yet are repeated until ``settle`` seconds have passed. One URL that
fails is a :class:`Proof` with ``ok=False`` and the reason; ``prove`` never raises
for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from certdesk import clock
from certdesk.deploy.base import DeployItem
from certdesk.errors import CertdeskError
from certdesk.monitor import Clock, ProbeResult, ProbeTarget, probe_many
from certdesk.pki.urls import DomainUrl


@dataclass(frozen=True, slots=True)
class Proof:
    """Whether ``url`` serves the deployed leaf, and what it served instead."""

    url: str
    hostname: str
    expected_sha256: str
    served_sha256: str | None
    ok: bool
    reason: str
    probe: ProbeResult | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "hostname": self.hostname,
            "expected_sha256": self.expected_sha256,
            "served_sha256": self.served_sha256,
            "ok": self.ok,
            "reason": self.reason,
            "probe": self.probe.to_json() if self.probe is not None else None,
        }


def _judge(item: DeployItem, result: ProbeResult) -> Proof:
    served = result.leaf.sha256 if result.leaf is not None else None
    if served is None:
        reason = f"unreachable, no handshake: {result.message}"
    elif served == item.sha256:
        reason = "the new certificate is served"
    else:
        reason = f"the served certificate does not match (SHA-256 {served} is served)"
    return Proof(
        url=item.url,
        hostname=item.hostname,
        expected_sha256=item.sha256,
        served_sha256=served,
        ok=served == item.sha256,
        reason=reason,
        probe=result,
    )


async def prove_many(
    items: Sequence[DeployItem],
    *,
    connect_to: tuple[str, int] | None,
    roots: Sequence[x509.Certificate] = (),
    now: datetime | Clock = clock.now,
    timeout: float = 5.0,
    settle: float = 5.0,
    interval: float = 0.2,
    allow_private: bool = True,
) -> list[Proof]:
    """One :class:`Proof` per item, in the order given (see the module's docstring)."""
    proofs: list[Proof | None] = [None] * len(items)
    targets: dict[int, ProbeTarget] = {}
    for n, item in enumerate(items):
        try:
            url = DomainUrl.parse(item.url)
            targets[n] = ProbeTarget(
                url=item.url,
                host=url.hostname,
                port=item.port,
                connect_to=connect_to,
                expected_sha256=item.sha256,
            )
        except CertdeskError as exc:
            proofs[n] = Proof(
                url=item.url,
                hostname=item.hostname,
                expected_sha256=item.sha256,
                served_sha256=None,
                ok=False,
                reason=f"cannot probe {item.url!r}: {exc.message}",
            )
    deadline = time.monotonic() + settle
    waiting = list(targets)
    while waiting:
        results = await probe_many(
            [targets[n] for n in waiting],
            roots=roots,
            now=now,
            timeout=timeout,
            allow_private=allow_private,
        )
        for n, result in zip(waiting, results, strict=True):
            proofs[n] = _judge(items[n], result)
        waiting = [n for n in waiting if not (p := proofs[n]) or not p.ok]
        if waiting and time.monotonic() + interval < deadline:
            await asyncio.sleep(interval)
        else:
            break
    return [p for p in proofs if p is not None]


def prove(
    items: Sequence[DeployItem],
    *,
    connect_to: tuple[str, int] | None,
    roots: Sequence[x509.Certificate] = (),
    now: datetime | Clock = clock.now,
    timeout: float = 5.0,
    settle: float = 5.0,
    interval: float = 0.2,
    allow_private: bool = True,
) -> list[Proof]:
    """:func:`prove_many` for callers without an event loop (the CLI, the desk)."""
    return asyncio.run(
        prove_many(
            items,
            connect_to=connect_to,
            roots=roots,
            now=now,
            timeout=timeout,
            settle=settle,
            interval=interval,
            allow_private=allow_private,
        )
    )
