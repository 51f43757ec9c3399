"""A test PKI made by the ``openssl`` command line, once per test session.

Every certificate, key, CSR, PKCS#7 and PKCS#12 file the tests read is written here by
OpenSSL 3 itself (``subprocess.run([...], check=True)``), never by certdesk or by pyca's
serialisers, so that the tests compare certdesk with an independent implementation.

Validity periods are computed from the real current time. ``openssl x509`` in OpenSSL
3.0 has no ``-not_before``, so every certificate (the self-signed root included) is
issued with ``openssl ca`` and ``-startdate``/``-enddate``; only ``selfsigned_crt`` is
made with ``openssl req -x509`` (valid from the moment it is made, for 365 days).
"""

from __future__ import annotations

import hashlib
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

PFX_PASSWORD = "s3cret"
UTF8_PASSWORD = "pässwörd-κλειδί"

ROOT_CN = "certdesk Test Root CA"
INT_CN = "certdesk Test Intermediate CA"
LEAF_SUBJECT = "/C=GR/O=Test Inc./CN=store.test.com"

_REQ_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
"""

_CA_CNF = """\
[ca]
default_ca = test_ca
[test_ca]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
preserve = yes
email_in_dn = no
copy_extensions = none
[policy_any]
countryName = optional
organizationName = optional
commonName = supplied
"""

_CA_EXT = """\
basicConstraints = critical, CA:TRUE{pathlen}
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""

_LEAF_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = {eku}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


def run_openssl(*args: str | Path, stdin: bytes | None = None) -> bytes:
    """Run ``openssl ARGS`` (check=True) and return its standard output."""
    done = subprocess.run(
        ["openssl", *map(str, args)], input=stdin, capture_output=True, check=True
    )
    return done.stdout


def openssl_time(moment: datetime) -> str:
    """``YYYYMMDDHHMMSSZ`` as ``openssl ca -startdate/-enddate`` takes it."""
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


@dataclass(frozen=True)
class OpenSSLPKI:
    """Paths of every file of the test PKI (see ``build_pki``)."""

    folder: Path
    made_at: datetime
    root_crt: Path
    root_key: Path
    int_crt: Path
    int_key: Path
    leaf_crt: Path
    leaf_key: Path
    wildcard_crt: Path
    wildcard_key: Path
    expired_crt: Path
    expired_key: Path
    notyet_crt: Path
    notyet_key: Path
    soon_crt: Path
    soon_key: Path
    sha1_crt: Path
    sha1_key: Path
    rsa1024_crt: Path
    rsa1024_key: Path
    p384_crt: Path
    p384_key: Path
    selfsigned_crt: Path
    selfsigned_key: Path
    nosan_crt: Path
    nosan_key: Path
    clientonly_crt: Path
    clientonly_key: Path
    other_key: Path
    chain_pem: Path
    fullchain_pem: Path
    leaf_der: Path
    p7b_pem: Path
    p7b_der: Path
    csr: Path
    leaf_key_der: Path
    leaf_key_pkcs1: Path
    leaf_key_encrypted: Path
    p384_key_sec1: Path
    modern_pfx: Path
    legacy_pfx: Path
    nopass_pfx: Path
    utf8_pfx: Path
    nokey_pfx: Path
    nochain_pfx: Path

    @property
    def roots(self) -> list[x509.Certificate]:
        """The trust roots for ``CheckOptions``/``verify``: the test root alone."""
        return [x509.load_pem_x509_certificate(self.root_crt.read_bytes())]

    def cert(self, name: str) -> x509.Certificate:
        """Load ``<name>_crt`` with pyca (a helper for tests, not certdesk code)."""
        path: Path = getattr(self, f"{name}_crt")
        return x509.load_pem_x509_certificate(path.read_bytes())


