"""Benchmark: the certificate desk's two intake flows on SQLite, per item.

What is measured, on a fresh data folder (SQLite, one tenant), in this order:

* ``submit_pfx`` - ``--count`` distinct ``.pfx`` files (each its own key, two host
  names, leaf + intermediate, ``openssl pkcs12 -export`` defaults: AES-256-CBC,
  PBKDF2 and a SHA-256 MAC, 2048 iterations each), each with its own password and
  submitted for its two URLs through ``Desk.run``.
* ``order_csr`` - ``--count`` CSR orders (key made by certdesk: ``--csr-key``).
* ``complete_order`` - every CSR signed by the bench CA (``openssl x509 -req``, not
  timed) and sent back as leaf + intermediate PEM; certdesk finds the order by key.

Then the attribution of ``submit_pfx``: the bare ``pkcs12.load_pkcs12(data, password)``
of pyca on the same files, per item, against the whole submission; and, inside
certdesk, the stages of each flow (each function the flow calls, timed in place by
thin wrappers set on the module attributes, plus the SQL cursor time and the commit).
Last, a cProfile of ``submit_pfx`` and ``complete_order`` over a sample, on copies of
the data folder, so that the profiler's overhead never reaches the timed figures.

The inputs are made with the ``openssl`` CLI, never by certdesk: a throwaway root and
intermediate CA (trusted through ``Settings.ca_bundle``), the leaf keys and
certificates, the ``.pfx`` files, and the signatures on certdesk's CSRs. The openssl
work runs over ``--jobs`` processes.

    .venv/bin/python bench/bench_desk.py [--count 1000] [--key rsa|ec]
        [--csr-key rsa2048|p256|...] [--profile 200] [--json]

``--key`` is the leaf key of the ``.pfx`` files and of the bench CA (default rsa:
RSA-2048; ec: P-256, much faster to make). ``--csr-key`` defaults to rsa2048 with
``--key rsa`` and p256 with ``--key ec``; RSA key generation dominates ``order_csr``.

Not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import gc
import json
import os
import platform
import pstats
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cryptography
import sqlalchemy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import event

import certdesk.desk.intake as intake_mod
import certdesk.desk.orders as orders_mod
import certdesk.pki.checks as checks_mod
import certdesk.store.vault as vault_mod
from certdesk.application.compose import open_desk
from certdesk.desk import Actor, Desk, add_tenant, complete_order, order_csr, submit_pfx
from certdesk.desk.context import STAGED
from certdesk.pki.csr import Subject
from certdesk.settings import Settings

TENANT = "Bench Reseller"
ACTOR = Actor("bench")
KDF_PASSWORD = "pw-00000-bench"  # as long as the files' own passwords

# Minimal config so the system openssl.cnf (and its default extensions) plays no part.
_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca_root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ca_int]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[leaf_rsa]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[leaf_ec]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""

_NEWKEY = {
    "rsa": ["-newkey", "rsa:2048"],
    "ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
}
_KEY_LABEL = {"rsa": "RSA-2048", "ec": "EC P-256"}
_CSR_KEYS = ("rsa2048", "rsa3072", "rsa4096", "p256", "p384")


# --- inputs (openssl CLI) ------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(work: Path, key: str) -> None:
    """root.pem/root.key and int.pem/int.key in ``work``."""
    (work / "bench.cnf").write_text(_OPENSSL_CNF)
    cnf = ["-config", "bench.cnf"]
    _openssl("req", *cnf, "-x509", *_NEWKEY[key], "-noenc", "-keyout", "root.key",
             "-subj", "/C=DE/O=certdesk bench/CN=certdesk bench throwaway root",
             "-extensions", "ca_root", "-days", "3650", "-set_serial", "1",
             "-out", "root.pem", cwd=work)  # fmt: skip
    _openssl("req", *cnf, "-new", *_NEWKEY[key], "-noenc", "-keyout", "int.key",
             "-subj", "/C=DE/O=certdesk bench/CN=certdesk bench throwaway intermediate",
             "-CA", "root.pem", "-CAkey", "root.key", "-extensions", "ca_int",
             "-days", "1825", "-set_serial", "2", "-out", "int.pem", cwd=work)  # fmt: skip


def make_kdf_reference(work: Path) -> tuple[bytes, bytes]:
    """One small P-256 .pfx exported twice: with the default 2048 iterations, and with one.

    The load time of the first minus the second is the key derivation alone (three
    2048-iteration runs: PBKDF2 for the two PBES2 bags, the PKCS#12 KDF for the MAC
    key). It depends on the iteration counts, not on the key inside, so it holds for
    RSA files too, where the RSA key check would drown it in noise.
    """
    _openssl("req", "-config", "bench.cnf", "-x509", *_NEWKEY["ec"], "-noenc",
             "-keyout", "kdf.key", "-subj", "/CN=kdf.example.com", "-days", "30",
             "-out", "kdf.pem", cwd=work)  # fmt: skip
    out = []
    for name, extra in (("kdf.pfx", []), ("kdf-1iter.pfx", ["-noiter", "-nomaciter"])):
        _openssl("pkcs12", "-export", "-inkey", "kdf.key", "-in", "kdf.pem",
                 "-passout", f"pass:{KDF_PASSWORD}", *extra, "-out", name, cwd=work)  # fmt: skip
        out.append((work / name).read_bytes())
    return out[0], out[1]


@dataclass(frozen=True)
class PfxInput:
    index: int
    common_name: str
    urls: tuple[str, ...]
    password: bytes
    data: bytes


def pfx_host(i: int) -> str:
    return f"shop{i:05d}.reseller{i % 10}.example.com"


def make_pfx(work: Path, key: str, i: int) -> PfxInput:
    """Leaf ``i``: its own key, two names, signed by the intermediate, exported as .pfx."""
    host = pfx_host(i)
    stem = f"pfx{i:05d}"
    password = f"pw-{i:05d}-bench"
    _openssl("req", "-config", "bench.cnf", "-new", *_NEWKEY[key], "-noenc",
             "-keyout", f"{stem}.key", "-subj", f"/C=DE/O=Bench Shop {i}/CN={host}",
             "-CA", "int.pem", "-CAkey", "int.key", "-extensions", f"leaf_{key}",
             "-addext", f"subjectAltName=DNS:{host},DNS:www.{host}",
             "-days", "397", "-set_serial", str(0x100000 + i), "-out", f"{stem}.pem",
             cwd=work)  # fmt: skip
    _openssl("pkcs12", "-export", "-inkey", f"{stem}.key", "-in", f"{stem}.pem",
             "-certfile", "int.pem", "-name", host, "-passout", f"pass:{password}",
             "-out", f"{stem}.pfx", cwd=work)  # fmt: skip
    return PfxInput(
        index=i,
        common_name=host,
        urls=(f"https://{host}", f"https://www.{host}"),
        password=password.encode(),
        data=(work / f"{stem}.pfx").read_bytes(),
    )


def sign_csr(work: Path, key_kind: str, i: int, csr_pem: str) -> bytes:
    """The bench intermediate signs certdesk's CSR ``i``: leaf + intermediate, as PEM."""
    stem = f"csr{i:05d}"
    (work / f"{stem}.csr").write_text(csr_pem)
    section = "leaf_rsa" if key_kind.startswith("rsa") else "leaf_ec"
    _openssl("x509", "-req", "-in", f"{stem}.csr", "-CA", "int.pem", "-CAkey", "int.key",
             "-set_serial", str(0x200000 + i), "-days", "397", "-sha256",
             "-extfile", "bench.cnf", "-extensions", section, "-copy_extensions", "copy",
             "-out", f"{stem}.crt", cwd=work)  # fmt: skip
    return (work / f"{stem}.crt").read_bytes() + (work / "int.pem").read_bytes()


