"""The values of monitoring: what to probe, and what a probe found.

Pure values, here in ``pki`` so that the desk, which records what a probe found, and
the prober in ``certdesk.monitor``, which makes them, share them without the desk
importing a service. A :class:`ProbeResult` is a fact about one handshake at one instant. It always
exists: a probe that could not connect is a result with an :class:`ErrorKind`
and a message, never an exception that ends the batch.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certdesk.errors import InvalidArgument
from certdesk.pki.facts import CertificateInfo, iso_utc
from certdesk.pki.urls import DomainUrl


class ErrorKind(enum.StrEnum):
    """Why a probe is not ``ok``: a stable code for reports and scripts."""

    REFUSED = "refused"  # nothing listens there, or the network said no
    TIMEOUT = "timeout"  # no connection or no handshake within the timeout
    DNS = "dns"  # the name does not resolve
    TLS_ALERT = "tls-alert"  # the server aborted the handshake with an alert
    TLS_ERROR = "tls-error"  # the handshake failed otherwise (closed, not TLS…)
    UNTRUSTED = "untrusted"  # handshake done; the chain does not verify to the roots
    NAME_MISMATCH = "name-mismatch"  # handshake done; trusted, but not for this host
    BLOCKED_ADDRESS = "blocked-address"  # private, loopback, link-local… address refused


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """One URL to probe.

    ``host`` is the domain (A-label form, or an IP address), sent as SNI and checked
    against the certificate. ``connect_to`` reaches another address, e.g. the
    platform's own TLS terminator, while still asking for ``host``.
    ``expected_sha256`` is the fingerprint of the leaf that should be served (what
    certdesk installed); a different one is *drift*.
    """

    url: str
    host: str
    port: int = 443
    connect_to: tuple[str, int] | None = None
    expected_sha256: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise InvalidArgument(f"the port {self.port} of {self.url!r} is out of range")
        if self.connect_to is not None and not 0 < self.connect_to[1] < 65536:
            raise InvalidArgument(f"the connect-to port of {self.url!r} is out of range")
        if self.expected_sha256 is not None:
            normal = self.expected_sha256.replace(":", "").strip().lower()
            if len(normal) != 64 or any(c not in "0123456789abcdef" for c in normal):
                raise InvalidArgument(
                    f"the expected fingerprint of {self.url!r} is not a SHA-256 in hex",
                    hint="give the 64 hex digits of the leaf's SHA-256 fingerprint",
                )
            object.__setattr__(self, "expected_sha256", normal)

    @classmethod
    def for_url(cls, url: DomainUrl, expected_sha256: str | None = None) -> ProbeTarget:
        """A target for a domain's URL, through its connect-to address if it has one."""
        return cls(
            url=url.url,
            host=url.hostname,
            port=url.port,
            connect_to=url.connect_to.pair if url.connect_to is not None else None,
            expected_sha256=expected_sha256,
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        connect_to: tuple[str, int] | None = None,
        expected_sha256: str | None = None,
    ) -> ProbeTarget:
        """A target from a URL or ``host[:port]`` as given (port 443 unless given); its
        host may be an IP address."""
        parsed = DomainUrl.parse(url, allow_ip=True)
        return cls(
            url=url,
            host=parsed.hostname,
            port=parsed.port,
            connect_to=connect_to,
            expected_sha256=expected_sha256,
        )


@dataclass(frozen=True, slots=True)
class ServedCertificate:
    """One certificate as the server sent it: its DER bytes and its facts."""

    der: bytes
    info: CertificateInfo

    @property
    def pem(self) -> bytes:
        return self.certificate().public_bytes(serialization.Encoding.PEM)

    @property
    def sha256(self) -> str:
        return self.info.sha256

    @property
    def not_after(self) -> datetime:
        return self.info.not_after

    @property
    def issuer(self) -> str:
        return self.info.issuer

    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one probe of one target found, at ``started_at`` (UTC-aware).

    ``ok`` means: the handshake completed, the served chain verifies to the trust
    roots at ``started_at``, and the leaf covers ``target.host``. Otherwise
    ``error`` says why (the first that applies, in the order of :class:`ErrorKind`)
    and ``message`` says it in words. When the handshake completed, ``chain`` holds
    what was served, leaf first, even when it is expired, untrusted or for another
    name; ``trusted``, ``covers_host`` and ``drift`` are then set (``drift`` only
    when the target has an expected fingerprint). Drift does not change ``ok``.
    """

    target: ProbeTarget
    started_at: datetime
    ok: bool
    error: ErrorKind | None
    message: str
    address: tuple[str, int] | None = None
    duration: float | None = None
    tls_version: str | None = None
    cipher: str | None = None
    chain: tuple[ServedCertificate, ...] = field(default=())
    trusted: bool | None = None
    trust_reason: str | None = None
    covers_host: bool | None = None
    drift: bool | None = None

    @property
    def leaf(self) -> ServedCertificate | None:
        return self.chain[0] if self.chain else None

    def to_json(self, *, details: bool = True) -> dict[str, Any]:
        """The one JSON form of a probe result, for every output and for storing.

        Always: ``url``, ``host``, ``port``, ``at``, ``ok``, ``error`` (an
        :class:`ErrorKind` or null), ``message``, the served leaf's ``sha256``,
        ``not_after`` and ``issuer`` (null without a handshake), ``trusted``,
        ``trust_reason``, ``covers_host``, ``drift``, ``expected_sha256``. With
        ``details`` (not kept in a probe request's answer, which a reseller reads and a
        whole platform's sweep can fill): ``connect_to``, ``address`` (connected to),
        ``duration_ms``, ``tls_version``, ``cipher``, and the served ``leaf`` and the
        rest of its ``chain`` as certificate facts.
        """
        leaf = self.leaf
        data: dict[str, Any] = {
            "url": self.target.url,
            "host": self.target.host,
            "port": self.target.port,
            "at": iso_utc(self.started_at),
            "ok": self.ok,
            "error": self.error.value if self.error is not None else None,
            "message": self.message,
            "sha256": leaf.sha256 if leaf is not None else None,
            "not_after": iso_utc(leaf.not_after) if leaf is not None else None,
            "issuer": leaf.issuer if leaf is not None else None,
            "trusted": self.trusted,
            "trust_reason": self.trust_reason,
            "covers_host": self.covers_host,
            "drift": self.drift,
            "expected_sha256": self.target.expected_sha256,
        }
        if details:
            data |= {
                "connect_to": list(self.target.connect_to) if self.target.connect_to else None,
                "address": list(self.address) if self.address else None,
                "duration_ms": round(self.duration * 1000, 1)
                if self.duration is not None
                else None,
                "tls_version": self.tls_version,
                "cipher": self.cipher,
                "leaf": leaf.info.to_json() if leaf is not None else None,
                "chain": [c.info.to_json() for c in self.chain[1:]],
            }
        return data