# (name, key algorithm) of every key; all are made in parallel.
_KEYS = {
    "root": "rsa2048",
    "int": "rsa2048",
    "leaf": "rsa2048",
    "wildcard": "rsa2048",
    "expired": "rsa2048",
    "notyet": "rsa2048",
    "soon": "rsa2048",
    "sha1": "rsa2048",
    "rsa1024": "rsa1024",
    "p384": "p384",
    "selfsigned": "rsa2048",
    "nosan": "rsa2048",
    "clientonly": "rsa2048",
    "other": "rsa2048",
}


def _genkey(path: Path, kind: str) -> None:
    if kind == "p384":
        opts = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]
    else:
        opts = ["-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{kind[3:]}"]
    run_openssl("genpkey", *opts, "-out", path)


class _CA:
    """An ``openssl ca`` database in ``folder`` issuing with one key and certificate."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / "newcerts").mkdir(parents=True)
        (folder / "index.txt").write_text("")
        (folder / "serial").write_text("1000\n")
        self.cnf = folder / "ca.cnf"
        self.cnf.write_text(_CA_CNF.format(dir=folder))

    def issue(
        self,
        *,
        csr: Path,
        out: Path,
        issuer_crt: Path | None,
        issuer_key: Path,
        start: datetime,
        end: datetime,
        ext: str,
        md: str = "sha256",
    ) -> None:
        ext_file = out.with_suffix(".ext")
        ext_file.write_text("[ext]\n" + ext)
        signer = ["-selfsign"] if issuer_crt is None else ["-cert", issuer_crt]
        run_openssl(
            "ca",
            "-batch",
            "-notext",
            "-config",
            self.cnf,
            *signer,
            "-keyfile",
            issuer_key,
            "-in",
            csr,
            "-out",
            out,
            "-md",
            md,
            "-startdate",
            openssl_time(start),
            "-enddate",
            openssl_time(end),
            "-extfile",
            ext_file,
            "-extensions",
            "ext",
        )


def _leaf_ext(dns: list[str] | None, eku: str = "serverAuth") -> str:
    text = _LEAF_EXT.format(eku=eku)
    if dns:
        text += "subjectAltName = " + ", ".join(f"DNS:{d}" for d in dns) + "\n"
    return text


def build_pki(folder: Path) -> OpenSSLPKI:
    """Make the whole test PKI in ``folder`` with the openssl CLI."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).replace(microsecond=0)
    day = timedelta(days=1)
    p = {name: folder / f"{name}.key" for name in _KEYS}
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda item: _genkey(p[item[0]], item[1]), _KEYS.items()))

    req_cnf = folder / "req.cnf"
    req_cnf.write_text(_REQ_CNF)

    def csr(name: str, subject: str) -> Path:
        out = folder / f"{name}.csr"
        run_openssl(
            "req", "-new", "-config", req_cnf, "-key", p[name], "-subj", subject, "-out", out
        )
        return out

    ca = _CA(folder / "ca")
    crt = {name: folder / f"{name}.crt" for name in _KEYS if name != "other"}

    ca.issue(
        csr=csr("root", f"/CN={ROOT_CN}"),
        out=crt["root"],
        issuer_crt=None,
        issuer_key=p["root"],
        start=now - 3 * 365 * day,
        end=now + 10 * 365 * day,
        ext=_CA_EXT.format(pathlen=""),
    )
    ca.issue(
        csr=csr("int", f"/CN={INT_CN}"),
        out=crt["int"],
        issuer_crt=crt["root"],
        issuer_key=p["root"],
        start=now - 3 * 365 * day,
        end=now + 5 * 365 * day,
        ext=_CA_EXT.format(pathlen=", pathlen:0"),
    )

    def leaf(
        name: str,
        subject: str,
        dns: list[str] | None,
        *,
        start: datetime,
        end: datetime,
        eku: str = "serverAuth",
        md: str = "sha256",
    ) -> None:
        ca.issue(
            csr=csr(name, subject),
            out=crt[name],
            issuer_crt=crt["int"],
            issuer_key=p["int"],
            start=start,
            end=end,
            ext=_leaf_ext(dns, eku),
            md=md,
        )

    store = ["store.test.com", "www.test.com"]
    year = {"start": now - day, "end": now + 365 * day}
    leaf("leaf", LEAF_SUBJECT, store, **year)
    leaf("wildcard", "/C=GR/O=Test Inc./CN=*.test.com", ["*.test.com", "test.com"], **year)
    leaf(
        "expired",
        "/CN=expired.test.com",
        ["expired.test.com"],
        start=now - 375 * day,
        end=now - 10 * day,
    )
    leaf(
        "notyet",
        "/CN=notyet.test.com",
        ["notyet.test.com"],
        start=now + 30 * day,
        end=now + 395 * day,
    )
    leaf("soon", "/CN=soon.test.com", ["soon.test.com"], start=now - 355 * day, end=now + 10 * day)
    leaf("sha1", "/CN=sha1.test.com", ["sha1.test.com"], md="sha1", **year)
    leaf("rsa1024", "/CN=rsa1024.test.com", ["rsa1024.test.com"], **year)
    leaf("p384", "/CN=p384.test.com", ["p384.test.com"], **year)
    leaf("nosan", "/CN=nosan.test.com", None, **year)
    leaf("clientonly", "/CN=client.test.com", ["client.test.com"], eku="clientAuth", **year)

    run_openssl(
        "req",
        "-x509",
        "-new",
        "-config",
        req_cnf,
        "-key",
        p["selfsigned"],
        "-subj",
        "/CN=selfsigned.test.com",
        "-days",
        "365",
        "-sha256",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-addext",
        "subjectAltName=DNS:selfsigned.test.com",
        "-addext",
        "extendedKeyUsage=serverAuth",
        "-out",
        crt["selfsigned"],
    )

    def pem_of(*names: str) -> bytes:
        return b"".join(crt[n].read_bytes() for n in names)

    chain_pem = folder / "chain.pem"
    chain_pem.write_bytes(pem_of("int", "root"))
    fullchain_pem = folder / "fullchain.pem"
    fullchain_pem.write_bytes(pem_of("leaf", "int", "root"))
    leaf_der = folder / "leaf.cer"
    run_openssl("x509", "-in", crt["leaf"], "-outform", "DER", "-out", leaf_der)
    p7b_pem, p7b_der = folder / "bundle.p7b", folder / "bundle-der.p7b"
    for out, form in ((p7b_pem, "PEM"), (p7b_der, "DER")):
        run_openssl(
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            crt["leaf"],
            "-certfile",
            crt["int"],
            "-outform",
            form,
            "-out",
            out,
        )

    leaf_key_der = folder / "leaf-key.der"
    run_openssl(
        "pkcs8", "-topk8", "-nocrypt", "-in", p["leaf"], "-outform", "DER", "-out", leaf_key_der
    )
    leaf_key_pkcs1 = folder / "leaf-pkcs1.key"
    run_openssl("rsa", "-in", p["leaf"], "-traditional", "-out", leaf_key_pkcs1)
    leaf_key_encrypted = folder / "leaf-encrypted.key"
    run_openssl(
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        p["leaf"],
        "-passout",
        f"pass:{PFX_PASSWORD}",
        "-out",
        leaf_key_encrypted,
    )
    p384_key_sec1 = folder / "p384-sec1.key"
    run_openssl("ec", "-in", p["p384"], "-out", p384_key_sec1)

    def pfx(
        name: str, *extra: str, password: str = PFX_PASSWORD, key: bool = True, chain: bool = True
    ) -> Path:
        out = folder / f"{name}.pfx"
        args: list[str | Path] = [
            "pkcs12",
            "-export",
            "-in",
            crt["leaf"],
            "-out",
            out,
            "-passout",
            f"pass:{password}",
            *extra,
        ]
        args += ["-inkey", p["leaf"]] if key else ["-nokeys"]
        if chain:
            args += ["-certfile", crt["int"]]
        run_openssl(*args)
        return out

    return OpenSSLPKI(
        folder=folder,
        made_at=now,
        root_crt=crt["root"],
        root_key=p["root"],
        int_crt=crt["int"],
        int_key=p["int"],
        leaf_crt=crt["leaf"],
        leaf_key=p["leaf"],
        wildcard_crt=crt["wildcard"],
        wildcard_key=p["wildcard"],
        expired_crt=crt["expired"],
        expired_key=p["expired"],
        notyet_crt=crt["notyet"],
        notyet_key=p["notyet"],
        soon_crt=crt["soon"],
        soon_key=p["soon"],
        sha1_crt=crt["sha1"],
        sha1_key=p["sha1"],
        rsa1024_crt=crt["rsa1024"],
        rsa1024_key=p["rsa1024"],
        p384_crt=crt["p384"],
        p384_key=p["p384"],
        selfsigned_crt=crt["selfsigned"],
        selfsigned_key=p["selfsigned"],
        nosan_crt=crt["nosan"],
        nosan_key=p["nosan"],
        clientonly_crt=crt["clientonly"],
        clientonly_key=p["clientonly"],
        other_key=p["other"],
        chain_pem=chain_pem,
        fullchain_pem=fullchain_pem,
        leaf_der=leaf_der,
        p7b_pem=p7b_pem,
        p7b_der=p7b_der,
        csr=folder / "leaf.csr",
        leaf_key_der=leaf_key_der,
        leaf_key_pkcs1=leaf_key_pkcs1,
        leaf_key_encrypted=leaf_key_encrypted,
        p384_key_sec1=p384_key_sec1,
        modern_pfx=pfx("modern"),
        legacy_pfx=pfx("legacy", "-legacy"),
        nopass_pfx=pfx("nopass", password=""),
        utf8_pfx=pfx("utf8", password=UTF8_PASSWORD),
        nokey_pfx=pfx("nokey", key=False),
        nochain_pfx=pfx("nochain", chain=False),
    )


