"""The databases the store and desk tests run on: SQLite, and PostgreSQL on loopback.

A throwaway PostgreSQL 15 cluster (Debian's ``postgresql`` package) is started once per
session in a temporary folder, listening on 127.0.0.1 and a free port, with trust
authentication; every test gets a database of its own (``CREATE DATABASE t_<n>``).
When the tests run as root, initdb and pg_ctl run as the ``postgres`` OS user, in a
folder it owns (initdb refuses root). Without the binaries, every PostgreSQL test
fails and says how to install them: a missing backend is never skipped in silence.

Registered from ``tests/conftest.py`` with ``pytest_plugins``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Column, MetaData, String, Table, inspect, select

from certdesk.application.compose import open_desk
from certdesk.desk import Actor, Desk
from certdesk.settings import Settings
from certdesk.store.models import Base
from tests.openssl_pki import OpenSSLPKI

PG_BIN = Path(os.environ.get("CERTDESK_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_MISSING = (
    f"PostgreSQL's server binaries are not in {PG_BIN}: the store and desk tests run on "
    "PostgreSQL as well as SQLite. Install Debian's `postgresql` package "
    "(run `make test` as root, which installs it: scripts/test-system-deps)."
)


@dataclass
class PgCluster:
    folder: Path
    port: int
    _as_user: list[str]
    _counter: itertools.count[int]

    @property
    def admin_dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, template: str | None = None) -> str:
        """A fresh database (empty, or a copy of ``template``); its name."""
        name = f"t_{next(self._counter)}"
        copy = f" TEMPLATE {template}" if template else ""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}{copy}")  # names are ours: t_<number>
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        subprocess.run(
            [*self._as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), "stop"],
            capture_output=True,
            check=False,
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_cluster() -> PgCluster:
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        raise FileNotFoundError(PG_MISSING)
    folder = Path(tempfile.mkdtemp(prefix="certdesk-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            pg = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise FileNotFoundError(PG_MISSING + " (there is no 'postgres' user)") from exc
        os.chown(folder, pg.pw_uid, pg.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"

    def run(*args: str) -> None:
        done = subprocess.run([*as_user, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")

    run(
        str(PG_BIN / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth=trust",
        "--encoding=UTF8",
        "--no-sync",
    )
    for attempt in range(5):
        port = _free_port()
        options = (
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        try:
            run(
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(folder / "log"),
                "-o",
                options,
                "-w",
                "start",
            )
        except RuntimeError:
            if attempt == 4:
                raise
            continue
        return PgCluster(folder, port, as_user, itertools.count(1))
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster | str]:
    """The session's PostgreSQL cluster, or why there is none (reported by each PG test)."""
    try:
        cluster = _start_cluster()
    except FileNotFoundError as exc:
        yield str(exc)
        return
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.folder, ignore_errors=True)


def require_cluster(request: pytest.FixtureRequest) -> PgCluster:
    """The session's cluster; the test fails (never skips) when PostgreSQL is missing."""
    cluster = request.getfixturevalue("pg_cluster")
    if isinstance(cluster, str):
        pytest.fail(cluster, pytrace=False)
    return cluster


LAB_SUFFIXES = ("test", "example")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test: an SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'certdesk.db'}"
        return
    cluster = require_cluster(request)
    name = cluster.create_database()
    yield cluster.url(name)
    cluster.drop_database(name)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, pki: OpenSSLPKI) -> Settings:
    """Settings for a fresh data folder; the test root is the operator's CA bundle.

    The tests name their domains under ``.test`` and ``.example`` (RFC 2606, 6761) as a
    lab platform would: the operator's ``lab_suffixes`` accepts them."""
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        ca_bundle=pki.root_crt,
        lab_suffixes=LAB_SUFFIXES,
    )


@pytest.fixture
def desk(settings: Settings) -> Iterator[Desk]:
    """A desk opened (migrated) on the test's fresh database."""
    opened = open_desk(settings)
    try:
        yield opened
    finally:
        opened.store.close()


@pytest.fixture
def operator() -> Actor:
    return Actor(name="test")


def clone(settings: Settings, request: pytest.FixtureRequest, home: Path) -> Settings:
    """A copy of a closed desk's data folder and database, for one test to change freely.

    Building a scene once and copying it per test keeps the tests independent and fast.
    """
    shutil.copytree(settings.home, home)
    if settings.is_sqlite:
        source = Path(settings.database_url.removeprefix("sqlite:///"))
        target = home / "clone.db"
        for path in source.parent.glob(source.name + "*"):
            shutil.copy2(path, target.with_name(target.name + path.name[len(source.name) :]))
        url = f"sqlite:///{target}"
    else:
        cluster = require_cluster(request)
        url = cluster.url(cluster.create_database(template=settings.database_url.rsplit("/", 1)[1]))
    return Settings(
        home=home,
        database_url=url,
        master_key=settings.master_key,
        ca_bundle=settings.ca_bundle,
        lab_suffixes=settings.lab_suffixes,
    )


# --- looking at the whole database -------------------------------------------------------


_ALEMBIC = Table("alembic_version", MetaData(), Column("version_num", String(32), primary_key=True))


def _tables(desk: Desk) -> list[Table]:
    """Every table in the database: the models' (no costly reflection), and any other."""
    known = {t.name: t for t in (*Base.metadata.sorted_tables, _ALEMBIC)}
    present = set(inspect(desk.store.engine).get_table_names())
    others = sorted(present - set(known))
    extra: list[Table] = []
    if others:
        meta = MetaData()
        meta.reflect(desk.store.engine, only=others)
        extra = list(meta.sorted_tables)
    return [t for name, t in known.items() if name in present] + extra


# The failed-login limiter's counts: a refused login is meant to add one (and changes
# nothing else); ``unchanged`` is about the data.
NOT_DATA = {"login_failures"}


def snapshot(desk: Desk) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but the limiter's counts), in primary-key order."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with desk.store.engine.connect() as conn:
        for table in _tables(desk):
            if table.name in NOT_DATA:
                continue
            order = list(table.primary_key.columns) or list(table.columns)
            rows[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
    return rows


def counts(snap: dict[str, list[tuple[Any, ...]]]) -> dict[str, int]:
    return {name: len(rows) for name, rows in snap.items()}


@contextlib.contextmanager
def unchanged(desk: Desk) -> Iterator[None]:
    """Assert that the block leaves every table, the audit log included, exactly as it was."""
    before = snapshot(desk)
    yield
    after = snapshot(desk)
    assert counts(after) == counts(before)
    assert after["audit_events"] == before["audit_events"]
    assert after == before
