"""Chains: order an unordered bundle leaf → root, and verify a path to a trusted root.

Certificate authorities ship bundles in every order, with duplicates and, now and
then, a certificate that belongs to another chain. ``order_chain`` finds the
leaf, follows issuers by name *and* signature, and names what is left over.
``verify`` asks ``cryptography.x509.verification`` (the web PKI rules browsers
apply) whether the path reaches a trusted root at a given instant.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import verification

from certdesk.pki.facts import fingerprint, spki_sha256


@dataclass(frozen=True, slots=True)
class ChainAnalysis:
    """How a bundle's certificates relate.

    ``path`` runs leaf → the highest certificate the bundle holds. ``complete`` is
    True when that top certificate is self-signed (a root) or issued by one of the
    trust roots given. ``missing_issuer`` names the issuer that is needed but absent.
    """

    leaf: x509.Certificate
    path: tuple[x509.Certificate, ...]
    unrelated: tuple[x509.Certificate, ...]
    duplicates: int
    in_order: bool
    top_is_root: bool
    anchor: x509.Certificate | None
    missing_issuer: x509.Name | None

    @property
    def complete(self) -> bool:
        return self.top_is_root or self.anchor is not None


@functools.lru_cache(maxsize=4096)
def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Was ``cert`` signed by ``issuer``'s key (names match, signature verifies)?

    Remembered for the last few thousand pairs: ordering, path building and judging a
    bundle ask the same questions, and a signature check is the costly part."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except ValueError:
        # pyca refuses some signature algorithms outright (SHA-1): the issuer is still the
        # issuer, and the weak signature is reported on its own (weak-signature).
        return _signature_verifies(cert, issuer)
    except (TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _signature_verifies(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Check ``cert``'s RSA or ECDSA signature with ``issuer``'s key, whatever its hash."""
    key = issuer.public_key()
    try:
        algorithm = cert.signature_hash_algorithm
        params = cert.signature_algorithm_parameters
        if algorithm is None:
            return False
        if isinstance(key, rsa.RSAPublicKey) and isinstance(params, padding.PKCS1v15 | padding.PSS):
            key.verify(cert.signature, cert.tbs_certificate_bytes, params, algorithm)
            return True
        if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(params, ec.ECDSA):
            key.verify(cert.signature, cert.tbs_certificate_bytes, params)
            return True
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return False


def is_self_signed(cert: x509.Certificate) -> bool:
    return issued_by(cert, cert)


def pick_leaf(certs: Sequence[x509.Certificate], key_spki: str | None = None) -> x509.Certificate:
    """The end-entity certificate of a bundle.

    The one matching the private key when a key is known; otherwise the one that
    issued nothing else in the bundle, preferring a non-CA; otherwise the first.
    """
    if key_spki is not None:
        for cert in certs:
            if spki_sha256(cert.public_key()) == key_spki:
                return cert
    # Index by issuer name, so that a large bundle costs one pass, not every pair.
    by_issuer: dict[bytes, list[x509.Certificate]] = {}
    for cert in certs:
        by_issuer.setdefault(cert.issuer.public_bytes(), []).append(cert)
    candidates = [
        c
        for c in certs
        if not any(
            other is not c and issued_by(other, c)
            for other in by_issuer.get(c.subject.public_bytes(), ())
        )
    ]
    non_ca = [c for c in candidates if not _is_ca(c)]
    return (non_ca or candidates or list(certs))[0]


