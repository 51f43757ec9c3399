"""Chains with alternative paths, made by the ``openssl`` command line once per session.

The shapes are those of real bundles that path building must get right:

* **Let's Encrypt, 2021**: leaf ← R3 ← ISRG Root X1, where the bundle carries X1
  *cross-signed by* the old root DST Root CA X3, which has expired. Trust stores hold
  X1 self-signed (and some still hold the expired DST).
* **Sectigo / Comodo**: leaf ← Sectigo DV CA ← USERTrust, the bundle carrying USERTrust
  cross-signed by an older root, AAA Certificate Services (valid) or AddTrust External
  CA Root (expired, and the cross-certificate with it).
* **Two intermediates with one subject** ("Example Issuing CA"): the good one, one with
  another key, one expired, one issued by an unknown root, one without keyCertSign.
* **A private root made by ``openssl req -x509``** with no keyUsage, as operators make
  them, and a leaf under it.

Every certificate is written by OpenSSL 3 (``openssl ca``, ``openssl req -x509``,
``openssl x509 -req``); keys are EC P-256 so that the whole set is made in a second.
"""

from __future__ import annotations

import itertools
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from tests.openssl_pki import _CA, PFX_PASSWORD, run_openssl

_REQ_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
"""

_CA_EXT = """\
basicConstraints = critical, CA:TRUE{pathlen}
keyUsage = critical, {usage}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
{extra}"""

_LEAF_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:{name}
"""

_KEYS = (
    "dst",
    "x1",
    "r3",
    "le_leaf",
    "addtrust",
    "aaa",
    "usertrust",
    "sectigo_dv",
    "shop_leaf",
    "example_root",
    "issuing",
    "issuing_other",
    "unknown_root",
    "example_leaf",
    "example_leaf2",
    "private_root",
    "private_int",
    "private_leaf",
    "private_int_leaf",
)

LE_HOST = "le.test.com"
SHOP_HOST = "shop.test.com"
EXAMPLE_HOST = "www.example-shop.test"
EXAMPLE_HOST2 = "pay.example-shop.test"
PRIVATE_HOST = "app.internal.test"
ISSUING_CN = "Example Issuing CA"


@dataclass(frozen=True)
class Chains:
    """The files of every chain shape (``path(name)``) and helpers to read them."""

    folder: Path
    made_at: datetime

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.crt"

    def cert(self, name: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.path(name).read_bytes())

    def certs(self, *names: str) -> list[x509.Certificate]:
        return [self.cert(n) for n in names]

    def name_of(self, cert: x509.Certificate) -> str:
        """The name of the file that holds ``cert``."""
        for path in sorted(self.folder.glob("*.crt")):
            if x509.load_pem_x509_certificate(path.read_bytes()) == cert:
                return path.stem
        raise LookupError(cert.subject.rfc4514_string())

    def pem(self, *names: str) -> bytes:
        return b"".join(self.path(n).read_bytes() for n in names)

    def pfx(self, leaf: str, *chain: str, password: str = PFX_PASSWORD) -> Path:
        """``openssl pkcs12 -export`` of ``leaf`` with its key and ``chain``."""
        out = self.folder / f"{'-'.join((leaf, *chain))}.pfx"
        args: list[str | Path] = ["pkcs12", "-export", "-in", self.path(leaf)]
        args += ["-inkey", self.folder / f"{leaf}.key", "-passout", f"pass:{password}"]
        if chain:
            bundle = self.folder / f"{'-'.join(chain)}.chain.pem"
            bundle.write_bytes(self.pem(*chain))
            args += ["-certfile", bundle]
        run_openssl(*args, "-out", out)
        return out


