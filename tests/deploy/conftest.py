"""Deploy items made from the openssl PKI, renewals issued by openssl, real servers."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from certdesk.deploy import DeployItem
from certdesk.pki import PrivateKey
from tests.deploy.servers import HAProxy, Nginx, run_haproxy, run_nginx
from tests.openssl_pki import OpenSSLPKI, openssl_fingerprint, run_openssl

STORE = "store.test.com"
SHOP = "shop.test.com"

_EXT = """\
[ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = {san}
"""


@dataclass(frozen=True)
class Issued:
    """A certificate and key made by openssl, with the chain it needs."""

    crt: Path
    key: Path
    chain: tuple[Path, ...]

    @property
    def sha256(self) -> str:
        return _fingerprint(self.crt)

    def certificates(self) -> tuple[x509.Certificate, ...]:
        return tuple(
            x509.load_pem_x509_certificate(p.read_bytes()) for p in (self.crt, *self.chain)
        )

    def private_key(self) -> PrivateKey:
        return cast(PrivateKey, load_pem_private_key(self.key.read_bytes(), None))

    def item(self, url: str, hostname: str | None = None) -> DeployItem:
        if hostname is None:
            return DeployItem.for_url(url, self.certificates(), self.private_key())
        return DeployItem(
            hostname=hostname, url=url, chain=self.certificates(), key=self.private_key()
        )

    def pem_with_key(self) -> bytes:
        return b"".join(p.read_bytes() for p in (self.crt, *self.chain, self.key))


@functools.cache
def _fingerprint(crt: Path) -> str:
    return openssl_fingerprint(crt)


def issue(pki: OpenSSLPKI, folder: Path, name: str, dns: list[str], days: int = 90) -> Issued:
    """A new key and leaf for ``dns``, signed by the test intermediate with openssl."""
    folder.mkdir(parents=True, exist_ok=True)
    key, csr, crt = folder / f"{name}.key", folder / f"{name}.csr", folder / f"{name}.crt"
    ext = folder / f"{name}.ext"
    ext.write_text(_EXT.format(san=", ".join(f"DNS:{d}" for d in dns)))
    run_openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    run_openssl("req", "-new", "-key", key, "-subj", f"/CN={dns[0]}", "-out", csr)
    serial = str(int(hashlib.sha256(name.encode()).hexdigest()[:12], 16))
    run_openssl(
        "x509", "-req", "-in", csr, "-CA", pki.int_crt, "-CAkey", pki.int_key,
        "-set_serial", serial, "-days", str(days), "-sha256",
        "-extfile", ext, "-extensions", "ext", "-out", crt,
    )  # fmt: skip
    return Issued(crt=crt, key=key, chain=(pki.int_crt,))


@dataclass(frozen=True)
class Certs:
    """The certificates the deploy tests install.

    ``store``: the PKI's leaf (store.test.com, www.test.com); ``store2`` and ``store3``:
    renewals of it issued by openssl; ``wildcard``: *.test.com; ``default``: what the
    servers serve for unknown names.
    """

    store: Issued
    store2: Issued
    store3: Issued
    wildcard: Issued
    default: Issued


@pytest.fixture(scope="session")
def certs(pki: OpenSSLPKI, tmp_path_factory: pytest.TempPathFactory) -> Certs:
    folder = tmp_path_factory.mktemp("deploy-certs")
    names = [STORE, "www.test.com"]
    return Certs(
        store=Issued(pki.leaf_crt, pki.leaf_key, (pki.int_crt,)),
        store2=issue(pki, folder, "store2", names),
        store3=issue(pki, folder, "store3", names),
        wildcard=Issued(pki.wildcard_crt, pki.wildcard_key, (pki.int_crt,)),
        default=Issued(pki.selfsigned_crt, pki.selfsigned_key, ()),
    )


@pytest.fixture
def nginx_server(tmp_path: Path, certs: Certs) -> Iterator[Nginx]:
    with run_nginx(tmp_path / "nginx", certs.default.crt, certs.default.key) as server:
        yield server


@pytest.fixture
def haproxy_server(tmp_path: Path, certs: Certs) -> Iterator[HAProxy]:
    with run_haproxy(tmp_path / "haproxy", certs.default.pem_with_key()) as server:
        yield server


TargetOptions = Callable[[str], dict[str, object]]


@pytest.fixture
def target_options(request: pytest.FixtureRequest, tmp_path: Path) -> TargetOptions:
    """The options of each built-in target, starting its server only when asked for."""

    def make(name: str) -> dict[str, object]:
        if name == "files":
            return {"folder": str(tmp_path / "files")}
        if name == "pfx":
            return {"folder": str(tmp_path / "pfx"), "password": "pfx-s3cret"}
        if name == "nginx":
            server: Nginx = request.getfixturevalue("nginx_server")
            return server.options()
        if name == "haproxy":
            proxy: HAProxy = request.getfixturevalue("haproxy_server")
            return proxy.options()
        raise AssertionError(name)

    return make