def parallel(
    jobs: int, count: int, fn: Callable[[int], Any], what: str, progress: Callable[[str], None]
) -> list[Any]:
    """``fn(i)`` for every ``i`` over ``jobs`` threads (each runs openssl processes)."""
    out: list[Any] = [None] * count
    step = max(1, count // 10)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for done, (i, value) in enumerate(pool.map(lambda i: (i, fn(i)), range(count)), 1):
            out[i] = value
            if done % step == 0 or done == count:
                progress(f"  {what}: {done}/{count}")
    return out


# --- in-place stage timing ---------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    label: str
    module: Any  # a module or a class whose attribute is wrapped
    attr: str
    level: int = 0  # 0: called by the flow itself; 1: inside the stage above it


class Stages:
    """Totals of time spent in wrapped functions, in SQL, and around the use case."""

    def __init__(self, name: str, stages: Sequence[Stage]) -> None:
        self.name = name
        self.stages = list(stages)
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.sql_seconds = 0.0
        self.sql_statements = 0
        self._undo: list[tuple[Any, str, Any]] = []

    def add(self, label: str, seconds: float) -> None:
        self.seconds[label] += seconds
        self.calls[label] += 1

    @contextlib.contextmanager
    def installed(self, engine: sqlalchemy.Engine) -> Iterator[Stages]:
        for stage in self.stages:
            original = getattr(stage.module, stage.attr)
            setattr(stage.module, stage.attr, self._timed(original, stage.label))
            self._undo.append((stage.module, stage.attr, original))
        started: list[float] = []

        def before(*_: Any) -> None:
            started.append(time.perf_counter())

        def after(*_: Any) -> None:
            self.sql_seconds += time.perf_counter() - started.pop()
            self.sql_statements += 1

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        try:
            yield self
        finally:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)
            for module, attr, original in reversed(self._undo):
                setattr(module, attr, original)
            self._undo.clear()

    def _timed(self, original: Callable[..., Any], label: str) -> Callable[..., Any]:
        add = self.add
        clock = time.perf_counter

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                return original(*args, **kwargs)
            finally:
                add(label, clock() - t0)

        return timed


