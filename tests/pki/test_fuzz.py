"""No input crashes or stalls the loaders: only certdesk errors, never a raw exception.

Real files (pyca's ``cryptography-vectors``, and the openssl-made test PKI) are read as
they are, then mutated by Hypothesis (bytes changed, cut, repeated, inserted) and read
again, through everything a user's upload goes through: ``load_bundle``, ``describe``
of every certificate, and ``check_bundle``. The time guard is deliberately generous
(five seconds for one file, where every file here takes milliseconds): it exists to
catch a pathological case such as an unbounded key derivation, not to time anything.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import cryptography_vectors
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certdesk.errors import CertdeskError
from certdesk.pki import CheckOptions, check_bundle, describe, load_bundle, parse_host
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI

# pyca warns (and goes on) about encodings it will refuse one day, such as the Belgian
# eID's UTF-8 in a VisibleString or a three-letter country; a warning is not a crash,
# and the suite's -W error would make it one.
pytestmark = [
    pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning"),
]

VECTORS = Path(cryptography_vectors.__file__).parent
GUARD_SECONDS = 5.0
AT = datetime(2026, 1, 1, tzinfo=UTC)
HOSTS = (parse_host("store.test.com"), parse_host("www.cryptography.io"))

# Certificates pyca's own tests use, the well-formed and the deliberately broken.
CERT_FILES = sorted(
    p
    for p in [*(VECTORS / "x509").glob("*"), *(VECTORS / "x509" / "custom").glob("*")]
    if p.suffix in (".pem", ".der") and "crl" not in p.name and "csr" not in p.name
)
PFX_FILES = sorted((VECTORS / "pkcs12").rglob("*.p12"))
P7_FILES = sorted((VECTORS / "pkcs7").glob("*"))
VECTOR_PASSWORD = b"cryptography"  # the password of pyca's *-pwd.p12 vectors


def _read_everything(data: bytes, password: bytes | None, roots: list) -> None:
    """What an upload goes through; only CertdeskError may come out, within the guard."""
    started = time.perf_counter()
    try:
        bundle = load_bundle(data, password)
        for cert in bundle.certificates:
            describe(cert)
        if bundle.certificates:
            check_bundle(bundle, CheckOptions(at=AT, hosts=HOSTS, roots=roots))
    except CertdeskError:
        pass
    elapsed = time.perf_counter() - started
    assert elapsed < GUARD_SECONDS, f"{len(data)} bytes took {elapsed:.1f} s"


@pytest.mark.parametrize("path", CERT_FILES + PFX_FILES + P7_FILES, ids=lambda p: p.name)
def test_every_vector_file_loads_or_is_refused(path: Path, pki: OpenSSLPKI) -> None:
    password = VECTOR_PASSWORD if path.suffix == ".p12" else None
    _read_everything(path.read_bytes(), password, pki.roots)


def test_the_vectors_were_found() -> None:
    assert len(CERT_FILES) > 100
    assert len(PFX_FILES) > 20


def _mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """Apply (kind, position, value) edits: overwrite, flip, cut, insert, repeat."""
    out = bytearray(data)
    for kind, position, value in edits:
        if not out:
            break
        at = position % len(out)
        if kind == 0:
            out[at] = value
        elif kind == 1:
            out[at] ^= 1 << (value % 8)
        elif kind == 2:
            del out[at:]
        elif kind == 3:
            out[at:at] = bytes([value]) * (1 + value % 4)
        else:
            out[at:at] = out[at : at + 1 + value]
    return bytes(out)


EDITS = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 1 << 20), st.integers(0, 255)),
    min_size=1,
    max_size=6,
)


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,  # the time guard is ours, in _read_everything
        derandomize=True,  # the same cases on every run and machine
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _seeds(pki: OpenSSLPKI, names: list[str]) -> list[bytes]:
    return [getattr(pki, name).read_bytes() for name in names]


@fuzz(1500)
@given(index=st.integers(0, 10_000), edits=EDITS)
def test_mutated_certificates(pki: OpenSSLPKI, index: int, edits: list) -> None:
    seeds = [p.read_bytes() for p in CERT_FILES[:: max(1, len(CERT_FILES) // 40)]]
    seeds += _seeds(pki, ["leaf_der", "leaf_crt", "fullchain_pem", "p7b_der", "p7b_pem"])
    _read_everything(_mutate(seeds[index % len(seeds)], edits), None, pki.roots)


@fuzz(1000)
@given(index=st.integers(0, 10_000), edits=EDITS, with_password=st.booleans())
def test_mutated_pfx_files(pki: OpenSSLPKI, index: int, edits: list, with_password: bool) -> None:
    seeds = [(p.read_bytes(), VECTOR_PASSWORD) for p in PFX_FILES]
    seeds += [
        (data, PFX_PASSWORD.encode())
        for data in _seeds(pki, ["modern_pfx", "legacy_pfx", "nokey_pfx", "nochain_pfx"])
    ]
    data, password = seeds[index % len(seeds)]
    _read_everything(_mutate(data, edits), password if with_password else None, pki.roots)


@fuzz(500)
@given(index=st.integers(0, 10_000), edits=EDITS)
def test_mutated_keys(pki: OpenSSLPKI, index: int, edits: list) -> None:
    seeds = _seeds(
        pki, ["leaf_key", "leaf_key_der", "leaf_key_pkcs1", "leaf_key_encrypted", "p384_key_sec1"]
    )
    _read_everything(_mutate(seeds[index % len(seeds)], edits), PFX_PASSWORD.encode(), pki.roots)
