"""Trust stores and the Public Suffix List: the data the pure PKI layer is handed.

Mozilla's roots come from ``certifi``; an operator adds its own (private CAs, test
CAs) with a PEM bundle (``--ca-bundle``, ``CERTDESK_CA_BUNDLE``).
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import certifi
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from publicsuffixlist import PublicSuffixList

from certdesk.errors import InvalidArgument, NoCertificate
from certdesk.pki import load_certificates


@functools.cache
def mozilla_roots() -> tuple[x509.Certificate, ...]:
    """The roots browsers trust, as shipped by certifi."""
    data = Path(certifi.where()).read_bytes()
    with warnings.catch_warnings():
        # certifi carries a root or two with a non-positive serial; pyca warns, browsers load it.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return tuple(x509.load_pem_x509_certificates(data))


def load_ca_bundle(path: Path) -> tuple[x509.Certificate, ...]:
    """An operator's own trusted roots from a PEM (or DER, or PKCS#7) file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(
            f"cannot read the CA bundle {path}: {exc.strerror}",
            hint="give a PEM file of the CA certificates to trust",
        ) from exc
    try:
        return load_certificates(data, max_bytes=16 * 1024 * 1024)
    except NoCertificate as exc:
        raise InvalidArgument(f"the CA bundle {path} holds no certificate") from exc


def trust_roots(
    extra_bundle: Path | None = None, *, include_mozilla: bool = True
) -> tuple[x509.Certificate, ...]:
    """Mozilla's roots plus the operator's bundle, when one is given."""
    roots: tuple[x509.Certificate, ...] = mozilla_roots() if include_mozilla else ()
    if extra_bundle is not None:
        roots += load_ca_bundle(extra_bundle)
    return roots


@functools.cache
def _suffix_list() -> object:
    return PublicSuffixList(only_icann=True)


def is_public_suffix(name: str) -> bool:
    """Is ``name`` (A-label form) a public suffix such as ``com`` or ``co.uk``?

    Uses the ICANN section of the Public Suffix List, as browsers do when they
    refuse a wildcard certificate for a whole registry.
    """
    psl = _suffix_list()
    return bool(psl.is_public(name))  # type: ignore[attr-defined]


def registrable_domain(name: str) -> str | None:
    """The registrable part of ``name`` (``shop.co.uk`` for ``www.shop.co.uk``): one label
    under a public suffix the ICANN list knows; None when ``name`` is a suffix itself or
    its top-level label is not a delegated one (``vm``, ``corp``, ``internal``)."""
    psl = _suffix_list()
    found = psl.privatesuffix(name.lower(), accept_unknown=False)  # type: ignore[attr-defined]
    return str(found) if found else None