SUBMIT_STAGES = (
    Stage("tenant lookup (tenant_by_name)", intake_mod, "tenant_by_name"),
    Stage("load_bundle (open the .pfx)", intake_mod, "load_bundle"),
    Stage("pkcs12.load_pkcs12 (pyca, in place)", pkcs12, "load_pkcs12", 1),
    Stage("check_bundle (every PKI check)", intake_mod, "check_bundle"),
    Stage("build_chain (paths to a trusted root)", checks_mod, "build_chain", 1),
    Stage("find_certificate (duplicate?)", intake_mod, "find_certificate"),
    Stage("ensure_domain (x2 URLs)", intake_mod, "ensure_domain"),
    Stage("seal_key (vault + INSERT)", intake_mod, "seal_key"),
    Stage("Vault.seal (PKCS#8 + AES-GCM)", vault_mod.Vault, "seal", 1),
    Stage("store_certificate", intake_mod, "store_certificate"),
    Stage("open_request", intake_mod, "open_request"),
    Stage("advance (x2)", intake_mod, "advance"),
    Stage("bind", intake_mod, "bind"),
)
ORDER_STAGES = (
    Stage("tenant lookup (tenant_by_name)", orders_mod, "tenant_by_name"),
    Stage("generate_key (new private key)", orders_mod, "generate_key"),
    Stage("build_csr (validate + sign CSR)", orders_mod, "build_csr"),
    Stage("seal_key (vault + INSERT)", orders_mod, "seal_key"),
    Stage("Vault.seal (PKCS#8 + AES-GCM)", vault_mod.Vault, "seal", 1),
    Stage("open_request", orders_mod, "open_request"),
    Stage("advance", orders_mod, "advance"),
    Stage("_view (result, 3 lookups)", orders_mod, "_view"),
)
COMPLETE_STAGES = (
    Stage("load_bundle (read the PEM)", orders_mod, "load_bundle"),
    Stage("_match_order (by public key)", orders_mod, "_match_order"),
    Stage("known_intermediates", orders_mod, "known_intermediates"),
    Stage("check_bundle (every PKI check)", orders_mod, "check_bundle"),
    Stage("build_chain (paths to a trusted root)", checks_mod, "build_chain", 1),
    Stage("store_certificate", orders_mod, "store_certificate"),
    Stage("ensure_domain", orders_mod, "ensure_domain"),
    Stage("current_certificates", orders_mod, "current_certificates"),
    Stage("bind", orders_mod, "bind"),
    Stage("advance", orders_mod, "advance"),
)


def run_timed(
    desk: Desk, use_case: Callable[..., Any], stages: Stages | None, **inputs: Any
) -> tuple[Any, float]:
    """``desk.run(ACTOR, use_case, **inputs)``: (its result, seconds of the whole call)."""
    if getattr(use_case, STAGED, False):
        # Reads its file outside any transaction, then one short write: no single body.
        t0 = time.perf_counter()
        result = desk.run(ACTOR, use_case, **inputs)
        return result, time.perf_counter() - t0
    marks: list[float] = []

    def body(ctx: Any, **kwargs: Any) -> Any:
        marks.append(time.perf_counter())
        try:
            return use_case(ctx, **kwargs)
        finally:
            marks.append(time.perf_counter())

    t0 = time.perf_counter()
    result = desk.run(ACTOR, body, **inputs)
    t1 = time.perf_counter()
    if stages is not None:
        stages.add("session + transaction start", marks[0] - t0)
        stages.add("use case body", marks[1] - marks[0])
        stages.add("commit (session end)", t1 - marks[1])
    return result, t1 - t0


