"""Benchmark: how long certdesk takes to refuse files made to stall or crash a loader.

Each file below once held the whole server for every tenant (or ended in a crash);
each must now be refused with a stable code in well under a second. The files are
made with the ``openssl`` CLI; where openssl itself would take minutes to write the
hostile value (2,147,483,647 key-derivation iterations), it writes a distinctive
small count and the INTEGER is rewritten in its output.

* ``.pfx`` (PBES2 and legacy PBE) and an encrypted PKCS#8 key asking for
  2,147,483,647 iterations: ``too-costly`` (opened with and without a password);
* 300 KB and 1 MiB of repeated ``-----BEGIN CERTIFICATE-----`` lines: ``malformed``;
* a 16,384-bit RSA key, as PEM and inside a ``.pfx``: ``key-too-large``. Making the
  key takes openssl a few minutes; it is kept in ``--cache`` (default
  ``~/.cache/certdesk-bench``) for the next run;
* a CA certificate whose nameConstraints hold an IP address without a netmask:
  ``malformed`` (it used to end in a TypeError).

    .venv/bin/python bench/bench_hostile.py [--runs 3] [--cache DIR]

Not a test: it prints the time per file and exits 0 (1 if a file was not refused).
"""

from __future__ import annotations

import argparse
import base64
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.der_rewrite import rewrite_integers

from certdesk.errors import CertdeskError
from certdesk.pki import load_bundle

MARK = 3001
HUGE = 2**31 - 1
BUDGET_S = 1.0


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True)


def _big_key(cache: Path, progress: bool) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    key = cache / "rsa16384.pem"
    if not key.exists():
        if progress:
            print("making a 16,384-bit RSA key with openssl (a few minutes, once)...", flush=True)
        _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:16384",
                 "-out", key.with_suffix(".tmp"), cwd=cache)  # fmt: skip
        key.with_suffix(".tmp").rename(key)
    return key


def make_files(work: Path, cache: Path) -> list[tuple[str, bytes, bytes | None, str]]:
    """(label, bytes, password, expected code) for every hostile file."""
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", "k.pem", cwd=work)  # fmt: skip
    _openssl("req", "-x509", "-key", "k.pem", "-subj", "/CN=hostile.test", "-days", "30",
             "-out", "c.pem", cwd=work)  # fmt: skip
    files: list[tuple[str, bytes, bytes | None, str]] = []
    for name, extra in (("pbes2", []), ("legacy", ["-legacy"])):
        _openssl("pkcs12", "-export", "-inkey", "k.pem", "-in", "c.pem", "-iter", str(MARK),
                 "-passout", "pass:pw", *extra, "-out", f"{name}.pfx", cwd=work)  # fmt: skip
        hostile = rewrite_integers((work / f"{name}.pfx").read_bytes(), MARK, HUGE)
        files.append((f".pfx {name}, 2^31-1 iterations, password", hostile, b"pw", "too-costly"))
        files.append((f".pfx {name}, 2^31-1 iterations, no password", hostile, None, "too-costly"))
    _openssl("pkcs8", "-topk8", "-in", "k.pem", "-v2", "aes-256-cbc", "-iter", str(MARK),
             "-passout", "pass:pw", "-outform", "DER", "-out", "enc.der", cwd=work)  # fmt: skip
    der = rewrite_integers((work / "enc.der").read_bytes(), MARK, HUGE)
    pem = (
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
        + base64.encodebytes(der)
        + b"-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    files.append(("PKCS#8 key, 2^31-1 iterations", pem, b"pw", "too-costly"))
    line = b"-----BEGIN CERTIFICATE-----\n"
    for size, label in ((300_000, "300 KB"), (1024 * 1024, "1 MiB")):
        data = (line * (size // len(line) + 1))[:size]
        files.append((f"{label} of BEGIN lines", data, None, "malformed"))
    key = _big_key(cache, progress=True)
    files.append(("RSA 16,384-bit key (PEM)", key.read_bytes(), None, "key-too-large"))
    big_pfx = cache / "rsa16384.pfx"
    if not big_pfx.exists():
        _openssl("req", "-x509", "-key", key, "-subj", "/CN=big.test", "-days", "3650",
                 "-out", cache / "rsa16384.crt", cwd=cache)  # fmt: skip
        _openssl("pkcs12", "-export", "-inkey", key, "-in", cache / "rsa16384.crt",
                 "-passout", "pass:pw", "-out", big_pfx, cwd=cache)  # fmt: skip
    files.append(("RSA 16,384-bit key (.pfx)", big_pfx.read_bytes(), b"pw", "key-too-large"))
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "nc.key", "-subj", "/CN=nc CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "nameConstraints=critical,DER:300aa008300687040a000001",
             "-out", "nc.pem", cwd=work)  # fmt: skip
    files.append(("CA, IP name constraint without mask", (work / "nc.pem").read_bytes(), None,
                  "malformed"))  # fmt: skip
    return files


def refuse(data: bytes, password: bytes | None) -> tuple[str, float]:
    started = time.perf_counter()
    try:
        load_bundle(data, password, max_bytes=2 * 1024 * 1024)
    except CertdeskError as exc:
        return exc.code, time.perf_counter() - started
    return "accepted", time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per file")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "certdesk-bench",
        help="where the 16,384-bit key is kept between runs",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="certdesk-hostile-") as tmp:
        files = make_files(Path(tmp), args.cache)
    print(f"{'file':<48} {'code':<15} {'median ms':>10} {'max ms':>9}  verdict")
    print("-" * 96)
    failed = 0
    for label, data, password, expected in files:
        codes, times = set(), []
        for _ in range(max(1, args.runs)):
            code, elapsed = refuse(data, password)
            codes.add(code)
            times.append(elapsed)
        code = codes.pop() if len(codes) == 1 else "/".join(sorted(codes))
        ok = code == expected and max(times) < BUDGET_S
        failed += not ok
        print(
            f"{label:<48} {code:<15} {statistics.median(times) * 1e3:>10.1f} "
            f"{max(times) * 1e3:>9.1f}  {'refused < 1 s' if ok else 'NOT MET: ' + expected}"
        )
    print("-" * 96)
    print(f"{len(files) - failed}/{len(files)} hostile files refused in under {BUDGET_S:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
