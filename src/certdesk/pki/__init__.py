"""certdesk's pure X.509 layer: bytes in, typed values out.

No database, no network, no file system and no clock of its own: callers pass the
bytes, the trust roots and the instant ``at``. Imports only ``cryptography``,
``idna`` and the standard library.
"""

from certdesk.pki.chain import ChainAnalysis, Verification, order_chain, pick_leaf, verify
from certdesk.pki.checks import CheckOptions, CheckReport, Finding, Severity, check_bundle
from certdesk.pki.expiry import Urgency, days_left, is_expired, urgency
from certdesk.pki.export import ensure_key_matches, key_to_pem, to_der, to_p7b, to_pem, to_pfx
from certdesk.pki.facts import (
    CertificateInfo,
    describe,
    fingerprint,
    iso_utc,
    spki_sha256,
    time_left,
)
from certdesk.pki.load import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ITERATIONS,
    MAX_KEY_BITS,
    Bundle,
    PrivateKey,
    load_bundle,
    load_certificates,
    load_private_key,
)
from certdesk.pki.names import Host, covers, parse_host, pattern_matches
from certdesk.pki.paths import BuiltChain, build_chain, served
from certdesk.pki.probes import ErrorKind, ProbeResult, ProbeTarget, ServedCertificate
from certdesk.pki.urls import Address, DomainUrl, install_name

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ITERATIONS",
    "MAX_KEY_BITS",
    "Address",
    "BuiltChain",
    "Bundle",
    "CertificateInfo",
    "ChainAnalysis",
    "CheckOptions",
    "CheckReport",
    "DomainUrl",
    "ErrorKind",
    "Finding",
    "Host",
    "PrivateKey",
    "ProbeResult",
    "ProbeTarget",
    "ServedCertificate",
    "Severity",
    "Urgency",
    "Verification",
    "build_chain",
    "check_bundle",
    "covers",
    "days_left",
    "describe",
    "ensure_key_matches",
    "fingerprint",
    "install_name",
    "is_expired",
    "iso_utc",
    "key_to_pem",
    "load_bundle",
    "load_certificates",
    "load_private_key",
    "order_chain",
    "parse_host",
    "pattern_matches",
    "pick_leaf",
    "served",
    "spki_sha256",
    "time_left",
    "to_der",
    "to_p7b",
    "to_pem",
    "to_pfx",
    "urgency",
    "verify",
]
