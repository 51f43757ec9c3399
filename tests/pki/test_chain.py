"""certdesk.pki.chain: ordering bundles and verifying paths, on openssl-made chains."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from cryptography import x509

from certdesk.pki import load_private_key, order_chain, pick_leaf, spki_sha256, verify
from certdesk.pki.facts import fingerprint
from tests.openssl_pki import OpenSSLPKI


def fps(certs: tuple[x509.Certificate, ...] | list[x509.Certificate]) -> list[str]:
    return [fingerprint(c) for c in certs]


@pytest.mark.parametrize("order", list(itertools.permutations(["leaf", "int", "root"])))
def test_any_order_is_put_leaf_to_root(pki: OpenSSLPKI, order: tuple[str, ...]) -> None:
    analysis = order_chain([pki.cert(n) for n in order])
    assert fps(analysis.path) == fps([pki.cert("leaf"), pki.cert("int"), pki.cert("root")])
    assert analysis.leaf == pki.cert("leaf")
    assert analysis.top_is_root
    assert analysis.complete
    assert analysis.missing_issuer is None
    assert analysis.unrelated == ()
    assert analysis.in_order is (order == ("leaf", "int", "root"))


def test_duplicates_are_dropped_and_counted(pki: OpenSSLPKI) -> None:
    names = ["int", "leaf", "int", "root", "leaf", "int"]
    analysis = order_chain([pki.cert(n) for n in names])
    assert analysis.duplicates == 3
    assert len(analysis.path) == 3
    assert len(set(fps(analysis.path))) == 3


def test_unrelated_certificates_are_named(pki: OpenSSLPKI) -> None:
    certs = [pki.cert(n) for n in ("leaf", "selfsigned", "int", "root")]
    analysis = order_chain(certs, leaf=pki.cert("leaf"))
    assert fps(analysis.unrelated) == [fingerprint(pki.cert("selfsigned"))]
    assert len(analysis.path) == 3


def test_sibling_leaf_is_unrelated(pki: OpenSSLPKI) -> None:
    certs = [pki.cert(n) for n in ("leaf", "int", "wildcard")]
    analysis = order_chain(certs, leaf=pki.cert("leaf"))
    assert fps(analysis.unrelated) == [fingerprint(pki.cert("wildcard"))]


def test_missing_intermediate_is_detected(pki: OpenSSLPKI) -> None:
    analysis = order_chain([pki.cert("leaf"), pki.cert("root")], roots=pki.roots)
    assert fps(analysis.path) == [fingerprint(pki.cert("leaf"))]
    assert not analysis.complete
    assert analysis.missing_issuer == pki.cert("int").subject
    assert fps(analysis.unrelated) == [fingerprint(pki.cert("root"))]


def test_chain_without_root_is_anchored_by_a_trust_root(pki: OpenSSLPKI) -> None:
    certs = [pki.cert("leaf"), pki.cert("int")]
    anchored = order_chain(certs, roots=pki.roots)
    assert anchored.complete
    assert not anchored.top_is_root
    assert anchored.anchor == pki.cert("root")
    alone = order_chain(certs)
    assert not alone.complete
    assert alone.missing_issuer == pki.cert("root").subject


def test_issuer_is_followed_by_signature_not_only_by_name(pki: OpenSSLPKI) -> None:
    # The self-signed leaf names itself as issuer; the leaf from the CA names the
    # intermediate. Neither is taken as the other's issuer.
    analysis = order_chain([pki.cert("selfsigned"), pki.cert("nosan")])
    assert len(analysis.path) == 1


def test_pick_leaf_prefers_the_key_owner(pki: OpenSSLPKI) -> None:
    certs = [pki.cert(n) for n in ("wildcard", "leaf", "int")]
    key = load_private_key(pki.leaf_key.read_bytes())
    assert pick_leaf(certs, spki_sha256(key)) == pki.cert("leaf")
    assert pick_leaf(certs) == pki.cert("wildcard")  # first non-CA that issued nothing
    assert pick_leaf([pki.cert("root"), pki.cert("int")]) == pki.cert("int")


def test_verify_at_now(pki: OpenSSLPKI) -> None:
    result = verify(pki.cert("leaf"), [pki.cert("int")], pki.roots, pki.made_at)
    assert result.ok, result.reason
    assert fps(result.path) == fps([pki.cert("leaf"), pki.cert("int"), pki.cert("root")])
    assert result.reason is None


def test_verify_wildcard(pki: OpenSSLPKI) -> None:
    assert verify(pki.cert("wildcard"), [pki.cert("int")], pki.roots, pki.made_at).ok


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (timedelta(days=-2), False),  # before the leaf's notBefore (made_at - 1 day)
        (timedelta(hours=-23), True),
        (timedelta(days=364), True),
        (timedelta(days=366), False),  # after its notAfter (made_at + 365 days)
    ],
)
def test_verify_at_a_given_instant(pki: OpenSSLPKI, offset: timedelta, ok: bool) -> None:
    result = verify(pki.cert("leaf"), [pki.cert("int")], pki.roots, pki.made_at + offset)
    assert result.ok is ok
    assert (result.reason is None) is ok


def test_verify_needs_the_intermediate(pki: OpenSSLPKI) -> None:
    result = verify(pki.cert("leaf"), [], pki.roots, pki.made_at)
    assert not result.ok
    assert result.reason


def test_verify_against_another_root_fails(pki: OpenSSLPKI) -> None:
    result = verify(pki.cert("leaf"), [pki.cert("int")], [pki.cert("selfsigned")], pki.made_at)
    assert not result.ok


def test_verify_without_roots(pki: OpenSSLPKI) -> None:
    result = verify(pki.cert("leaf"), [pki.cert("int")], [], pki.made_at)
    assert not result.ok
    assert result.reason == "no trusted roots were given"


def test_verify_without_san(pki: OpenSSLPKI) -> None:
    result = verify(pki.cert("nosan"), [pki.cert("int")], pki.roots, pki.made_at)
    assert not result.ok


def test_verify_rejects_sha1_signature(pki: OpenSSLPKI) -> None:
    # (pyca's verifier accepts an RSA-1024 leaf: key size is certdesk's own weak-key check.)
    assert not verify(pki.cert("sha1"), [pki.cert("int")], pki.roots, pki.made_at).ok


def test_sha1_signed_leaf_still_finds_its_issuer(pki: OpenSSLPKI) -> None:
    # pyca's verify_directly_issued_by refuses SHA-1 outright; the chain is still whole.
    analysis = order_chain([pki.cert("sha1"), pki.cert("int"), pki.cert("root")])
    assert fps(analysis.path) == fps([pki.cert("sha1"), pki.cert("int"), pki.cert("root")])
    assert analysis.unrelated == ()
    # ...but a SHA-1 certificate is not taken as issued by a CA that did not sign it.
    stranger = order_chain([pki.cert("sha1"), pki.cert("selfsigned")])
    assert len(stranger.path) == 1
