"""Chains at the desk: leaf-only .pfx files completed from known intermediates, and the
path found is what is stored, exported and installed (leaf first, no root)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from certdesk import desk as d
from certdesk.application.compose import open_desk
from certdesk.desk import Actor, Desk, Refused
from certdesk.pki import fingerprint
from certdesk.settings import Settings
from tests.database import LAB_SUFFIXES, snapshot
from tests.flows import new_tenant
from tests.openssl_chains import EXAMPLE_HOST, EXAMPLE_HOST2, LE_HOST, Chains, openssl_verify
from tests.openssl_pki import PFX_PASSWORD, run_openssl


@pytest.fixture
def chain_desk(tmp_path: Path, database_url: str, chains: Chains) -> Iterator[Desk]:
    """A desk whose operator's CA bundle holds ISRG Root X1 and Example Root CA."""
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(chains.pem("x1", "example_root"))
    opened = open_desk(
        Settings(
            home=tmp_path / "home",
            database_url=database_url,
            ca_bundle=bundle,
            lab_suffixes=LAB_SUFFIXES,
        )
    )
    try:
        yield opened
    finally:
        opened.store.close()


def submit(desk: Desk, actor: Actor, pfx: Path, host: str) -> d.SubmitResult:
    return desk.run(
        actor,
        d.submit_pfx,
        tenant="Acme Hosting",
        data=pfx.read_bytes(),
        password=PFX_PASSWORD.encode(),
        common_name=host,
        urls=[f"https://{host}"],
    )


def exported_chain(desk: Desk, actor: Actor, host: str) -> list[x509.Certificate]:
    export = desk.run(actor, d.export_certificate, url=f"https://{host}", to="pem")
    return x509.load_pem_x509_certificates(export.data)


def test_a_leaf_only_pfx_is_completed_from_intermediates_seen_before(
    chain_desk: Desk, operator: Actor, chains: Chains
) -> None:
    new_tenant(chain_desk, operator)
    leaf_only = chains.pfx("example_leaf")
    # Nothing known yet: refused as incomplete, and nothing is stored.
    before = snapshot(chain_desk)
    with pytest.raises(Refused) as refused:
        submit(chain_desk, operator, leaf_only, EXAMPLE_HOST)
    assert {f.code for f in refused.value.findings} == {"chain-incomplete"}
    assert snapshot(chain_desk) == before

    # Another certificate of the same CA arrives with its chain...
    submit(chain_desk, operator, chains.pfx("example_leaf2", "issuing_good"), EXAMPLE_HOST2)
    # ...and now the leaf alone is completed with its intermediate.
    result = submit(chain_desk, operator, leaf_only, EXAMPLE_HOST)
    assert [f.code for f in result.findings] == ["chain-completed"]
    exported = exported_chain(chain_desk, operator, EXAMPLE_HOST)
    assert [fingerprint(c) for c in exported] == [
        fingerprint(c) for c in chains.certs("example_leaf", "issuing_good")
    ]


def test_the_path_found_is_stored_and_exported_without_the_root(
    chain_desk: Desk, operator: Actor, chains: Chains, tmp_path: Path
) -> None:
    # Let's Encrypt, 2021: the .pfx carries X1 cross-signed by the expired DST root.
    new_tenant(chain_desk, operator)
    result = submit(chain_desk, operator, chains.pfx("le_leaf", "r3", "x1_cross", "dst"), LE_HOST)
    assert result.findings == ()
    exported = exported_chain(chain_desk, operator, LE_HOST)
    assert [fingerprint(c) for c in exported] == [
        fingerprint(c) for c in chains.certs("le_leaf", "r3")
    ]
    # What certdesk writes is a chain openssl verifies against the trust store.
    assert openssl_verify(chains, "le_leaf", trusted=["x1"], untrusted=["r3"])
    pfx = chain_desk.run(
        operator, d.export_certificate, url=f"https://{LE_HOST}", to="pfx", password=b"pw"
    )
    out = tmp_path / "le.pfx"
    out.write_bytes(pfx.data)
    certs = run_openssl("pkcs12", "-in", out, "-nokeys", "-passin", "pass:pw").decode()
    assert certs.count("BEGIN CERTIFICATE") == 2
    assert "DST Root CA X3" not in certs
