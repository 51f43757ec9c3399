"""The ACME test bed: pebble and its DNS server, certdesk's app answering HTTP-01 on the
port pebble validates on, and settings that trust pebble (its listener and its root)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from sqlalchemy import select

from certdesk import desk as d
from certdesk.application.compose import open_desk
from certdesk.asgi import create_app
from certdesk.desk import Actor, Desk
from certdesk.settings import Settings
from certdesk.store.models import CertificateRecord
from tests.acme.ari import AriProxy, ari_proxy
from tests.acme.pebble import Pebble, run_pebble
from tests.database import LAB_SUFFIXES
from tests.deploy.servers import free_port
from tests.flows import new_tenant

OPERATOR = Actor(name="test")
TENANT = "Acme Hosting"


@contextlib.contextmanager
def serving(desk: Desk, settings: Settings, port: int) -> Iterator[None]:
    """certdesk's one app (as ``certdesk serve`` runs it) on 127.0.0.1:``port``."""
    app = create_app(desk, settings, with_portal=False)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail(f"certdesk's app did not start on port {port}")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class Bed:
    pebble: Pebble
    settings: Settings
    desk: Desk
    folder: Path
    http_port: int
    ari: AriProxy | None = None  # the renewal-information proxy the desk orders through

    def add_managed(self, url: str) -> None:
        """``url`` added to the tenant as a platform-managed (ACME) domain."""
        self.desk.run(OPERATOR, d.add_domain, url=url, tenant=TENANT, managed="acme")

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a ``certdesk`` process on this bed's settings."""
        s = self.settings
        return {
            **os.environ,
            "CERTDESK_HOME": str(s.home),
            "CERTDESK_DATABASE_URL": s.database_url,
            "CERTDESK_CA_BUNDLE": str(s.ca_bundle),
            "CERTDESK_LAB_SUFFIXES": ",".join(s.lab_suffixes),
            "CERTDESK_ACME_DIRECTORY": str(s.acme_directory),
            "CERTDESK_ACME_EMAIL": str(s.acme_email),
            "CERTDESK_ACME_CA_BUNDLE": str(s.acme_ca_bundle),
            "CERTDESK_DNS_SERVERS": ",".join(s.dns_servers),
            "CERTDESK_PLATFORM_TARGETS": ",".join(s.platform_targets),
            **extra,
        }

    def certdesk(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``python -m certdesk ARGS`` on this bed's settings."""
        return subprocess.run(
            [sys.executable, "-m", "certdesk", *args],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=180,
            check=False,
        )


def bed_settings(folder: Path, pebble: Pebble, database_url: str, **extra: object) -> Settings:
    trust = folder / "trust.pem"
    trust.write_bytes(pebble.root_pem())
    values: dict[str, object] = {
        "home": folder / "home",
        "database_url": database_url,
        "ca_bundle": trust,
        "lab_suffixes": LAB_SUFFIXES,
        "acme_directory": pebble.directory,
        "acme_email": "ops@acme.test",
        "acme_ca_bundle": pebble.ca_bundle,
        "dns_servers": (pebble.dns_server,),
        "platform_targets": ("127.0.0.1",),
        **extra,
    }
    return Settings(**values)  # type: ignore[arg-type]


@contextlib.contextmanager
def acme_bed(
    folder: Path,
    database_url: str,
    *,
    serve: bool = True,
    nosleep: bool = False,
    ari: bool = False,
    pebble_env: dict[str, str] | None = None,
    **extra: object,
) -> Iterator[Bed]:
    """Pebble validating on the port certdesk's app listens on (unless ``serve`` is off:
    nothing answers there); a desk with one tenant. ``ari``: the desk's directory is the
    renewal-information proxy in front of pebble (``tests.acme.ari``); ``pebble_env``: more
    of pebble's ``PEBBLE_*`` variables."""
    port = free_port()
    with (
        run_pebble(folder / "pebble", port, nosleep=nosleep, **(pebble_env or {})) as pebble,
        ari_proxy(pebble) if ari else contextlib.nullcontext() as proxy,
    ):
        if proxy is not None:
            extra = {"acme_directory": proxy.directory, **extra}
        settings = bed_settings(folder, pebble, database_url, **extra)
        desk = open_desk(settings)
        try:
            new_tenant(desk, OPERATOR, TENANT)
            bed = Bed(pebble, settings, desk, folder, port, proxy)
            if serve:
                with serving(desk, settings, port):
                    yield bed
            else:
                yield bed
        finally:
            desk.store.close()


def leaf_of(bed: Bed, sha256: str) -> x509.Certificate:
    """The stored certificate ``sha256`` (the leaf of its chain)."""
    with bed.desk.context(OPERATOR, readonly=True) as ctx:
        record = ctx.session.scalars(
            select(CertificateRecord).where(CertificateRecord.sha256 == sha256)
        ).one()
        return x509.load_pem_x509_certificates(record.chain_pem.encode())[0]


@pytest.fixture
def bed(tmp_path: Path, database_url: str) -> Iterator[Bed]:
    with acme_bed(tmp_path, database_url) as made:
        yield made
