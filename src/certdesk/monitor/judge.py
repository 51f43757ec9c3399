"""Judging what a server served, with :mod:`certdesk.pki`: trust, name, drift.

A batch sees the same certificates again and again (one intermediate behind
thousands of domains, one wildcard behind many names), so a :class:`Judge`
describes each distinct certificate once, and verifies each distinct chain once for
as long as its verdict cannot change (:mod:`certdesk.monitor.verdicts`, shared by
the batches that judge against the same roots). Both caches are exact: a
description is reused only for the same certificate bytes, a verdict only for the
same chain bytes, against the same roots, at an instant where it still holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from certdesk.errors import CertdeskError
from certdesk.monitor.handshake import Handshake
from certdesk.monitor.verdicts import Verdict, VerdictCache, chain_key, verdict_cache
from certdesk.pki import Host, covers, describe, iso_utc, order_chain, parse_host, verify
from certdesk.pki.probes import ErrorKind, ProbeResult, ProbeTarget, ServedCertificate

_MAX_CACHED = 50_000


@dataclass(frozen=True, slots=True)
class _Chain:
    """A served chain as a batch judges it again and again."""

    served: tuple[ServedCertificate, ...]
    certs: tuple[x509.Certificate, ...]
    key: bytes  # its verdict's, in the verdict cache
    until: str  # the leaf's notAfter, as the messages write it


class Judge:
    """Judges served chains against one set of trust roots."""

    def __init__(
        self, roots: Sequence[x509.Certificate], verdicts: VerdictCache | None = None
    ) -> None:
        self.roots = tuple(roots)
        self._served: dict[bytes, tuple[ServedCertificate, x509.Certificate]] = {}
        self._chains: dict[tuple[bytes, ...], _Chain] = {}
        self._verdicts = verdict_cache(self.roots) if verdicts is None else verdicts
        self._hosts: dict[str, Host | None] = {}

    def judge(
        self,
        target: ProbeTarget,
        started_at: datetime,
        address: tuple[str, int],
        duration: float,
        hs: Handshake,
    ) -> ProbeResult:
        found = self._chain(hs.chain)
        chain, certs = found.served, found.certs
        leaf = chain[0]
        verdict = self._verdicts.verdict_by_key(
            found.key, certs, started_at, lambda: self._verify(certs, started_at)
        )
        host = self._host(target.host)
        info = leaf.info
        covered = host is not None and covers(
            info.dns_names, info.ip_addresses, info.common_name, info.has_san, host
        )
        drift = None if target.expected_sha256 is None else leaf.sha256 != target.expected_sha256
        error: ErrorKind | None = None
        if not verdict.trusted:
            error = ErrorKind.UNTRUSTED
            message = verdict.message or "the certificate is not trusted"
        elif not covered:
            error = ErrorKind.NAME_MISMATCH
            names = ", ".join(info.dns_names or info.ip_addresses) or (info.common_name or "?")
            message = f"the certificate is for {names}, not for {target.host}"
        else:
            message = f"trusted certificate for {target.host}, valid until {found.until}"
        if drift:
            message += "; the leaf is not the expected one (drift)"
        return ProbeResult(
            target=target,
            started_at=started_at,
            ok=error is None,
            error=error,
            message=message,
            address=address,
            duration=duration,
            tls_version=hs.tls_version,
            cipher=hs.cipher,
            chain=chain,
            trusted=verdict.trusted,
            trust_reason=verdict.reason,
            covers_host=covered,
            drift=drift,
        )

    def _chain(self, ders: tuple[bytes, ...]) -> _Chain:
        found = self._chains.get(ders)
        if found is None:
            served = tuple(self._describe(der) for der in ders)
            chain = tuple(s for s, _ in served)
            found = _Chain(
                chain, tuple(c for _, c in served), chain_key(ders), iso_utc(chain[0].not_after)
            )
            if len(self._chains) >= _MAX_CACHED:
                self._chains.clear()
            self._chains[ders] = found
        return found

    def _describe(self, der: bytes) -> tuple[ServedCertificate, x509.Certificate]:
        found = self._served.get(der)
        if found is None:
            cert = x509.load_der_x509_certificate(der)
            found = (ServedCertificate(der, describe(cert)), cert)
            if len(self._served) >= _MAX_CACHED:
                self._served.clear()
            self._served[der] = found
        return found

    def _host(self, name: str) -> Host | None:
        if name not in self._hosts:
            try:
                self._hosts[name] = parse_host(name)
            except CertdeskError:
                self._hosts[name] = None
        return self._hosts[name]

    def _verify(self, certs: tuple[x509.Certificate, ...], at: datetime) -> Verdict:
        try:
            outcome = verify(certs[0], certs[1:], self.roots, at)
        except ValueError as exc:  # a certificate pyca cannot verify at all
            return Verdict(False, str(exc), f"the chain cannot be verified: {exc}")
        if outcome.ok:
            return Verdict(True, None, None)
        return Verdict(False, outcome.reason, self._explain(certs, at, outcome.reason))

    def _explain(
        self, certs: tuple[x509.Certificate, ...], at: datetime, reason: str | None
    ) -> str:
        """Why the chain is untrusted, in the words a person acts on."""
        leaf = certs[0]
        if leaf.not_valid_after_utc < at:
            return f"the certificate expired on {iso_utc(leaf.not_valid_after_utc)}"
        if leaf.not_valid_before_utc > at:
            return f"the certificate is not valid before {iso_utc(leaf.not_valid_before_utc)}"
        for cert in certs[1:]:
            if cert.not_valid_after_utc < at:
                return (
                    f"the served chain certificate {cert.subject.rfc4514_string()} expired on "
                    f"{iso_utc(cert.not_valid_after_utc)}"
                )
        analysis = order_chain(list(certs), leaf=leaf, roots=self.roots)
        if analysis.missing_issuer is not None:
            if len(analysis.path) == 1 and leaf.subject == leaf.issuer:
                return "the certificate is self-signed and not a trusted root"
            return (
                "the chain does not reach a trusted root: the issuer "
                f"{analysis.missing_issuer.rfc4514_string()} was not served and is not trusted"
            )
        top = analysis.path[-1]
        if analysis.top_is_root and top not in self.roots:
            if len(analysis.path) == 1:
                return "the certificate is self-signed and not a trusted root"
            return f"the chain ends at {top.subject.rfc4514_string()}, which is not a trusted root"
        return f"the chain does not verify: {reason}"
