"""The verdict cache: a chain verified once holds while no certificate involved crosses
a validity bound, and never past one; each chain and each trust store on its own.

Certificates are the openssl-made test PKI; every verdict is pyca's (``pki.verify``),
counted as it is asked for."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certdesk.monitor.verdicts import Verdict, VerdictCache, verdict_cache
from certdesk.pki import verify
from tests.openssl_pki import OpenSSLPKI


class Verifier:
    """pyca's verification of one chain against the roots, counting the calls."""

    def __init__(self, roots: Sequence[x509.Certificate]) -> None:
        self.roots = list(roots)
        self.calls = 0

    def ask(self, cache: VerdictCache, certs: Sequence[x509.Certificate], at: datetime) -> Verdict:
        ders = [c.public_bytes(Encoding.DER) for c in certs]

        def run() -> Verdict:
            self.calls += 1
            outcome = verify(certs[0], list(certs[1:]), self.roots, at)
            return Verdict(outcome.ok, outcome.reason, None)

        return cache.verdict(ders, certs, at, run)


@pytest.fixture
def now(pki: OpenSSLPKI) -> datetime:
    return pki.made_at + timedelta(hours=1)


def test_a_verdict_holds_between_bounds(pki: OpenSSLPKI, now: datetime) -> None:
    cache, v = VerdictCache(pki.roots), Verifier(pki.roots)
    chain = [pki.cert("leaf"), pki.cert("int")]
    instants = [now, now + timedelta(seconds=1), now + timedelta(days=100)]
    assert all(v.ask(cache, chain, t).trusted for t in instants)
    assert v.calls == 1
    assert len(cache) == 1


def test_not_after_ends_a_trusted_verdict(pki: OpenSSLPKI, now: datetime) -> None:
    cache, v = VerdictCache(pki.roots), Verifier(pki.roots)
    soon = pki.cert("soon")  # expires ten days after the PKI was made
    chain = [soon, pki.cert("int")]
    assert v.ask(cache, chain, now).trusted
    end = soon.not_valid_after_utc
    assert v.ask(cache, chain, end - timedelta(seconds=2)).trusted  # still the kept one
    assert v.calls == 1
    after = v.ask(cache, chain, end + timedelta(seconds=1))
    assert not after.trusted
    assert v.calls == 2
    # The untrusted verdict is kept in turn, and does not reach back before the bound.
    assert not v.ask(cache, chain, end + timedelta(days=3)).trusted
    assert v.calls == 2
    assert v.ask(cache, chain, now).trusted
    assert v.calls == 3


def test_not_before_ends_an_untrusted_verdict(pki: OpenSSLPKI, now: datetime) -> None:
    cache, v = VerdictCache(pki.roots), Verifier(pki.roots)
    notyet = pki.cert("notyet")  # valid from 30 days after the PKI was made
    chain = [notyet, pki.cert("int")]
    assert not v.ask(cache, chain, now).trusted
    assert v.ask(cache, chain, notyet.not_valid_before_utc + timedelta(hours=1)).trusted
    assert v.calls == 2


def test_nothing_kept_within_a_second_of_a_bound(pki: OpenSSLPKI) -> None:
    cache, v = VerdictCache(pki.roots), Verifier(pki.roots)
    soon = pki.cert("soon")
    chain = [soon, pki.cert("int")]
    end = soon.not_valid_after_utc
    for at in (end, end - timedelta(milliseconds=500), end + timedelta(milliseconds=500)):
        v.ask(cache, chain, at)
        v.ask(cache, chain, at)
    assert v.calls == 6
    assert len(cache) == 0


def test_each_chain_has_its_own_verdict(pki: OpenSSLPKI, now: datetime) -> None:
    cache, v = VerdictCache(pki.roots), Verifier(pki.roots)
    whole = [pki.cert("leaf"), pki.cert("int")]
    alone = [pki.cert("leaf")]  # the same leaf without its intermediate: incomplete
    expired = [pki.cert("expired"), pki.cert("int")]
    assert v.ask(cache, whole, now).trusted
    assert not v.ask(cache, alone, now).trusted
    assert not v.ask(cache, expired, now).trusted
    assert v.ask(cache, whole, now).trusted
    assert v.calls == 3
    assert len(cache) == 3


def test_a_root_bound_ends_the_verdict_too(pki: OpenSSLPKI, now: datetime) -> None:
    # A trust store holding a certificate whose validity ends before the served chain's:
    # the verdict holds only up to that instant, as the root's expiry could change it.
    roots = [*pki.roots, pki.cert("soon")]
    cache, v = VerdictCache(roots), Verifier(roots)
    chain = [pki.cert("leaf"), pki.cert("int")]
    assert v.ask(cache, chain, now).trusted
    assert v.ask(cache, chain, now + timedelta(days=5)).trusted
    assert v.calls == 1
    assert v.ask(cache, chain, pki.cert("soon").not_valid_after_utc + timedelta(hours=1)).trusted
    assert v.calls == 2


def test_a_full_cache_starts_over(pki: OpenSSLPKI, now: datetime) -> None:
    cache, v = VerdictCache(pki.roots, limit=2), Verifier(pki.roots)
    chains = [[pki.cert(name), pki.cert("int")] for name in ("leaf", "wildcard", "soon")]
    for chain in chains:
        v.ask(cache, chain, now)
    assert len(cache) == 1
    v.ask(cache, chains[0], now)
    assert v.calls == 4


def test_one_cache_per_trust_store(pki: OpenSSLPKI, now: datetime) -> None:
    first = verdict_cache(pki.roots)
    assert verdict_cache(pki.roots) is first  # the same roots, loaded again
    Verifier(pki.roots).ask(first, [pki.cert("leaf"), pki.cert("int")], now)
    assert len(first) == 1
    other = verdict_cache([])
    assert other is not first
    assert len(other) == 0
    again = verdict_cache(pki.roots)
    assert again is not first  # the store changed in between: nothing kept from before
    assert len(again) == 0