def order_chain(
    certs: Sequence[x509.Certificate],
    *,
    leaf: x509.Certificate | None = None,
    roots: Sequence[x509.Certificate] = (),
) -> ChainAnalysis:
    """Order ``certs`` from the leaf up, dropping duplicates and naming unrelated ones."""
    unique: list[x509.Certificate] = []
    seen: set[str] = set()
    for cert in certs:
        fp = fingerprint(cert)
        if fp not in seen:
            seen.add(fp)
            unique.append(cert)
    duplicates = len(certs) - len(unique)
    if leaf is None:
        leaf = pick_leaf(unique)
    path = [leaf]
    remaining = [c for c in unique if c is not leaf and c != leaf]
    while True:
        current = path[-1]
        if is_self_signed(current):
            break
        parent = next((c for c in remaining if issued_by(current, c)), None)
        if parent is None:
            break
        path.append(parent)
        remaining.remove(parent)
    top = path[-1]
    top_is_root = is_self_signed(top)
    anchor = None
    if not top_is_root:
        anchor = next((r for r in roots if r.subject == top.issuer and issued_by(top, r)), None)
    # In order when the bundle, duplicates removed, lists the path first and leaf first.
    in_order = [fingerprint(c) for c in unique[: len(path)]] == [fingerprint(c) for c in path]
    return ChainAnalysis(
        leaf=leaf,
        path=tuple(path),
        unrelated=tuple(remaining),
        duplicates=duplicates,
        in_order=in_order,
        top_is_root=top_is_root,
        anchor=anchor,
        missing_issuer=None if (top_is_root or anchor is not None) else top.issuer,
    )


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of verifying a path with the web PKI rules."""

    ok: bool
    path: tuple[x509.Certificate, ...]
    reason: str | None


def verify(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    at: datetime,
) -> Verification:
    """Verify ``leaf`` up to one of ``roots`` at the instant ``at``, building the path from
    ``intermediates`` (in any order, alternatives included) as browsers do.

    The leaf is verified for one of its own names, so that this answers "is the
    chain trusted" only; which hosts it covers is :func:`certdesk.pki.names.covers`.
    The roots are trust anchors (RFC 5280 section 6.1.1): their name and key are trusted,
    whatever extensions they carry, so a private root made by ``openssl req -x509``
    without keyUsage anchors a path. Certificates below them follow the browsers' rules:
    a CA's basicConstraints must say CA, and a keyUsage, when present, must allow
    keyCertSign (browsers, unlike the CA/Browser Forum profile, accept a CA without one).
    """
    if not roots:
        return Verification(False, (), "no trusted roots were given")
    subject = _own_subject(leaf)
    if subject is None:
        return Verification(False, (), "the certificate has no subjectAltName to verify")
    store, ca_policy, ee_policy = _trust(tuple(roots))
    try:
        verifier = (
            verification.PolicyBuilder()
            .store(store)
            .time(at)
            .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
            .build_server_verifier(subject)
        )
        chain = verifier.verify(leaf, list(intermediates))
    except verification.VerificationError as exc:
        return Verification(False, (), str(exc))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return Verification(False, (), str(exc))
    return Verification(True, tuple(chain), None)


@functools.lru_cache(maxsize=8)
def _trust(
    roots: tuple[x509.Certificate, ...],
) -> tuple[verification.Store, verification.ExtensionPolicy, verification.ExtensionPolicy]:
    """The verifier's trust store and extension policies, built once per set of roots
    (~0.4 ms for Mozilla's)."""
    anchors = frozenset(roots)

    def key_usage(
        _policy: verification.Policy, cert: x509.Certificate, value: x509.KeyUsage | None
    ) -> None:
        if value is not None and not value.key_cert_sign and cert not in anchors:
            raise ValueError("its keyUsage does not allow keyCertSign (signing certificates)")

    def basic_constraints(
        _policy: verification.Policy, cert: x509.Certificate, value: x509.BasicConstraints
    ) -> None:
        if cert in anchors:
            return
        if not value.ca:
            raise ValueError("its basicConstraints say it is not a certificate authority")

    ca_policy = (
        verification.ExtensionPolicy.webpki_defaults_ca()
        .may_be_present(x509.KeyUsage, verification.Criticality.AGNOSTIC, key_usage)
        .require_present(
            x509.BasicConstraints, verification.Criticality.AGNOSTIC, basic_constraints
        )
    )
    # The leaf's purpose and names are certdesk's own findings (no-server-auth,
    # name-mismatch): the verifier judges the path only.
    ee_policy = verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.ExtendedKeyUsage, verification.Criticality.AGNOSTIC, None
    )
    return verification.Store(list(roots)), ca_policy, ee_policy


def _own_subject(leaf: x509.Certificate) -> verification.Subject | None:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for name in san.get_values_for_type(x509.DNSName):
        candidate = name[2:] if name.startswith("*.") else name
        # A wildcard name is verified through a host it covers.
        host = ("x." + candidate) if name.startswith("*.") else candidate
        try:
            return x509.DNSName(host)
        except ValueError:
            continue
    for ip in san.get_values_for_type(x509.IPAddress):
        if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return x509.IPAddress(ip)
    return None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