# --- reading what the openssl CLI says about a file ------------------------------------


def openssl_x509(path: Path, *options: str) -> str:
    """``openssl x509 -in PATH -noout OPTIONS`` as text."""
    return run_openssl("x509", "-in", path, "-noout", *options).decode()


def openssl_fingerprint(path: Path, digest: str = "sha256") -> str:
    """The ``-fingerprint`` openssl prints, as lower-case hex without colons."""
    line = openssl_x509(path, "-fingerprint", f"-{digest}").strip()
    return line.split("=", 1)[1].replace(":", "").lower()


def openssl_spki_sha256(key_or_cert: Path, *, is_cert: bool) -> str:
    """SHA-256 of the SubjectPublicKeyInfo as openssl writes it (DER)."""
    if is_cert:
        pub_pem = run_openssl("x509", "-in", key_or_cert, "-noout", "-pubkey")
        der = run_openssl("pkey", "-pubin", "-outform", "DER", stdin=pub_pem)
    else:
        der = run_openssl("pkey", "-in", key_or_cert, "-pubout", "-outform", "DER")
    return hashlib.sha256(der).hexdigest()


def openssl_date(text: str) -> datetime:
    """``notAfter=Nov 27 04:32:32 2027 GMT`` → an aware datetime."""
    value = text.strip().split("=", 1)[1]
    return datetime.strptime(value, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)


def costly_pfx(pki: OpenSSLPKI, iterations: int) -> Path:
    """``modern.pfx``'s certificate, key and chain, protected with ``iterations`` rounds of
    key derivation and MAC (``openssl pkcs12 -export -iter N -maciter``): a legal file that
    takes long to open. Made once per session and count."""
    out = pki.folder / f"costly-{iterations}.pfx"
    if not out.exists():
        part = out.with_suffix(".part")
        run_openssl(
            "pkcs12",
            "-export",
            "-in",
            pki.leaf_crt,
            "-inkey",
            pki.leaf_key,
            "-certfile",
            pki.int_crt,
            "-iter",
            str(iterations),
            "-maciter",
            "-passout",
            f"pass:{PFX_PASSWORD}",
            "-out",
            part,
        )
        part.rename(out)
    return out
