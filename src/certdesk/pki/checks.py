"""Policy checks over a loaded bundle: every finding at once, each with its fix.

A user who uploads a ``.pfx`` learns in one answer that the chain is incomplete
*and* that ``www.`` is not covered. Severity ``error`` means browsers (or the
platform) will refuse the certificate; ``warning`` means it works but needs
attention; ``info`` is something certdesk fixes by itself (e.g. on export).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from certdesk.pki.chain import ChainAnalysis, Verification, is_self_signed, pick_leaf
from certdesk.pki.expiry import is_expired
from certdesk.pki.facts import CertificateInfo, describe, iso_utc, spki_sha256, time_left
from certdesk.pki.load import Bundle
from certdesk.pki.names import Host, PublicSuffixTest, covers
from certdesk.pki.paths import BuiltChain, build_chain, served


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    message: str
    fix: str
    host: str | None = None
    certificate: str | None = None  # SHA-256 of the certificate concerned, when not the leaf

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "fix": self.fix,
            "host": self.host,
            "certificate": self.certificate,
        }


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """What to check against. ``at`` is the instant of the check (UTC-aware).

    ``roots`` are the trust anchors; ``intermediates`` are CA certificates the caller
    already knows (seen in earlier bundles), candidates for completing a path that the
    bundle alone does not complete.
    """

    at: datetime
    hosts: Sequence[Host] = ()
    roots: Sequence[x509.Certificate] = ()
    intermediates: Sequence[x509.Certificate] = ()
    expires_soon_days: int = 30
    min_rsa_bits: int = 2048
    min_ec_bits: int = 256
    is_public_suffix: PublicSuffixTest | None = None
    expected_common_name: str | None = None


@dataclass(frozen=True, slots=True)
class CheckReport:
    leaf: CertificateInfo
    chain: ChainAnalysis
    verification: Verification | None
    findings: tuple[Finding, ...] = field(default=())

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def ok(self) -> bool:
        return not self.errors

    def ordered_chain(self) -> tuple[x509.Certificate, ...]:
        """The path found as a server sends it: leaf first, then the intermediates, the
        root left out; duplicates, alternatives and unrelated certificates dropped."""
        return served(self.chain.path)


_WEAK_HASHES = {"md5", "sha1", "md2", "md4"}


def check_bundle(bundle: Bundle, options: CheckOptions) -> CheckReport:
    """Run every check on ``bundle``; return all findings, most severe first."""
    if not bundle.certificates:
        raise ValueError("check_bundle needs at least one certificate")
    key_spki = spki_sha256(bundle.private_key) if bundle.private_key is not None else None
    leaf_cert = pick_leaf(bundle.certificates, key_spki)
    # The path is judged at an instant inside the leaf's validity: the leaf's own
    # expiry is a finding of its own, not a reason to call the chain invalid.
    at = min(max(options.at, leaf_cert.not_valid_before_utc), leaf_cert.not_valid_after_utc)
    built = build_chain(
        bundle.certificates,
        leaf=leaf_cert,
        known=options.intermediates,
        roots=options.roots,
        at=at,
    )
    chain = built.analysis
    leaf = describe(leaf_cert)
    findings: list[Finding] = []
    findings += _validity(leaf, options)
    if key_spki is not None and key_spki != leaf.spki_sha256:
        findings.append(
            Finding(
                "key-mismatch",
                Severity.ERROR,
                "the private key does not belong to any certificate in the file",
                "export the .pfx again from the machine where the certificate request was made, "
                "or give the key that was generated with this certificate's CSR",
            )
        )
    findings += _key_strength(chain.path, options)
    findings += _signatures(chain.path)
    findings += _names(leaf, options)
    findings += _purpose(leaf)
    findings += _trust(built, findings)
    findings += _bundle_shape(built, bundle.certificates)
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    findings.sort(key=lambda f: order[f.severity])
    return CheckReport(
        leaf=leaf, chain=chain, verification=built.verification, findings=tuple(findings)
    )


def _validity(leaf: CertificateInfo, options: CheckOptions) -> list[Finding]:
    at = options.at
    if is_expired(leaf.not_after, at):
        days = (at - leaf.not_after).days
        return [
            Finding(
                "expired",
                Severity.ERROR,
                f"the certificate expired on {iso_utc(leaf.not_after)}"
                + (f" ({days} days ago)" if days else ""),
                "renew it with your certificate authority (certdesk can make the CSR) "
                "and send the new certificate",
            )
        ]
    if at < leaf.not_before:
        return [
            Finding(
                "not-yet-valid",
                Severity.ERROR,
                f"the certificate is valid only from {iso_utc(leaf.not_before)}",
                "wait until then, or check the clock of the machine that issued it",
            )
        ]
    left = leaf.not_after - at
    if left <= timedelta(days=options.expires_soon_days):
        return [
            Finding(
                "expires-soon",
                Severity.WARNING,
                f"the certificate expires on {iso_utc(leaf.not_after)}, "
                f"{time_left(leaf.not_after, at)}",
                "order the renewal now: certdesk can make the CSR from this certificate",
            )
        ]
    return []


def _key_strength(path: Sequence[x509.Certificate], options: CheckOptions) -> list[Finding]:
    out: list[Finding] = []
    for index, cert in enumerate(path):
        key = cert.public_key()
        weak = None
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < options.min_rsa_bits:
            weak = f"an RSA key of {key.key_size} bits (at least {options.min_rsa_bits} are needed)"
        elif (
            isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < options.min_ec_bits
        ):
            weak = (
                f"an EC key of {key.curve.key_size} bits "
                f"(at least {options.min_ec_bits} are needed)"
            )
        elif isinstance(key, dsa.DSAPublicKey):
            weak = "a DSA key, which browsers no longer accept"
        if weak:
            who = (
                "the certificate has" if index == 0 else f"the chain certificate {_name(cert)} has"
            )
            out.append(
                Finding(
                    "weak-key",
                    Severity.ERROR,
                    f"{who} {weak}",
                    "make a new key of RSA 2048 bits or more, or EC P-256, and have the "
                    "certificate issued again",
                    certificate=None if index == 0 else describe(cert).sha256,
                )
            )
    return out


def _signatures(path: Sequence[x509.Certificate]) -> list[Finding]:
    out: list[Finding] = []
    for index, cert in enumerate(path):
        if index > 0 and is_self_signed(cert):
            continue  # a root's self-signature is not checked by browsers
        algo = cert.signature_hash_algorithm
        if algo is not None and algo.name in _WEAK_HASHES:
            who = "the certificate is" if index == 0 else f"the chain certificate {_name(cert)} is"
            out.append(
                Finding(
                    "weak-signature",
                    Severity.ERROR,
                    f"{who} signed with {algo.name.upper()}, which browsers reject",
                    "have the certificate issued again with a SHA-256 signature",
                    certificate=None if index == 0 else describe(cert).sha256,
                )
            )
    return out


def _names(leaf: CertificateInfo, options: CheckOptions) -> list[Finding]:
    out: list[Finding] = []
    if not leaf.has_san:
        out.append(
            Finding(
                "no-san",
                Severity.ERROR,
                "the certificate has no subjectAltName: browsers ignore the common name "
                "and refuse it",
                "have the certificate issued again; every CA today adds the names as SANs",
            )
        )
    names = ", ".join(leaf.dns_names + leaf.ip_addresses) or (leaf.common_name or "none")
    for host in options.hosts:
        if not covers(
            leaf.dns_names,
            leaf.ip_addresses,
            leaf.common_name,
            leaf.has_san,
            host,
            options.is_public_suffix,
        ):
            out.append(
                Finding(
                    "name-mismatch",
                    Severity.ERROR,
                    f"the certificate does not cover {host.name} (it covers: {names})",
                    f"use a certificate whose names include {host.name} (or a wildcard one "
                    "level above it), or ask for the certificate to be issued again with it",
                    host=host.name,
                )
            )
    expected = options.expected_common_name
    if expected is not None and (leaf.common_name or "").lower() != expected.strip().lower():
        out.append(
            Finding(
                "common-name-mismatch",
                Severity.ERROR,
                f"the certificate's common name is {leaf.common_name!r}, not {expected!r}",
                "send the certificate issued for that common name, or correct the common "
                "name given",
            )
        )
    return out


def _purpose(leaf: CertificateInfo) -> list[Finding]:
    out: list[Finding] = []
    if leaf.is_ca:
        out.append(
            Finding(
                "ca-certificate",
                Severity.ERROR,
                "this is a certificate authority's certificate, not a server certificate",
                "give the certificate issued for your domain (the one with your names in it)",
            )
        )
    eku = leaf.extended_key_usage
    if eku is not None and not {"serverAuth", "anyExtendedKeyUsage"} & set(eku):
        out.append(
            Finding(
                "no-server-auth",
                Severity.ERROR,
                f"the certificate may not be used by a TLS server (its uses: {', '.join(eku)})",
                "order a TLS/SSL server certificate; this one is for another purpose",
            )
        )
    return out


def _trust(built: BuiltChain, found: list[Finding]) -> list[Finding]:
    """One answer on trust, from the path found or, when none verifies, the best one."""
    if built.trusted:
        return []
    chain = built.analysis
    if built.anchored:
        if built.problems:
            lead = (
                "no path to a trusted root is valid: on the best one, "
                if built.tried > 1
                else "the path to a trusted root is not valid: "
            )
            return [
                Finding(
                    "chain-invalid",
                    Severity.ERROR,
                    lead + p.message,
                    p.fix,
                    certificate=describe(p.certificate).sha256,
                )
                for p in built.problems
            ]
        if any(f.severity is Severity.ERROR for f in found):
            return []  # the leaf's own problem (weak signature, no SAN…) is reported already
        reason = built.verification.reason if built.verification is not None else None
        names = " → ".join(_name(c) for c in chain.path)
        return [
            Finding(
                "chain-invalid",
                Severity.ERROR,
                f"the chain {names} does not verify under browser rules: {reason}",
                "use the intermediate certificates your certificate authority publishes for "
                "this certificate (export the .pfx again with its whole chain)",
            )
        ]
    top = chain.path[-1]
    if len(chain.path) == 1 and chain.top_is_root:
        return [
            Finding(
                "self-signed",
                Severity.ERROR,
                "the certificate is self-signed: no browser trusts it",
                "get the certificate from a public certificate authority (Let's Encrypt, "
                "DigiCert, GlobalSign…); certdesk can make the CSR",
            )
        ]
    if chain.top_is_root:
        return [
            Finding(
                "untrusted-root",
                Severity.ERROR,
                f"the chain ends at {_name(top)}, a root that is not trusted (neither a "
                "browser's root nor in the operator's CA bundle)",
                "use a certificate from a publicly trusted authority; if it is the platform's "
                "private CA, its operator adds this root to certdesk's trusted CA bundle",
                certificate=describe(top).sha256,
            )
        ]
    issuer = chain.missing_issuer.rfc4514_string() if chain.missing_issuer else "?"
    return [
        Finding(
            "chain-incomplete",
            Severity.ERROR,
            f"the chain stops at {_name(top)}: its issuer {issuer} is neither in the file, "
            "nor among the intermediates certdesk knows, nor a trusted root (a missing "
            "intermediate certificate)",
            "add the certificate authority's intermediate (bundle) certificates: export the "
            ".pfx again with its whole chain; if it is the platform's private CA, its operator "
            "adds the CA's root to certdesk's trusted CA bundle",
        )
    ]


def _bundle_shape(built: BuiltChain, given: Sequence[x509.Certificate]) -> list[Finding]:
    chain = built.analysis
    out: list[Finding] = []
    if not chain.in_order:
        out.append(
            Finding(
                "chain-order",
                Severity.INFO,
                "the certificates are not in leaf → root order",
                "nothing to do: certdesk writes them in the right order on export and install",
            )
        )
    if chain.duplicates:
        out.append(
            Finding(
                "duplicate-certificates",
                Severity.INFO,
                _duplicates(given),
                "nothing to do: certdesk keeps one copy of each",
            )
        )
    if built.added:
        out.append(
            Finding(
                "chain-completed",
                Severity.INFO,
                "the file lacks the intermediate certificate(s) "
                + ", ".join(_name(c) for c in built.added)
                + ": certdesk completed the chain with ones it already knows",
                "nothing to do: certdesk writes the whole chain on export and install",
            )
        )
    for cert in chain.unrelated:
        out.append(
            Finding(
                "extra-certificates",
                Severity.WARNING,
                f"{_name(cert)} is not part of this certificate's chain",
                "nothing breaks, but it is left out on export and install; remove it from the "
                "file if it was added by mistake",
                certificate=describe(cert).sha256,
            )
        )
    return out


def _duplicates(given: Sequence[x509.Certificate]) -> str:
    """Which certificates were given more than once, and how many times each."""
    counts: dict[str, tuple[x509.Certificate, int]] = {}
    for cert in given:
        sha = describe(cert).sha256
        first, seen = counts.get(sha, (cert, 0))
        counts[sha] = (first, seen + 1)
    twice = [f"{_name(cert)} {n} times" for cert, n in counts.values() if n > 1]
    return "the same certificate was given more than once: " + ", ".join(twice)


def _name(cert: x509.Certificate) -> str:
    info = describe(cert)
    return repr(info.common_name) if info.common_name else info.subject
