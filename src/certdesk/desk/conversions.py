"""Converting a reseller's own files: ``.crt`` + key (+ chain) to a ``.pfx``, and a ``.pfx``
to PEM. Nothing is stored and nothing is audited: the files and passwords go to the
reader (a worker process under ``serve``, bounded in CPU and time like an upload) and the
result goes back to the caller, who downloads it.

The conversion itself is what ``certdesk convert`` does (``pki``: leaf found by its key,
chain ordered leaf → root, unrelated certificates left out). Each refusal names the input
it is about in ``field``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509

from certdesk.desk.context import Stages, staged
from certdesk.errors import (
    InputError,
    InvalidArgument,
    NoCertificate,
    NoPrivateKey,
    UnsupportedFormat,
    WrongPassword,
    about,
)
from certdesk.pki import (
    describe,
    ensure_key_matches,
    key_to_pem,
    load_bundle,
    load_certificates,
    load_private_key,
    order_chain,
    pick_leaf,
    spki_sha256,
    to_pem,
    to_pfx,
)


@dataclass(frozen=True, slots=True)
class Converted:
    """A file to download: its bytes, media type and name, and what it holds."""

    data: bytes = field(repr=False)
    media_type: str
    filename: str
    certificates: int  # how many, leaf first
    common_name: str
    with_key: bool


@dataclass(frozen=True, slots=True)
class PfxJob:
    """``.crt`` + key (+ chain) → ``.pfx``: plain values for the reader (passwords used once)."""

    certificate: bytes = field(repr=False)
    key: bytes = field(repr=False)
    chain: bytes | None = field(repr=False)
    key_password: bytes | None = field(repr=False)
    password: bytes = field(repr=False)
    legacy: bool
    max_bytes: int
    max_iterations: int


@dataclass(frozen=True, slots=True)
class PemJob:
    """``.pfx`` → PEM: plain values for the reader (passwords used once)."""

    data: bytes = field(repr=False)
    password: bytes | None = field(repr=False)
    include_key: bool
    key_password: bytes | None = field(repr=False)
    max_bytes: int
    max_iterations: int


def _name(common_name: str | None) -> str:
    return common_name or "certificate"


def make_pfx(job: PfxJob) -> Converted:
    """The reader's part of :func:`convert_to_pfx`: pure, over plain values."""
    bounds = {"max_bytes": job.max_bytes, "max_iterations": job.max_iterations}
    with about("certificate"):
        main = load_bundle(job.certificate, None, **bounds)
        if not main.certificates:
            raise NoCertificate(
                "the certificate file holds no certificate",
                hint="choose the .crt (or .pem, .cer) file your certificate authority sent",
            )
        if main.private_key is not None:
            raise UnsupportedFormat(
                "the certificate file holds a private key as well",
                hint="choose the file that holds only the certificate, and the key separately",
            )
    with about("key"), about("key_password", WrongPassword):
        key = load_private_key(job.key, job.key_password, **bounds)
    chain: tuple[x509.Certificate, ...] = ()
    if job.chain:
        with about("chain"):
            chain = load_certificates(job.chain, None, **bounds)
    certificates = main.certificates + chain
    leaf = pick_leaf(certificates, spki_sha256(key))
    with about("key"):
        ensure_key_matches(key, leaf)
    path = order_chain(certificates, leaf=leaf).path
    cn = describe(leaf).common_name
    data = to_pfx(key, leaf, path[1:], password=job.password, legacy=job.legacy, friendly_name=cn)
    return Converted(data, "application/x-pkcs12", f"{_name(cn)}.pfx", len(path), _name(cn), True)


def make_pem(job: PemJob) -> Converted:
    """The reader's part of :func:`convert_pfx_to_pem`: pure, over plain values."""
    with about("data", InputError), about("password", WrongPassword):
        bundle = load_bundle(
            job.data, job.password, max_bytes=job.max_bytes, max_iterations=job.max_iterations
        )
    if bundle.format != "pkcs12":
        raise UnsupportedFormat(
            f"this file is {bundle.format.upper()}, not a .pfx/.p12",
            hint="choose the .pfx or .p12 file",
            field="data",
        )
    if not bundle.certificates:
        raise NoCertificate("the .pfx holds no certificate", field="data")
    key = bundle.private_key
    leaf = pick_leaf(bundle.certificates, spki_sha256(key) if key is not None else None)
    path = order_chain(bundle.certificates, leaf=leaf).path
    data = to_pem(path)
    if job.include_key:
        if key is None:
            raise NoPrivateKey(
                "the .pfx holds no private key to include",
                hint="leave the private key out, or choose the .pfx that holds it",
                field="include_key",
            )
        data = key_to_pem(key, job.key_password) + data
    cn = describe(leaf).common_name
    return Converted(
        data, "application/x-pem-file", f"{_name(cn)}.pem", len(path), _name(cn), job.include_key
    )


@staged
def convert_to_pfx(
    stages: Stages,
    *,
    certificate: bytes,
    key: bytes,
    chain: bytes | None = None,
    key_password: bytes | None = None,
    password: bytes,
    legacy: bool = False,
) -> Converted:
    """A ``.pfx`` of the certificate, its key and chain, protected by ``password``."""
    if not certificate:
        raise NoCertificate(
            "no certificate file was given", hint="choose the .crt file", field="certificate"
        )
    if not key:
        raise NoPrivateKey(
            "a .pfx for a server needs the private key, and none was given",
            hint="choose the key file made with the CSR (often .key)",
            field="key",
        )
    if not password:
        raise InvalidArgument(
            "a .pfx needs a password: without one the private key is left unprotected",
            hint="choose a password for the new .pfx and give it to whoever installs it",
            field="password",
        )
    job = PfxJob(
        certificate,
        key,
        chain or None,
        key_password or None,
        password,
        legacy,
        stages.policy.max_upload_bytes,
        stages.policy.max_pkcs12_iterations,
    )
    return stages.read(make_pfx, job)


@staged
def convert_pfx_to_pem(
    stages: Stages,
    *,
    data: bytes,
    password: bytes | None = None,
    include_key: bool = False,
    key_password: bytes | None = None,
) -> Converted:
    """The ``.pfx``'s certificates as PEM, leaf first (and its key first, if asked: encrypted
    with ``key_password`` when one is given)."""
    if not data:
        raise NoCertificate("no .pfx file was given", hint="choose the .pfx file", field="data")
    job = PemJob(
        data,
        password or None,
        include_key,
        key_password or None,
        stages.policy.max_upload_bytes,
        stages.policy.max_pkcs12_iterations,
    )
    # The reader's own limits (time, CPU) refuse here, outside make_pem: about the file too.
    with about("data", InputError), about("password", WrongPassword):
        return stages.read(make_pem, job)
