"""Certificates that expire at chosen instants, made by the ``openssl`` command line.

The test intermediate (``tests/openssl_pki.py``) signs them with ``openssl ca
-startdate/-enddate``, to the second; each comes as PEM and as a ``.pfx`` made by
``openssl pkcs12 -export``, so that certdesk takes it in through its real intake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from tests.openssl_pki import _CA, PFX_PASSWORD, OpenSSLPKI, run_openssl
from tests.signing import make_pfx

_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = {sans}
"""


@dataclass(frozen=True)
class Issued:
    name: str
    crt: Path
    key: Path
    pfx: Path
    not_before: datetime
    not_after: datetime


class CertMaker:
    """Issues leaf certificates for chosen names and validity; one P-256 key for all."""

    def __init__(self, pki: OpenSSLPKI, folder: Path) -> None:
        self.pki = pki
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.key = folder / "leaf-p256.key"
        run_openssl(
            "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.key
        )
        self.ca = _CA(folder / "ca")
        self._made: dict[tuple[str, datetime, datetime, tuple[str, ...]], Issued] = {}

    def issue(
        self,
        name: str,
        *,
        not_before: datetime,
        not_after: datetime,
        ips: tuple[str, ...] = (),
    ) -> Issued:
        """A certificate for ``name`` (CN and DNS SAN) valid from ``not_before`` to
        ``not_after`` exactly; made once per session for the same arguments."""
        cache_key = (name, not_before, not_after, ips)
        if cache_key in self._made:
            return self._made[cache_key]
        stem = f"{name}-{len(self._made)}"
        csr = self.folder / f"{stem}.csr"
        run_openssl("req", "-new", "-key", self.key, "-subj", f"/CN={name}", "-out", csr)
        crt = self.folder / f"{stem}.crt"
        sans = ", ".join([f"DNS:{name}", *(f"IP:{ip}" for ip in ips)])
        self.ca.issue(
            csr=csr,
            out=crt,
            issuer_crt=self.pki.int_crt,
            issuer_key=self.pki.int_key,
            start=not_before,
            end=not_after,
            ext=_EXT.format(sans=sans),
        )
        pfx = make_pfx(crt, self.key, self.folder / f"{stem}.pfx", PFX_PASSWORD, self.pki.int_crt)
        issued = Issued(name, crt, self.key, pfx, not_before, not_after)
        self._made[cache_key] = issued
        return issued


@pytest.fixture(scope="session")
def certs(pki: OpenSSLPKI, tmp_path_factory: pytest.TempPathFactory) -> CertMaker:
    """The session's maker of certificates expiring at chosen instants."""
    return CertMaker(pki, tmp_path_factory.mktemp("expiring"))
