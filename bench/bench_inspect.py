"""Benchmark: certificates parsed and inspected per second from a large PEM bundle.

Three ways of reading the expiry (and more) of every certificate in one bundle,
measured side by side in the same run:

* ``openssl loop`` - one ``openssl x509 -noout -enddate -in FILE`` process per
  certificate, from a ``sh`` loop, the way shell scripts such as ssl-cert-check do
  it. Timed over a sample of certificates (one file each) and reported per second.
* ``bare pyca`` - the ceiling: ``x509.load_pem_x509_certificates`` on the whole
  bundle, then notAfter, subject, SANs and SHA-256 fingerprint of each certificate.
* ``certdesk`` - one ``certdesk.pki.load_bundle`` call on the bundle's bytes, then
  the facts of every certificate (``Bundle.infos()``, as ``certdesk inspect`` reads
  them). ``load_bundle`` reads every part of every certificate once, through
  ``describe``: that is both its check that nothing is damaged and the facts.

Goals reported: certdesk >= 20x the openssl loop, and >= 70% of bare pyca.

The inputs are made with the ``openssl`` CLI, not with certdesk: a throwaway CA
and a few leaf keys, then a few dozen distinct leaf certificates (different names,
SANs, key types and lifetimes) cycled to form the bundle.

    .venv/bin/python bench/bench_inspect.py [--count 10000] [--runs 5] [--json]

Not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cryptography
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certdesk.pki import load_bundle

GOAL_VS_OPENSSL = 20.0
GOAL_VS_PYCA = 0.70

# Minimal config so the system openssl.cnf (and its default extensions) plays no part.
_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

# (file stem, genpkey arguments): leaf keys made once, shared by many certificates.
_LEAF_KEYS = (
    ("rsa2048-a", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
    ("rsa2048-b", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
    ("ec256-a", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
    ("ec256-b", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
    ("ec384", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]),
)
_DOMAINS = (
    "example.com",
    "example.net",
    "shop.example.org",
    "customer.example",
    "xn--bcher-kva.example",
)
_ORGS = ("Example GmbH", "Example Corp", "Bench Ltd", "Shop Inc")


# --- inputs -----------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(work: Path, distinct: int) -> list[bytes]:
    """``distinct`` different PEM certificates (the CA first) made with the openssl CLI."""
    (work / "bench.cnf").write_text(_OPENSSL_CNF)
    cnf = ["-config", "bench.cnf"]
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
             "-out", "ca.key", cwd=work)  # fmt: skip
    _openssl("req", *cnf, "-new", "-x509", "-key", "ca.key", "-sha256", "-days", "3650",
             "-subj", "/C=DE/O=certdesk bench/CN=certdesk bench throwaway CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-out", "ca.pem", cwd=work)  # fmt: skip
    for stem, spec in _LEAF_KEYS:
        _openssl("genpkey", *spec, "-out", f"{stem}.key", cwd=work)
    pems = [(work / "ca.pem").read_bytes()]
    for i in range(distinct - 1):
        domain = _DOMAINS[i % len(_DOMAINS)]
        host = f"svc{i:02d}.{domain}"
        sans = [f"DNS:{host}"]
        sans += [f"DNS:alt{j}-{i:02d}.{domain}" for j in range(i % 7)]
        if i % 5 == 0:
            sans.append(f"DNS:*.{domain}")
        if i % 6 == 0:
            sans.append(f"IP:10.{i % 250}.0.1")
        subject = f"/CN={host}" if i % 3 else f"/C=DE/O={_ORGS[i % len(_ORGS)]}/OU=Web/CN={host}"
        stem = _LEAF_KEYS[i % len(_LEAF_KEYS)][0]
        out = f"leaf{i:03d}.pem"
        _openssl("req", *cnf, "-new", "-key", f"{stem}.key", "-subj", subject,
                 "-CA", "ca.pem", "-CAkey", "ca.key", "-extensions", "leaf",
                 "-days", str(30 + 17 * i), "-set_serial", str(0x1000 + i),
                 "-addext", "subjectAltName=" + ",".join(sans),
                 "-addext", "extendedKeyUsage=serverAuth,clientAuth",
                 "-out", out, cwd=work)  # fmt: skip
        pems.append((work / out).read_bytes())
    return pems


def make_bundle(pems: Sequence[bytes], count: int) -> bytes:
    """``count`` certificates, cycling through ``pems``, as one PEM bundle."""
    return b"".join(pems[i % len(pems)] for i in range(count))


# --- the three contenders ----------------------------------------------------------


def run_pyca(data: bytes) -> tuple[int, float, float]:
    """Bare pyca: (certificates seen, parse seconds, inspect seconds)."""
    t0 = time.perf_counter()
    certs = x509.load_pem_x509_certificates(data)
    t1 = time.perf_counter()
    sha256 = hashes.SHA256()
    facts = []
    for cert in certs:
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            names = san.value.get_values_for_type(x509.DNSName)
        except x509.ExtensionNotFound:
            names = []
        facts.append(
            (
                cert.not_valid_after_utc,
                cert.subject.rfc4514_string(),
                names,
                cert.fingerprint(sha256).hex(),
            )
        )
    t2 = time.perf_counter()
    return len(facts), t1 - t0, t2 - t1


def run_certdesk(data: bytes) -> tuple[int, float, float]:
    """certdesk: (certificates seen, load_bundle seconds, facts seconds)."""
    t0 = time.perf_counter()
    bundle = load_bundle(data, max_bytes=len(data) + 1)
    t1 = time.perf_counter()
    infos = bundle.infos()
    t2 = time.perf_counter()
    return len(infos), t1 - t0, t2 - t1


_SHELL_LOOP = 'for f in "$@"; do openssl x509 -noout -enddate -in "$f"; done'


def run_openssl_loop(files: Sequence[Path]) -> tuple[int, float]:
    """One openssl process per file from a sh loop: (certificates seen, seconds)."""
    t0 = time.perf_counter()
    done = subprocess.run(
        ["sh", "-c", _SHELL_LOOP, "sh", *map(str, files)],
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - t0
    return done.stdout.count(b"notAfter="), elapsed


# --- measuring ---------------------------------------------------------------------


@dataclass
class Result:
    name: str
    certs: int
    runs: list[float] = field(default_factory=list)
    phase_a: list[float] = field(default_factory=list)
    phase_b: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def rate(self) -> float:
        return self.certs / self.median

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "certs_per_run": self.certs,
            "runs_s": [round(r, 6) for r in self.runs],
            "median_s": round(self.median, 6),
            "certs_per_s": round(self.rate, 1),
        }
        if self.phase_a:
            out["phase_medians_s"] = {
                "parse": round(statistics.median(self.phase_a), 6),
                "inspect": round(statistics.median(self.phase_b), 6),
            }
        return out


def _timed_python(
    fn: Callable[[bytes], tuple[int, float, float]], data: bytes, result: Result
) -> None:
    gc.collect()
    seen, parse_s, inspect_s = fn(data)
    if seen != result.certs:
        raise SystemExit(f"{result.name}: saw {seen} certificates, expected {result.certs}")
    result.runs.append(parse_s + inspect_s)
    result.phase_a.append(parse_s)
    result.phase_b.append(inspect_s)


def measure(args: argparse.Namespace, progress: Callable[[str], None]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="certdesk-bench-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        pems = make_certificates(work, args.distinct)
        bundle_path = work / "bundle.pem"
        bundle_path.write_bytes(make_bundle(pems, args.count))
        sample = []
        for i in range(min(args.openssl_sample, args.count)):
            path = work / f"sample{i:04d}.pem"
            path.write_bytes(pems[i % len(pems)])
            sample.append(path)
        data = bundle_path.read_bytes()
        setup_s = time.perf_counter() - t0
        progress(
            f"setup: {len(pems)} distinct certificates, bundle of {args.count} "
            f"({len(data) / 1e6:.1f} MB), {len(sample)} sample files in {setup_s:.1f} s"
        )

        pyca = Result("bare pyca", args.count)
        certdesk = Result("certdesk", args.count)
        for _ in range(args.warmup):
            run_pyca(data)
            run_certdesk(data)
        for n in range(args.runs):  # interleaved, so drift hits both alike
            _timed_python(run_pyca, data, pyca)
            _timed_python(run_certdesk, data, certdesk)
            progress(
                f"run {n + 1}/{args.runs}: pyca {pyca.runs[-1]:.3f} s, "
                f"certdesk {certdesk.runs[-1]:.3f} s"
            )

        openssl = Result("openssl loop", len(sample))
        for n in range(args.openssl_runs):
            seen, elapsed = run_openssl_loop(sample)
            if seen != len(sample):
                raise SystemExit(f"openssl loop: printed {seen} dates, expected {len(sample)}")
            openssl.runs.append(elapsed)
            progress(f"openssl run {n + 1}/{args.openssl_runs}: {elapsed:.2f} s")

    return {
        "config": {
            "count": args.count,
            "distinct": len(pems),
            "bundle_bytes": len(data),
            "runs": args.runs,
            "warmup": args.warmup,
            "openssl_sample": len(sample),
            "openssl_runs": args.openssl_runs,
            "setup_s": round(setup_s, 2),
        },
        "environment": {
            "python": platform.python_version(),
            "cryptography": cryptography.__version__,
            "openssl_cli": _openssl_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "openssl": openssl,
        "pyca": pyca,
        "certdesk": certdesk,
    }


def _openssl_version() -> str:
    done = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


# --- reporting ---------------------------------------------------------------------


def report_json(figures: dict[str, Any]) -> dict[str, Any]:
    openssl, pyca, certdesk = figures["openssl"], figures["pyca"], figures["certdesk"]
    vs_openssl = certdesk.rate / openssl.rate
    vs_pyca = certdesk.rate / pyca.rate
    return {
        "config": figures["config"],
        "environment": figures["environment"],
        "results": {
            "openssl_loop": openssl.to_json(),
            "bare_pyca": pyca.to_json(),
            "certdesk": certdesk.to_json(),
        },
        "ratios": {
            "certdesk_vs_openssl": round(vs_openssl, 2),
            "certdesk_vs_pyca": round(vs_pyca, 4),
        },
        "goals": {
            "certdesk_vs_openssl": {
                "target": GOAL_VS_OPENSSL,
                "met": vs_openssl >= GOAL_VS_OPENSSL,
            },
            "certdesk_vs_pyca": {"target": GOAL_VS_PYCA, "met": vs_pyca >= GOAL_VS_PYCA},
        },
    }


def report_table(figures: dict[str, Any]) -> str:
    cfg, env = figures["config"], figures["environment"]
    openssl, pyca, certdesk = figures["openssl"], figures["pyca"], figures["certdesk"]
    vs_openssl = certdesk.rate / openssl.rate
    vs_pyca = certdesk.rate / pyca.rate

    def phases(r: Result, a: str, b: str) -> str:
        return (
            f"{a} {statistics.median(r.phase_a) * 1e3:.0f} ms + "
            f"{b} {statistics.median(r.phase_b) * 1e3:.0f} ms"
        )

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    lines = [
        f"certdesk inspect benchmark: {cfg['count']:,}-certificate PEM bundle "
        f"({cfg['distinct']} distinct certificates, {cfg['bundle_bytes'] / 1e6:.1f} MB)",
        f"python {env['python']}, cryptography {env['cryptography']}, {env['openssl_cli']}, "
        f"{env['cpus']} CPUs",
        "",
        f"{'method':<14} {'certs/run':>10} {'runs':>5} {'median s':>10} {'certs/s':>12}  detail",
        "-" * 90,
        f"{'openssl loop':<14} {openssl.certs:>10,} {len(openssl.runs):>5} "
        f"{openssl.median:>10.3f} {openssl.rate:>12,.0f}  "
        f"1 process/cert; {cfg['count']:,} certs would take ~{cfg['count'] / openssl.rate:.0f} s",
        f"{'bare pyca':<14} {pyca.certs:>10,} {len(pyca.runs):>5} "
        f"{pyca.median:>10.3f} {pyca.rate:>12,.0f}  {phases(pyca, 'parse', 'inspect')}",
        f"{'certdesk':<14} {certdesk.certs:>10,} {len(certdesk.runs):>5} "
        f"{certdesk.median:>10.3f} {certdesk.rate:>12,.0f}  "
        f"{phases(certdesk, 'load_bundle', 'facts')}",
        "-" * 90,
        f"certdesk / openssl loop: {vs_openssl:8.1f}x   "
        f"(goal >= {GOAL_VS_OPENSSL:.0f}x: {verdict(vs_openssl >= GOAL_VS_OPENSSL)})",
        f"certdesk / bare pyca:    {vs_pyca:8.1%}   "
        f"(goal >= {GOAL_VS_PYCA:.0%}: {verdict(vs_pyca >= GOAL_VS_PYCA)})",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="certificates in the bundle")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of the python loops")
    parser.add_argument("--warmup", type=int, default=1, help="untimed python runs first")
    parser.add_argument(
        "--openssl-runs", type=int, default=3, help="timed runs of the openssl loop (1-3 is plenty)"
    )
    parser.add_argument(
        "--openssl-sample", type=int, default=300, help="certificates the openssl loop reads"
    )
    parser.add_argument(
        "--distinct", type=int, default=50, help="distinct certificates made with openssl"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    for name in ("count", "runs", "openssl_runs", "openssl_sample"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.distinct < 2 or args.warmup < 0:
        parser.error("--distinct must be at least 2 and --warmup at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    figures = measure(args, progress)
    if args.json:
        print(json.dumps(report_json(figures), indent=2))
    else:
        print(report_table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
