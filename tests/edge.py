"""nginx as the platform's edge: the deploy target ``edge`` that installer, scheduler,
portal and ACME tests install on (a real nginx on loopback, ``tests.deploy.servers``).

The ``nginx`` fixture (``tests/conftest.py``) starts one with the openssl-made self-signed
certificate as its default; :func:`edge_target` makes it the default deploy target of a
``Settings`` (``Settings(..., **edge_target(nginx))``; :func:`edge_settings` is a whole
one, on SQLite in the test's folder), and :func:`edge_toml` writes the
same in ``certdesk.toml``, for a ``certdesk`` process that reads its data folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from certdesk.settings import Settings
from tests.database import LAB_SUFFIXES
from tests.deploy.servers import Nginx
from tests.openssl_pki import OpenSSLPKI

EDGE = "edge"


def edge_target(nginx: Nginx, **options: object) -> dict[str, Any]:
    """The settings' fields that make ``nginx`` (with ``options`` over its own) the
    default deploy target, named ``edge``."""
    return {
        "deploy_targets": ((EDGE, "nginx", tuple(sorted(nginx.options(**options).items()))),),
        "deploy_default": EDGE,
    }


def edge_toml(nginx: Nginx) -> str:
    """``certdesk.toml``'s ``[deploy]`` with ``nginx`` as the default target ``edge``."""
    lines = [f'[deploy]\ndefault = "{EDGE}"\n\n[deploy.targets.{EDGE}]\nkind = "nginx"']
    # JSON strings and arrays of strings are TOML too.
    lines += [f"{key} = {json.dumps(value)}" for key, value in nginx.options().items()]
    return "\n".join(lines) + "\n"


def edge_settings(folder: Path, pki: OpenSSLPKI, nginx: Nginx, **options: object) -> Settings:
    """Settings on SQLite in ``folder`` (data folder ``folder/home``), trusting the test
    PKI's root, with ``nginx`` (and ``options`` over its own) as the default target."""
    return Settings(
        home=folder / "home",
        database_url=f"sqlite:///{folder}/certdesk.db",
        ca_bundle=pki.root_crt,
        lab_suffixes=LAB_SUFFIXES,
        **edge_target(nginx, **options),
    )
