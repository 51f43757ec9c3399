"""Verdicts on served chains, kept for as long as they cannot change.

Whether a chain verifies to a set of trust roots depends on the instant only through the
validity windows of the certificates involved: the served ones and the roots. Between two
consecutive ``notBefore``/``notAfter`` instants of those certificates the answer is the
same at every instant, so a verdict found at one instant is the verdict at any other
instant of that span. A sweep judges every probe at its own instant, and the same chains
come back on every sweep (one intermediate behind thousands of domains, one wildcard
behind many names, each domain's own leaf six hours later): verified once, a chain's
verdict is reused until the first of those instants comes, or the trust store changes.

The cache is exact: an entry is used only at an instant on the same side of every
boundary as the instant it was found at, at least a second away from each (certificate
times are whole seconds; whatever rounding the verifier applies to the instant, it stays
on the same side). It is keyed by the SHA-256 of the served chain's bytes and nothing
else: what a server sent, never who asked. One cache per trust store: another set of
roots starts an empty one (:func:`verdict_cache`).
"""

from __future__ import annotations

import bisect
import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509

# Entries kept (a verdict and its span, ~250 bytes each); when full, the cache starts over.
_LIMIT = 200_000
_MARGIN = timedelta(seconds=1)
_NEVER_BEFORE = datetime.min.replace(tzinfo=UTC)
_NEVER_AFTER = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Verdict:
    trusted: bool
    reason: str | None  # what the verifier said, when not trusted
    message: str | None  # the same in words, for people


def chain_key(ders: Sequence[bytes]) -> bytes:
    """What a chain's verdict is kept under: the SHA-256 of its certificates' bytes."""
    return hashlib.sha256(b"".join(len(d).to_bytes(4, "big") + d for d in ders)).digest()


def _bounds(cert: x509.Certificate) -> tuple[datetime, datetime]:
    return cert.not_valid_before_utc, cert.not_valid_after_utc


class VerdictCache:
    """Verdicts on chains against one set of trust roots, each with the span of instants
    it holds for."""

    def __init__(self, roots: Sequence[x509.Certificate], *, limit: int = _LIMIT) -> None:
        self.roots = tuple(roots)
        self.limit = limit
        self._root_bounds = sorted(b for root in self.roots for b in _bounds(root))
        self._entries: dict[bytes, tuple[datetime, datetime, Verdict]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def verdict(
        self,
        ders: Sequence[bytes],
        certs: Sequence[x509.Certificate],
        at: datetime,
        verify: Callable[[], Verdict],
    ) -> Verdict:
        """The verdict on the chain ``ders`` (parsed: ``certs``) at ``at``: the one kept,
        when it holds at ``at``, or ``verify()``'s, kept for the span it holds for."""
        return self.verdict_by_key(chain_key(ders), certs, at, verify)

    def verdict_by_key(
        self,
        key: bytes,
        certs: Sequence[x509.Certificate],
        at: datetime,
        verify: Callable[[], Verdict],
    ) -> Verdict:
        """:meth:`verdict` for a chain whose :func:`chain_key` is ``key``."""
        found = self._entries.get(key)
        if found is not None and found[0] <= at <= found[1]:
            return found[2]
        verdict = verify()
        span = self._span(certs, at)
        if span is not None:
            if len(self._entries) >= self.limit:
                self._entries.clear()
            self._entries[key] = (*span, verdict)
        return verdict

    def _span(
        self, certs: Sequence[x509.Certificate], at: datetime
    ) -> tuple[datetime, datetime] | None:
        """The instants at which every certificate involved is on the same side of its
        validity bounds as at ``at`` (a second's margin kept), or None when ``at`` is
        within a second of a bound."""
        i = bisect.bisect_right(self._root_bounds, at)
        low = self._root_bounds[i - 1] if i else _NEVER_BEFORE
        high = self._root_bounds[i] if i < len(self._root_bounds) else _NEVER_AFTER
        for cert in certs:
            for bound in _bounds(cert):
                if bound <= at:
                    low = max(low, bound)
                else:
                    high = min(high, bound)
        first = low + _MARGIN if low != _NEVER_BEFORE else low
        last = high - _MARGIN if high != _NEVER_AFTER else high
        if not first <= at <= last:
            return None
        return first, last


_shared: VerdictCache | None = None
_lock = threading.Lock()


def verdict_cache(roots: Sequence[x509.Certificate]) -> VerdictCache:
    """The process's cache for the trust store ``roots``: the same one for every batch
    while the roots are the same, so that a sweep reuses the verdicts of the sweep
    before; a new, empty one (and the old one dropped) when they change."""
    global _shared  # one trust store at a time: the desk's
    wanted = tuple(roots)
    with _lock:
        if _shared is None or _shared.roots != wanted:
            _shared = VerdictCache(wanted)
        return _shared
