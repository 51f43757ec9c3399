"""Shared fixtures: the test PKI made by the openssl command line (see openssl_pki.py),
and an nginx on loopback to install on (see edge.py)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

from certdesk.application.readpool import WORKER_NAME
from tests.deploy.servers import Nginx, run_nginx
from tests.openssl_chains import Chains, build_chains
from tests.openssl_pki import OpenSSLPKI, build_pki

# database_url (SQLite and PostgreSQL), settings, desk, operator: see tests/database.py
pytest_plugins = ["tests.database"]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> OpenSSLPKI:
    """The test PKI, built once per session in a temporary folder."""
    return build_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def chains(tmp_path_factory: pytest.TempPathFactory) -> Chains:
    """Cross-signed and alternative chains, made once per session (see openssl_chains.py)."""
    return build_chains(tmp_path_factory.mktemp("chains"))


@pytest.fixture
def nginx(tmp_path: Path, pki: OpenSSLPKI) -> Iterator[Nginx]:
    """A real nginx on 127.0.0.1, serving the self-signed certificate by default."""
    with run_nginx(tmp_path / "nginx", pki.selfsigned_crt, pki.selfsigned_key) as server:
        yield server


@pytest.fixture(autouse=True)
def no_reader_left() -> Iterator[None]:
    """Every test stops the reader processes it started (certdesk.application.readpool)."""
    yield
    left = [p for p in multiprocessing.active_children() if p.name.startswith(WORKER_NAME)]
    for process in left:
        process.kill()
    assert not left, f"reader processes left running: {[p.name for p in left]}"
