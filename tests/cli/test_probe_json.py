"""``certdesk probe --json`` through ``python -m certdesk``, against a real TLS server on
loopback: it writes the one JSON form of a probe result (``ProbeResult.to_json``)."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_desk_cli import Certdesk
from tests.monitor.conftest import TLSServer, server  # noqa: F401 (the server fixture)
from tests.openssl_pki import OpenSSLPKI, openssl_fingerprint


def test_probe_json(tmp_path: Path, pki: OpenSSLPKI, server: TLSServer) -> None:  # noqa: F811
    certdesk = Certdesk(tmp_path / "data", pki)
    certdesk.env["CERTDESK_LAB_SUFFIXES"] = "test.com"
    certdesk.ok("tenant", "add", "Acme Hosting")
    address = f"127.0.0.1:{server.port}"
    certdesk.ok("domain", "add", "Store.Test.com", "--tenant", "Acme Hosting",
                "--connect-to", address)  # fmt: skip
    [probe] = certdesk.json("probe", "--allow-private")["probes"]
    assert (probe["url"], probe["host"], probe["port"], probe["connect_to"]) == (
        "https://store.test.com",
        "store.test.com",
        443,
        ["127.0.0.1", server.port],
    )
    assert (probe["ok"], probe["error"], probe["trusted"], probe["covers_host"]) == (
        True,
        None,
        True,
        True,
    )
    assert probe["sha256"] == probe["leaf"]["sha256"] == openssl_fingerprint(pki.leaf_crt)
    assert [c["sha256"] for c in probe["chain"]] == [openssl_fingerprint(pki.int_crt)]
    assert probe["at"].endswith("Z")
    assert probe["address"] == ["127.0.0.1", server.port]