# --- statistics ----------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass
class Series:
    """Per-item seconds of one measured thing."""

    name: str
    times: list[float] = field(default_factory=list)
    wall: float = 0.0  # seconds of the whole loop, for items/s

    def summary(self) -> dict[str, float]:
        t = self.times
        tenth = max(1, len(t) // 10)
        return {
            "items": len(t),
            "median_ms": statistics.median(t) * 1e3,
            "p95_ms": pct(t, 0.95) * 1e3,
            "mean_ms": statistics.fmean(t) * 1e3,
            "min_ms": min(t) * 1e3,
            "max_ms": max(t) * 1e3,
            "items_per_s": len(t) / self.wall if self.wall else len(t) / sum(t),
            "first_10pct_median_ms": statistics.median(t[:tenth]) * 1e3,
            "last_10pct_median_ms": statistics.median(t[-tenth:]) * 1e3,
        }


def stage_rows(stages: Stages, items: int, flow_mean_s: float) -> list[dict[str, Any]]:
    """Mean ms per item of every stage, and what is left over."""
    rows: list[dict[str, Any]] = []

    def row(label: str, seconds: float, level: int, calls: int | None = None) -> None:
        rows.append(
            {
                "stage": label,
                "level": level,
                "mean_ms": seconds / items * 1e3,
                "share": seconds / items / flow_mean_s if flow_mean_s else 0.0,
                "calls_per_item": (calls / items) if calls is not None else None,
            }
        )

    body = stages.seconds["use case body"]
    top = 0.0
    row("session + transaction start", stages.seconds["session + transaction start"], 0)
    for stage in stages.stages:
        seconds = stages.seconds.get(stage.label, 0.0)
        row(stage.label, seconds, stage.level, stages.calls.get(stage.label, 0))
        if stage.level == 0:
            top += seconds
    row("rest of the use case (ORM flush, audit…)", body - top, 0)
    row("commit (session end)", stages.seconds["commit (session end)"], 0)
    rows.append(
        {
            "stage": f"SQL cursor time, all stages ({stages.sql_statements / items:.1f} stmts)",
            "level": -1,
            "mean_ms": stages.sql_seconds / items * 1e3,
            "share": stages.sql_seconds / items / flow_mean_s if flow_mean_s else 0.0,
            "calls_per_item": stages.sql_statements / items,
        }
    )
    return rows


# --- attribution of the .pfx load -------------------------------------------------------------


def bare_pkcs12(
    inputs: Sequence[PfxInput],
    reference: tuple[bytes, bytes],
    repeats: int,
    check_sample: int,
    progress: Callable[[str], None],
) -> dict[str, Series]:
    """Per item, the bare pyca load of the .pfx and what it is made of.

    * ``load``: ``pkcs12.load_pkcs12(data, password)``, median of ``repeats``.
    * ``kdf``: the key derivation, from the reference pair (``make_kdf_reference``):
      its default load minus its 1-iteration load.
    * ``rsa_check`` (RSA only): ``load_der_private_key`` of the item's key with its
      consistency check minus without it (``unsafe_skip_rsa_key_validation``), on
      the first ``check_sample`` items (it costs as much as the load itself).

    All are timed interleaved, item by item, so that load from other processes hits
    them alike.
    """
    out = {name: Series(name) for name in ("load", "kdf", "rsa_check")}
    password = KDF_PASSWORD.encode()
    gc.collect()
    t_all = time.perf_counter()
    for item in inputs:
        first = pkcs12.load_pkcs12(item.data, item.password)  # untimed: warm, and the key
        assert first.key is not None
        is_rsa = isinstance(first.key, rsa.RSAPrivateKey)
        der = first.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        t: dict[str, list[float]] = defaultdict(list)
        for _ in range(repeats):
            t0 = time.perf_counter()
            pkcs12.load_pkcs12(item.data, item.password)
            t1 = time.perf_counter()
            pkcs12.load_pkcs12(reference[0], password)
            t2 = time.perf_counter()
            pkcs12.load_pkcs12(reference[1], password)
            t3 = time.perf_counter()
            t["load"].append(t1 - t0)
            t["ref"].append(t2 - t1)
            t["ref1"].append(t3 - t2)
            if is_rsa and len(out["rsa_check"].times) < check_sample:
                t3 = time.perf_counter()
                serialization.load_der_private_key(der, None)
                t4 = time.perf_counter()
                serialization.load_der_private_key(der, None, unsafe_skip_rsa_key_validation=True)
                t5 = time.perf_counter()
                t["checked"].append(t4 - t3)
                t["unchecked"].append(t5 - t4)
        med = {k: statistics.median(v) for k, v in t.items()}
        out["load"].times.append(med["load"])
        out["kdf"].times.append(med["ref"] - med["ref1"])
        if t["checked"]:
            out["rsa_check"].times.append(med["checked"] - med["unchecked"])
    out["load"].wall = sum(out["load"].times)
    if not out["rsa_check"].times:
        del out["rsa_check"]
    progress(
        f"  bare load_pkcs12: {len(inputs)} files (+ reference pair) x {repeats} in "
        f"{time.perf_counter() - t_all:.1f} s"
    )
    return out


# --- profile -------------------------------------------------------------------------------


def profile_top(profile: cProfile.Profile, items: int, top: int) -> list[dict[str, Any]]:
    stats = pstats.Stats(profile)
    rows = []
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in sorted(
        stats.stats.items(),  # type: ignore[attr-defined]
        key=lambda kv: kv[1][2],
        reverse=True,
    )[:top]:
        rows.append(
            {
                "function": _where(filename, line, func),
                "calls_per_item": ncalls / items,
                "own_ms_per_item": tottime / items * 1e3,
                "cumulative_ms_per_item": cumtime / items * 1e3,
            }
        )
    return rows


def _where(filename: str, line: int, func: str) -> str:
    if filename == "~":
        return func  # a built-in (C or Rust) function
    for marker in ("/site-packages/", "/src/", "/lib/python"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({func})"


def copy_home(src: Settings, dst_home: Path, ca_bundle: Path) -> Settings:
    """A copy of the data folder (SQLite online backup + the master key file)."""
    dst_home.mkdir(mode=0o700)
    db = dst_home / "certdesk.db"
    with (
        contextlib.closing(sqlite3.connect(src.home / "certdesk.db")) as a,
        contextlib.closing(sqlite3.connect(db)) as b,
    ):
        a.backup(b)
    shutil.copy2(src.master_key_file, dst_home / "master.key")
    return Settings(home=dst_home, database_url=f"sqlite:///{db}", ca_bundle=ca_bundle)


# --- the run ---------------------------------------------------------------------------------


def new_settings(home: Path, ca_bundle: Path) -> Settings:
    return Settings(home=home, database_url=f"sqlite:///{home}/certdesk.db", ca_bundle=ca_bundle)


def order_subject(i: int) -> tuple[Subject, list[str], list[str]]:
    host = f"portal{i:05d}.reseller{i % 10}.example.net"
    subject = Subject(
        common_name=host,
        organization=f"Bench Reseller {i % 10}",
        unit="Web",
        locality="Berlin",
        state="Berlin",
        country="DE",
    )
    return subject, [f"www.{host}"], [f"https://{host}", f"https://www.{host}"]


def measure(args: argparse.Namespace, progress: Callable[[str], None]) -> dict[str, Any]:
    count = args.count
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="certdesk-bench-desk-") as tmp:
        work = Path(tmp) / "openssl"
        work.mkdir()
        t0 = time.perf_counter()
        make_ca(work, args.key)
        kdf_reference = make_kdf_reference(work)
        progress(f"making {count} .pfx files ({_KEY_LABEL[args.key]}) with openssl ...")
        inputs: list[PfxInput] = parallel(
            args.jobs, count, lambda i: make_pfx(work, args.key, i), "pfx", progress
        )
        pfx_setup_s = time.perf_counter() - t0
        progress(f"  {count} .pfx files in {pfx_setup_s:.1f} s")

        ca_bundle = work / "root.pem"
        settings = new_settings(Path(tmp) / "home", ca_bundle)
        desk = open_desk(settings)
        desk.run(ACTOR, add_tenant, name=TENANT, emails=["ops@reseller.example"])
        engine = desk.store.engine

        # submit_pfx --------------------------------------------------------------
        submit = Series("submit_pfx")
        submit_stages = Stages("submit_pfx", SUBMIT_STAGES)
        gc.collect()
        with submit_stages.installed(engine):
            t_all = time.perf_counter()
            for n, item in enumerate(inputs, 1):
                result, seconds = run_timed(
                    desk,
                    submit_pfx,
                    submit_stages,
                    tenant=TENANT,
                    data=item.data,
                    password=item.password,
                    common_name=item.common_name,
                    urls=list(item.urls),
                )
                submit.times.append(seconds)
                if n == 1 and result.findings:
                    progress(f"  note: findings on item 0: {[f.code for f in result.findings]}")
                if n % max(1, count // 5) == 0:
                    progress(f"  submit_pfx: {n}/{count}")
            submit.wall = time.perf_counter() - t_all

        # bare pkcs12 load on the same files -----------------------------------------
        bare = bare_pkcs12(inputs, kdf_reference, args.load_repeats, args.check_sample, progress)

        # order_csr ------------------------------------------------------------------
        orders = Series("order_csr")
        order_stages = Stages("order_csr", ORDER_STAGES)
        csrs: list[str] = []
        gc.collect()
        with order_stages.installed(engine):
            t_all = time.perf_counter()
            for i in range(count):
                subject, sans, urls = order_subject(i)
                view, seconds = run_timed(
                    desk,
                    order_csr,
                    order_stages,
                    tenant=TENANT,
                    subject=subject,
                    sans=sans,
                    urls=urls,
                    key_kind=args.csr_key,
                )
                orders.times.append(seconds)
                csrs.append(view.csr_pem)
                if (i + 1) % max(1, count // 5) == 0:
                    progress(f"  order_csr: {i + 1}/{count}")
            orders.wall = time.perf_counter() - t_all

        snapshot = copy_home(settings, Path(tmp) / "home-orders", ca_bundle)

        t0 = time.perf_counter()
        progress(f"signing {count} CSRs with openssl x509 -req ...")
        signed: list[bytes] = parallel(
            args.jobs, count, lambda i: sign_csr(work, args.csr_key, i, csrs[i]), "sign", progress
        )
        sign_s = time.perf_counter() - t0

        # complete_order ---------------------------------------------------------------
        completes = Series("complete_order")
        complete_stages = Stages("complete_order", COMPLETE_STAGES)
        gc.collect()
        with complete_stages.installed(engine):
            t_all = time.perf_counter()
            for i, pem in enumerate(signed):
                done, seconds = run_timed(desk, complete_order, complete_stages, data=pem)
                if done.order_id != i + 1:
                    raise SystemExit(f"certificate {i} completed order {done.order_id}")
                completes.times.append(seconds)
                if (i + 1) % max(1, count // 5) == 0:
                    progress(f"  complete_order: {i + 1}/{count}")
            completes.wall = time.perf_counter() - t_all
        desk.store.close()

        # profiles, on copies, never during the timed loops -----------------------------
        profiles: dict[str, Any] = {}
        sample = min(args.profile, count)
        if sample:
            progress(f"profiling {sample} submissions and completions on copies ...")
            fresh = open_desk(new_settings(Path(tmp) / "home-profile", ca_bundle))
            fresh.run(ACTOR, add_tenant, name=TENANT)
            prof = cProfile.Profile()
            for item in inputs[:sample]:
                prof.enable()
                fresh.run(
                    ACTOR,
                    submit_pfx,
                    tenant=TENANT,
                    data=item.data,
                    password=item.password,
                    common_name=item.common_name,
                    urls=list(item.urls),
                )
                prof.disable()
            fresh.store.close()
            profiles["submit_pfx"] = {"items": sample, "top": profile_top(prof, sample, args.top)}

            copy = open_desk(snapshot)
            prof = cProfile.Profile()
            for pem in signed[:sample]:
                prof.enable()
                copy.run(ACTOR, complete_order, data=pem)
                prof.disable()
            copy.store.close()
            profiles["complete_order"] = {
                "items": sample,
                "top": profile_top(prof, sample, args.top),
            }
        db_bytes = sum(
            p.stat().st_size for p in (Path(tmp) / "home").glob("certdesk.db*") if p.is_file()
        )

    submit_s = submit.summary()
    load = bare["load"]
    certdesk_share = [s - b for s, b in zip(submit.times, load.times, strict=True)]
    total_submit = sum(submit.times)
    parts: dict[str, Any] = {}
    for name, series in bare.items():
        timed = submit.times[: len(series.times)]
        parts[name] = {**series.summary(), "share": sum(series.times) / sum(timed)}
        parts[name].pop("items_per_s")
    # Over the items whose every part was timed (the RSA key check is timed on a sample).
    checks = bare["rsa_check"].times if "rsa_check" in bare else [0.0] * count
    rest = [c - k - r for c, k, r in zip(load.times, bare["kdf"].times, checks, strict=False)]
    parts["rest"] = {
        "median_ms": statistics.median(rest) * 1e3,
        "p95_ms": pct(rest, 0.95) * 1e3,
        "mean_ms": statistics.fmean(rest) * 1e3,
        "share": sum(rest) / sum(submit.times[: len(rest)]),
    }
    in_place = submit_stages.seconds[SUBMIT_STAGES[2].label]
    parts["certdesk_in_place"] = {
        "mean_ms": (total_submit - in_place) / count * 1e3,
        "share": 1 - in_place / total_submit,
    }
    parts["certdesk"] = {
        "median_ms": statistics.median(certdesk_share) * 1e3,
        "p95_ms": pct(certdesk_share, 0.95) * 1e3,
        "mean_ms": statistics.fmean(certdesk_share) * 1e3,
        "share": sum(certdesk_share) / total_submit,
    }
    return {
        "config": {
            "count": count,
            "key": args.key,
            "pfx_key": _KEY_LABEL[args.key],
            "csr_key": args.csr_key,
            "jobs": args.jobs,
            "load_repeats": args.load_repeats,
            "profile_sample": sample,
            "pfx_bytes_median": statistics.median(len(p.data) for p in inputs),
            "setup_pfx_s": round(pfx_setup_s, 2),
            "setup_sign_s": round(sign_s, 2),
            "database_bytes": db_bytes,
        },
        "environment": {
            "python": platform.python_version(),
            "cryptography": cryptography.__version__,
            "sqlalchemy": sqlalchemy.__version__,
            "openssl_cli": _openssl_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_start": load_start,
            "loadavg_end": os.getloadavg(),
        },
        "flows": {
            "submit_pfx": submit_s,
            "order_csr": orders.summary(),
            "complete_order": completes.summary(),
        },
        "submit_split": parts,
        "stages": {
            "submit_pfx": stage_rows(submit_stages, count, submit_s["mean_ms"] / 1e3),
            "order_csr": stage_rows(order_stages, count, orders.summary()["mean_ms"] / 1e3),
            "complete_order": stage_rows(
                complete_stages, count, completes.summary()["mean_ms"] / 1e3
            ),
        },
        "profiles": profiles,
    }


def _openssl_version() -> str:
    done = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


# --- reporting -----------------------------------------------------------------------------


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def report_table(fig: dict[str, Any]) -> str:
    cfg, env, flows = fig["config"], fig["environment"], fig["flows"]
    lines = [
        f"certdesk desk benchmark on SQLite: {cfg['count']:,} .pfx submissions "
        f"({cfg['pfx_key']}, ~{cfg['pfx_bytes_median'] / 1024:.1f} KiB each), "
        f"{cfg['count']:,} CSR orders ({cfg['csr_key']}) completed",
        f"python {env['python']}, cryptography {env['cryptography']}, "
        f"SQLAlchemy {env['sqlalchemy']}, {env['openssl_cli'].split(' (')[0]}, "
        f"{env['cpus']} CPUs, load average {env['loadavg_start'][0]:.1f} at start, "
        f"{env['loadavg_end'][0]:.1f} at end",
        f"inputs by openssl ({cfg['jobs']} processes, not timed): .pfx files "
        f"{cfg['setup_pfx_s']:.0f} s, CSR signing {cfg['setup_sign_s']:.0f} s; "
        f"database at the end {cfg['database_bytes'] / 1e6:.1f} MB",
        "",
        f"{'flow (one Desk.run each)':<26} {'items':>6} {'median ms':>10} {'p95 ms':>8} "
        f"{'mean ms':>8} {'items/s':>8}  {'first/last 10% median ms':>24}",
        "-" * 100,
    ]
    notes = {
        "order_csr": f"  (includes making the {cfg['csr_key']} key)",
    }
    for name, s in flows.items():
        lines.append(
            f"{name:<26} {s['items']:>6,} {s['median_ms']:>10.2f} {s['p95_ms']:>8.2f} "
            f"{s['mean_ms']:>8.2f} {s['items_per_s']:>8.1f}  "
            f"{s['first_10pct_median_ms']:>11.2f} / {s['last_10pct_median_ms']:<8.2f}"
            + notes.get(name, "")
        )
    split = fig["submit_split"]
    whole = flows["submit_pfx"]
    lines += [
        "",
        "submit_pfx split, per item on the same files (share = of the total submit time)",
        f"{'part':<56} {'median ms':>10} {'p95 ms':>8} {'mean ms':>8} {'share':>7}",
        "-" * 100,
        f"{'submit_pfx, whole':<56} {whole['median_ms']:>10.2f} {whole['p95_ms']:>8.2f} "
        f"{whole['mean_ms']:>8.2f} {1:>7.1%}",
    ]
    labels = [
        ("load", "PKCS#12 load (key derivation + RSA key check): bare pyca"),
        ("kdf", "  key derivation: 3 x 2048 iterations (reference pair)"),
        ("rsa_check", "  RSA private key check (with vs without; sample)"),
        ("rest", "  the rest, by difference: parse, decrypt, key load"),
        ("certdesk", "certdesk (checks, vault, database) = submit - bare load"),
        ("certdesk_in_place", "  the same, from load_pkcs12 timed in place (means)"),
    ]
    for key, label in labels:
        if key in split:
            r = split[key]
            med = f"{r['median_ms']:.2f}" if "median_ms" in r else ""
            p95 = f"{r['p95_ms']:.2f}" if "p95_ms" in r else ""
            lines.append(f"{label:<56} {med:>10} {p95:>8} {r['mean_ms']:>8.2f} {r['share']:>7.1%}")
    for name, rows in fig["stages"].items():
        lines += [
            "",
            f"{name}: where the time goes (timed in place; mean per item; "
            "indented = inside the line above)",
            f"{'stage':<58} {'calls':>6} {'mean ms':>9} {'share':>7}",
            "-" * 100,
        ]
        for r in rows:
            if r["level"] == 1 and not r["calls_per_item"]:
                continue  # a nested function this flow never reached
            indent = "    " if r["level"] == 1 else ""
            calls = f"{r['calls_per_item']:.0f}" if r["calls_per_item"] is not None else ""
            if r["level"] == -1:
                calls = ""
            lines.append(
                f"{indent + r['stage']:<58} {calls:>6} {r['mean_ms']:>9.3f} {r['share']:>7.1%}"
            )
    for name, prof in fig["profiles"].items():
        lines += [
            "",
            f"cProfile of {name}, {prof['items']} items on a copy: top functions by own time "
            "(profiler overhead inflates Python-heavy lines)",
            f"{'own ms/item':>11} {'cum ms/item':>11} {'calls/item':>10}  function",
            "-" * 100,
        ]
        for r in prof["top"]:
            lines.append(
                f"{r['own_ms_per_item']:>11.3f} {r['cumulative_ms_per_item']:>11.3f} "
                f"{r['calls_per_item']:>10.1f}  {r['function']}"
            )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="pfx files and CSR orders")
    parser.add_argument(
        "--key", choices=("rsa", "ec"), default="rsa", help="leaf and CA keys: RSA-2048 or P-256"
    )
    parser.add_argument(
        "--csr-key",
        choices=_CSR_KEYS,
        default=None,
        help="key certdesk makes for each CSR (default: rsa2048 with --key rsa, p256 with ec)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="parallel openssl processes")
    parser.add_argument(
        "--load-repeats",
        type=int,
        default=None,
        help="bare load_pkcs12 runs per file, median (default: 3 with ec, 1 with rsa)",
    )
    parser.add_argument(
        "--check-sample", type=int, default=200, help="files whose RSA key check is timed"
    )
    parser.add_argument(
        "--profile", type=int, default=200, help="items profiled per flow on a copy (0: none)"
    )
    parser.add_argument("--top", type=int, default=15, help="profile lines shown per flow")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.load_repeats is None:
        args.load_repeats = 1 if args.key == "rsa" else 3
    if args.csr_key is None:
        args.csr_key = "rsa2048" if args.key == "rsa" else "p256"
    for name in ("count", "jobs", "load_repeats", "check_sample", "top"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.profile < 0:
        parser.error("--profile must be at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    figures = measure(args, progress)
    if args.json:
        print(json.dumps(_rounded(figures), indent=2))
    else:
        print(report_table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
