"""What the reading step of an intake is given and gives back: plain values only.

A :func:`~certdesk.desk.context.staged` use case reads and checks a file outside any
transaction, in ``certdesk serve`` in another process: its job and its result cross a
pipe, so they hold bytes, strings, numbers and findings, never ``cryptography`` objects
or a session. Certificates travel as DER, a private key as unencrypted PKCS#8 DER (only
between the reader and the step that seals it; never logged, never stored as is).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning

from certdesk.desk.context import Ctx
from certdesk.pki import CheckOptions, PrivateKey, parse_host
from certdesk.pki.load import check_key_type
from certdesk.pki.names import PublicSuffixTest


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """What :func:`certdesk.pki.check_bundle` checks against, as plain values.

    ``is_public_suffix`` is a module-level function (it travels by name).
    """

    at: datetime
    hosts: tuple[str, ...] = ()
    roots: tuple[bytes, ...] = ()  # DER
    intermediates: tuple[bytes, ...] = ()  # DER: CA certificates certdesk knows already
    expires_soon_days: int = 30
    is_public_suffix: PublicSuffixTest | None = None
    expected_common_name: str | None = None

    def options(self) -> CheckOptions:
        return CheckOptions(
            at=self.at,
            hosts=[parse_host(h) for h in self.hosts],
            roots=roots_of(self.roots),
            intermediates=certificates_of(self.intermediates),
            expires_soon_days=self.expires_soon_days,
            is_public_suffix=self.is_public_suffix,
            expected_common_name=self.expected_common_name,
        )


def check_spec(
    ctx: Ctx,
    *,
    hosts: Iterable[str],
    expected_common_name: str | None = None,
    intermediates: Iterable[bytes] = (),
) -> CheckSpec:
    """The spec of the desk's policy, at the context's instant."""
    return CheckSpec(
        at=ctx.now,
        hosts=tuple(hosts),
        roots=_roots_der(tuple(ctx.policy.roots)),
        intermediates=tuple(intermediates),
        expires_soon_days=ctx.policy.expires_soon_days,
        is_public_suffix=ctx.policy.is_public_suffix,
        expected_common_name=expected_common_name,
    )


def der_of(certificates: Iterable[x509.Certificate]) -> tuple[bytes, ...]:
    return tuple(c.public_bytes(serialization.Encoding.DER) for c in certificates)


def certificates_of(ders: Sequence[bytes]) -> tuple[x509.Certificate, ...]:
    """Certificates a reader (or the trust store) already loaded, back from DER (cheap).

    pyca's warning about a non-positive serial was the loader's to give, once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return tuple(x509.load_der_x509_certificate(d) for d in ders)


def key_der(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def key_of(der: bytes) -> PrivateKey:
    """A key a reader already loaded and checked, back from PKCS#8 DER: pyca's RSA
    consistency check (the costly part of loading it) was done by the reader."""
    key = serialization.load_der_private_key(der, None, unsafe_skip_rsa_key_validation=True)
    return check_key_type(key)


@functools.lru_cache(maxsize=8)
def _roots_der(roots: tuple[x509.Certificate, ...]) -> tuple[bytes, ...]:
    return der_of(roots)


@functools.lru_cache(maxsize=8)
def roots_of(ders: tuple[bytes, ...]) -> tuple[x509.Certificate, ...]:
    """The trust roots of a spec (parsed once per reader process and set of roots)."""
    return certificates_of(ders)