def build_chains(folder: Path) -> Chains:
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).replace(microsecond=0)
    day = timedelta(days=1)
    year = 365 * day
    key = {name: folder / f"{name}.key" for name in _KEYS}

    def genkey(name: str) -> None:
        run_openssl(
            "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key[name]
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(genkey, _KEYS))
    req_cnf = folder / "req.cnf"
    req_cnf.write_text(_REQ_CNF)
    counter = itertools.count()

    def csr(key_name: str, subject: str) -> Path:
        out = folder / f"{key_name}-{next(counter)}.csr"
        run_openssl(
            "req", "-new", "-config", req_cnf, "-key", key[key_name], "-subj", subject, "-out", out
        )
        return out

    ca = _CA(folder / "ca")

    def crt(name: str) -> Path:
        return folder / f"{name}.crt"

    def issue(
        name: str,
        *,
        key_name: str,
        subject: str,
        issuer: str | None,
        issuer_key: str,
        start: datetime,
        end: datetime,
        ext: str,
    ) -> None:
        ca.issue(
            csr=csr(key_name, subject),
            out=crt(name),
            issuer_crt=crt(issuer) if issuer is not None else None,
            issuer_key=key[issuer_key],
            start=start,
            end=end,
            ext=ext,
        )

    def ca_ext(
        pathlen: int | None = None, usage: str = "keyCertSign, cRLSign", extra: str = ""
    ) -> str:
        return _CA_EXT.format(
            pathlen="" if pathlen is None else f", pathlen:{pathlen}", usage=usage, extra=extra
        )

    def root(name: str, subject: str, start: datetime, end: datetime) -> None:
        issue(
            name,
            key_name=name,
            subject=subject,
            issuer=None,
            issuer_key=name,
            start=start,
            end=end,
            ext=ca_ext(),
        )

    def leaf(name: str, host: str, issuer: str, issuer_key: str) -> None:
        issue(
            name,
            key_name=name,
            subject=f"/CN={host}",
            issuer=issuer,
            issuer_key=issuer_key,
            start=now - 10 * day,
            end=now + 80 * day,
            ext=_LEAF_EXT.format(name=host),
        )

    # Let's Encrypt, 2021.
    dst, x1, r3 = (
        "/O=Digital Signature Trust Co./CN=DST Root CA X3",
        "/C=US/O=Internet Security Research Group/CN=ISRG Root X1",
        "/C=US/O=Let's Encrypt/CN=R3",
    )
    root("dst", dst, now - 20 * year, now - 60 * day)
    root("x1", x1, now - 9 * year, now + 20 * year)
    issue(
        "x1_cross",
        key_name="x1",
        subject=x1,
        issuer="dst",
        issuer_key="dst",
        start=now - 4 * year,
        end=now + year,
        ext=ca_ext(),
    )
    issue(
        "r3",
        key_name="r3",
        subject=r3,
        issuer="x1",
        issuer_key="x1",
        start=now - 4 * year,
        end=now + year,
        ext=ca_ext(
            0,
            "digitalSignature, keyCertSign, cRLSign",
            "extendedKeyUsage = serverAuth, clientAuth\n",
        ),
    )
    leaf("le_leaf", LE_HOST, "r3", "r3")

    # Sectigo / Comodo, with the AAA and the AddTrust cross-signs.
    addtrust, aaa, usertrust, dv = (
        "/C=SE/O=AddTrust AB/CN=AddTrust External CA Root",
        "/C=GB/O=Comodo CA Limited/CN=AAA Certificate Services",
        "/C=US/O=The USERTRUST Network/CN=USERTrust RSA Certification Authority",
        "/C=GB/O=Sectigo Limited/CN=Sectigo RSA Domain Validation Secure Server CA",
    )
    root("addtrust", addtrust, now - 20 * year, now - 200 * day)
    root("aaa", aaa, now - 20 * year, now + 3 * year)
    root("usertrust", usertrust, now - 15 * year, now + 12 * year)
    for cross, issuer, end in (
        ("usertrust_by_aaa", "aaa", now + 2 * year),
        ("usertrust_by_addtrust", "addtrust", now - 200 * day),
    ):
        issue(
            cross,
            key_name="usertrust",
            subject=usertrust,
            issuer=issuer,
            issuer_key=issuer,
            start=now - 6 * year,
            end=end,
            ext=ca_ext(),
        )
    issue(
        "sectigo_dv",
        key_name="sectigo_dv",
        subject=dv,
        issuer="usertrust",
        issuer_key="usertrust",
        start=now - 6 * year,
        end=now + 4 * year,
        ext=ca_ext(0),
    )
    leaf("shop_leaf", SHOP_HOST, "sectigo_dv", "sectigo_dv")

    # One subject, several intermediates: only "issuing_good" leads to a valid path.
    root("example_root", "/CN=Example Root CA", now - 5 * year, now + 10 * year)
    root("unknown_root", "/CN=Unknown Root CA", now - 5 * year, now + 10 * year)
    subject = f"/CN={ISSUING_CN}"
    variants = {
        "issuing_good": ("issuing", "example_root", now - year, now + 3 * year, ca_ext(0)),
        "issuing_wrongkey": (
            "issuing_other",
            "example_root",
            now - year,
            now + 3 * year,
            ca_ext(0),
        ),
        "issuing_expired": ("issuing", "example_root", now - 3 * year, now - 5 * day, ca_ext(0)),
        "issuing_otherissuer": ("issuing", "unknown_root", now - year, now + 3 * year, ca_ext(0)),
        "issuing_nokeycertsign": (
            "issuing",
            "example_root",
            now - year,
            now + 3 * year,
            ca_ext(0, "digitalSignature"),
        ),
    }
    for name, (key_name, issuer, start, end, ext) in variants.items():
        issue(
            name,
            key_name=key_name,
            subject=subject,
            issuer=issuer,
            issuer_key=issuer,
            start=start,
            end=end,
            ext=ext,
        )
    leaf("example_leaf", EXAMPLE_HOST, "issuing_good", "issuing")
    leaf("example_leaf2", EXAMPLE_HOST2, "issuing_good", "issuing")

    # A private root as operators make it: `openssl req -x509`, no keyUsage at all.
    run_openssl(
        "req",
        "-x509",
        "-new",
        "-config",
        req_cnf,
        "-key",
        key["private_root"],
        "-subj",
        "/O=Internal/CN=certdesk Private Root",
        "-days",
        "3650",
        "-sha256",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-out",
        crt("private_root"),
    )

    def sign_with_x509(name: str, subject: str, issuer: str, ext: str) -> None:
        ext_file = folder / f"{name}.ext"
        ext_file.write_text(ext)
        run_openssl(
            "x509",
            "-req",
            "-in",
            csr(name, subject),
            "-CA",
            crt(issuer),
            "-CAkey",
            key[issuer],
            "-CAcreateserial",
            "-days",
            "90",
            "-sha256",
            "-extfile",
            ext_file,
            "-out",
            crt(name),
        )

    leaf_ext = (
        "basicConstraints = critical, CA:FALSE\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectAltName = DNS:{host}\n"
        "authorityKeyIdentifier = keyid\n"
    )
    sign_with_x509(
        "private_leaf", f"/CN={PRIVATE_HOST}", "private_root", leaf_ext.format(host=PRIVATE_HOST)
    )
    # An intermediate under the private root made the same careless way: no keyUsage.
    # It is not a trust anchor, so browsers refuse it, and the message must name it.
    sign_with_x509(
        "private_int",
        "/O=Internal/CN=certdesk Private Issuing CA",
        "private_root",
        "basicConstraints = critical, CA:TRUE\nauthorityKeyIdentifier = keyid\n"
        "subjectKeyIdentifier = hash\n",
    )
    sign_with_x509(
        "private_int_leaf",
        "/CN=api.internal.test",
        "private_int",
        leaf_ext.format(host="api.internal.test"),
    )
    return Chains(folder=folder, made_at=now)


def openssl_verify(
    chains: Chains, leaf: str, *, trusted: list[str], untrusted: list[str], partial: bool = False
) -> bool:
    """Does ``openssl verify -CAfile TRUSTED -untrusted UNTRUSTED LEAF`` accept the leaf?

    ``partial`` adds ``-partial_chain``: a trusted certificate that is not self-signed
    (an intermediate) anchors a path, as every certificate of a trust store does.
    """
    ca_file = chains.folder / f"verify-ca-{'-'.join(trusted)}.pem"
    ca_file.write_bytes(chains.pem(*trusted))
    args = ["openssl", "verify", "-CAfile", str(ca_file)]
    if partial:
        args.append("-partial_chain")
    if untrusted:
        pool = chains.folder / f"verify-pool-{'-'.join(untrusted)}.pem"
        pool.write_bytes(chains.pem(*untrusted))
        args += ["-untrusted", str(pool)]
    done = subprocess.run([*args, str(chains.path(leaf))], capture_output=True, check=False)
    return done.returncode == 0
