"""Every desk flow end-to-end through ``python -m certdesk`` in a subprocess, on a fresh data
folder (SQLite), with inputs made by openssl and the results read back by openssl."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.cli.conftest import Run, run_module
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI, openssl_fingerprint, run_openssl
from tests.signing import make_pfx, sign_csr, to_der, to_p7b, with_chain


class Certdesk:
    """``python -m certdesk --home HOME ...`` with the test root as the operator's CA bundle."""

    def __init__(self, home: Path, pki: OpenSSLPKI) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}
        self.env.update(CERTDESK_CA_BUNDLE=str(pki.root_crt), COLUMNS="200")

    def __call__(self, *args: str | Path) -> Run:
        return run_module("--home", self.home, *args, env=self.env)

    def ok(self, *args: str | Path) -> Run:
        done = self(*args)
        assert done.exit_code == 0, f"{args}: {done.stdout}\n{done.stderr}"
        return done

    def json(self, *args: str | Path) -> dict:  # type: ignore[type-arg]
        return self.ok(*args, "--json").json()  # type: ignore[no-any-return]

    def raw_database(self) -> bytes:
        return b"".join(p.read_bytes() for p in sorted(self.home.glob("certdesk.db*")))


@pytest.fixture
def certdesk(tmp_path: Path, pki: OpenSSLPKI) -> Certdesk:
    return Certdesk(tmp_path / "data", pki)


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "pfx-password"
    path.write_text(PFX_PASSWORD + "\n")
    return path


def openssl_req(csr: Path) -> tuple[dict[str, str], list[str]]:
    text = run_openssl(
        "req", "-in", csr, "-verify", "-noout", "-text", "-nameopt", "sep_multiline"
    ).decode()
    block = text.split("Subject:", 1)[1].split("Subject Public Key Info", 1)[0]
    return dict(re.findall(r"^\s+(\w+)=(.*)$", block, re.MULTILINE)), re.findall(
        r"DNS:([^,\s]+)", text
    )


def test_tenants_and_domains(certdesk: Certdesk) -> None:
    added = certdesk.ok("tenant", "add", "Acme Hosting", "--email", "ops@acme.gr")
    assert "Acme Hosting" in added.stdout
    certdesk.ok("tenant", "add", "Beta Cloud")
    assert certdesk.json("tenant", "list")["tenants"] == [
        {"id": 1, "name": "Acme Hosting", "emails": ["ops@acme.gr"], "domains": 0},
        {"id": 2, "name": "Beta Cloud", "emails": [], "domains": 0},
    ]
    certdesk.ok("domain", "add", "https://store.test.com", "--tenant", "Acme Hosting",
                "--portal", "bss")  # fmt: skip
    certdesk.ok("domain", "add", "beta.example.net", "--tenant", "Beta Cloud")
    taken = certdesk("domain", "add", "store.test.com", "--tenant", "Beta Cloud")
    assert taken.exit_code == 1
    assert "conflict" in taken.stderr
    unknown = certdesk("domain", "add", "x.example.org", "--tenant", "Nobody")
    assert unknown.exit_code == 1
    assert "not-found" in unknown.stderr
    table = certdesk.ok("domain", "list").stdout
    assert "https://store.test.com" in table
    assert "https://beta.example.net" in table
    acme = certdesk.json("domain", "list", "--tenant", "Acme Hosting")["domains"]
    assert [(d["url"], d["portal"], d["monitored"]) for d in acme] == [
        ("https://store.test.com", "bss", True)
    ]
    certdesk.ok("domain", "unmonitor", "https://store.test.com")
    acme = certdesk.json("domain", "list", "--tenant", "Acme Hosting")["domains"]
    assert acme[0]["monitored"] is False
    assert certdesk.json("tenant", "list")["tenants"][0]["domains"] == 1


def test_submit(certdesk: Certdesk, pki: OpenSSLPKI, password_file: Path, tmp_path: Path) -> None:
    certdesk.ok("tenant", "add", "Acme Hosting")
    done = certdesk.ok(
        "submit", pki.modern_pfx, "--common-name", "store.test.com", "--url",
        "https://store.test.com", "--url", "https://www.test.com/shop", "--tenant",
        "Acme Hosting", "--password-file", password_file,
    )  # fmt: skip
    assert done.stdout.splitlines()[0] == openssl_fingerprint(pki.leaf_crt)

    # Refused: exit 1 with every finding.
    expired = make_pfx(
        pki.expired_crt, pki.expired_key, tmp_path / "expired.pfx", PFX_PASSWORD, pki.int_crt
    )
    refused = certdesk(
        "submit", expired, "--common-name", "expired.test.com", "--url",
        "https://expired.test.com", "--url", "https://other.test.com", "--tenant",
        "Acme Hosting", "--password-file", password_file,
    )  # fmt: skip
    assert refused.exit_code == 1
    assert "[refused]" in refused.stderr
    assert "[expired]" in refused.stderr
    assert "[name-mismatch]" in refused.stderr
    as_json = certdesk(
        "submit", expired, "--common-name", "expired.test.com", "--url",
        "https://other.test.com", "--tenant", "Acme Hosting", "--password-file",
        password_file, "--json",
    )  # fmt: skip
    assert as_json.exit_code == 1
    codes = {f["code"] for f in as_json.json()["error"]["findings"]}
    assert {"expired", "name-mismatch"} <= codes
    duplicate = certdesk(
        "submit", pki.modern_pfx, "--common-name", "store.test.com", "--url",
        "store.test.com", "--tenant", "Acme Hosting", "--password-file", password_file,
    )  # fmt: skip
    assert duplicate.exit_code == 1
    assert "[duplicate]" in duplicate.stderr

    # Unreadable: exit 2.
    truncated = tmp_path / "truncated.pfx"
    truncated.write_bytes(pki.modern_pfx.read_bytes()[:600])
    for file, code in (
        (tmp_path / "missing.pfx", "unreadable"),
        (truncated, "malformed"),
        (pki.leaf_crt, "unsupported-format"),
    ):
        bad = certdesk(
            "submit", file, "--common-name", "store.test.com", "--url", "store.test.com",
            "--tenant", "Acme Hosting", "--password-file", password_file,
        )  # fmt: skip
        assert bad.exit_code == 2, (file, bad.stderr)
        assert f"[{code}]" in bad.stderr
        if code == "unsupported-format":  # a .crt on this path: convert it first
            assert "certdesk convert" in bad.stderr
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-it\n")
    bad = certdesk(
        "submit", pki.modern_pfx, "--common-name", "store.test.com", "--url",
        "store.test.com", "--tenant", "Acme Hosting", "--password-file", wrong,
    )  # fmt: skip
    assert bad.exit_code == 2
    assert "[wrong-password]" in bad.stderr
    requests = certdesk.json("requests")["requests"]
    assert [(r["kind"], r["status"]) for r in requests] == [("submit", "completed")]
    assert [e["status"] for e in requests[0]["timeline"]] == ["received", "processing", "completed"]
    audit = certdesk.ok("audit", "--json")
    events = audit.json()["events"]
    assert events[0]["action"] == "certificate.submit"
    assert events[0]["object_id"] == openssl_fingerprint(pki.leaf_crt)
    for text in (audit.stdout, json.dumps(requests), done.stdout, done.stderr):
        assert PFX_PASSWORD not in text
    assert PFX_PASSWORD.encode() not in certdesk.raw_database()


def test_csr_new_complete_list_cancel(certdesk: Certdesk, pki: OpenSSLPKI, tmp_path: Path) -> None:
    certdesk.ok("tenant", "add", "Acme Hosting")
    csr = tmp_path / "shop.csr"
    made = certdesk.json(
        "csr", "new", "--tenant", "Acme Hosting", "--cn", "shop.example.org", "--org",
        "Acme Shop", "--unit", "Web", "--locality", "Athens", "--state", "Attica",
        "--country", "GR", "--san", "www.shop.example.org", "--url",
        "https://shop.example.org", "--key", "p256", "--out", csr,
    )  # fmt: skip
    assert made["status"] == "pending"
    fields, sans = openssl_req(csr)
    assert fields == {
        "C": "GR",
        "ST": "Attica",
        "L": "Athens",
        "O": "Acme Shop",
        "OU": "Web",
        "CN": "shop.example.org",
    } or fields == {
        "CN": "shop.example.org",
        "O": "Acme Shop",
        "OU": "Web",
        "L": "Athens",
        "ST": "Attica",
        "C": "GR",
    }
    assert sans == ["shop.example.org", "www.shop.example.org"]
    bad = certdesk("csr", "new", "--tenant", "Acme Hosting", "--cn", "a b", "--out",
                   tmp_path / "bad.csr")  # fmt: skip
    assert bad.exit_code == 2
    assert "[invalid-subject]" in bad.stderr
    assert not (tmp_path / "bad.csr").exists()

    # The test CA signs; the result comes back as a DER .p7b with the chain.
    crt = sign_csr(pki, csr, tmp_path / "shop.crt", sans)
    p7b = to_p7b(pki, crt, tmp_path / "shop.p7b", der=True)
    done = certdesk.ok("csr", "complete", p7b)
    assert done.stdout.splitlines()[0] == openssl_fingerprint(crt)
    again = certdesk("csr", "complete", p7b)
    assert again.exit_code == 1
    assert "[duplicate]" in again.stderr

    # Only the CN given: it is still a SAN. The leaf alone, DER, is completed with the
    # intermediate certdesk has seen.
    csr2 = tmp_path / "api.csr"
    certdesk.ok("csr", "new", "--tenant", "Acme Hosting", "--cn", "api.example.org",
                "--key", "p256", "--out", csr2)  # fmt: skip
    assert openssl_req(csr2) == ({"CN": "api.example.org"}, ["api.example.org"])
    crt2 = sign_csr(pki, csr2, tmp_path / "api.crt", ["api.example.org"])
    done2 = certdesk.ok("csr", "complete", to_der(crt2, tmp_path / "api.cer"))
    assert done2.stdout.splitlines()[0] == openssl_fingerprint(crt2)

    # A certificate whose key matches no order is refused.
    stranger = certdesk("csr", "complete", with_chain(pki, pki.leaf_crt, tmp_path / "x.pem"))
    assert stranger.exit_code == 1
    assert "[no-matching-order]" in stranger.stderr

    csr3 = tmp_path / "old.csr"
    third = certdesk.json("csr", "new", "--tenant", "Acme Hosting", "--cn", "old.example.org",
                          "--key", "p256", "--out", csr3)  # fmt: skip
    assert certdesk.ok("csr", "cancel", str(third["id"])).exit_code == 0
    orders = certdesk.json("csr", "list")["orders"]
    assert [(o["common_name"], o["status"]) for o in orders] == [
        ("shop.example.org", "fulfilled"),
        ("api.example.org", "fulfilled"),
        ("old.example.org", "cancelled"),
    ]
    assert orders[0]["certificate"] == openssl_fingerprint(crt)
    assert orders[0]["urls"] == ["https://shop.example.org"]
    domains = certdesk.json("domain", "list")["domains"]
    assert [(d["url"], d["certificate"]) for d in domains] == [
        ("https://shop.example.org", openssl_fingerprint(crt))
    ]


def test_renew_export_and_rotate(
    certdesk: Certdesk, pki: OpenSSLPKI, password_file: Path, tmp_path: Path
) -> None:
    certdesk.ok("tenant", "add", "Acme Hosting")
    certdesk.ok(
        "submit", pki.modern_pfx, "--common-name", "store.test.com", "--url",
        "https://store.test.com", "--url", "https://www.test.com", "--tenant", "Acme Hosting",
        "--password-file", password_file,
    )  # fmt: skip
    csr = tmp_path / "renew.csr"
    renewal = certdesk.json("renew", "https://store.test.com", "--key", "p256", "--out", csr)
    assert renewal["renewal_of"] == openssl_fingerprint(pki.leaf_crt)
    fields, sans = openssl_req(csr)
    assert fields["CN"] == "store.test.com"
    assert (fields["O"], fields["C"]) == ("Test Inc.", "GR")
    assert sans == ["store.test.com", "www.test.com"]
    crt = sign_csr(pki, csr, tmp_path / "renewed.crt", sans)
    done = certdesk.ok("csr", "complete", with_chain(pki, crt, tmp_path / "renewed.pem"))
    new = openssl_fingerprint(crt)
    assert done.stdout.splitlines()[0] == new
    domains = certdesk.json("domain", "list")["domains"]
    assert {d["url"]: d["certificate"] for d in domains} == {
        "https://store.test.com": new,
        "https://www.test.com": new,
    }

    out_password = tmp_path / "out-password"
    out_password.write_text("export me\n")
    pfx = tmp_path / "store.pfx"
    certdesk.ok("export", "https://www.test.com", "--to", "pfx", "--out", pfx,
                "--out-password-file", out_password)  # fmt: skip
    assert oct(pfx.stat().st_mode & 0o777) == oct(0o600)
    certs = run_openssl("pkcs12", "-in", pfx, "-nokeys", "-passin", "pass:export me")
    leaf = tmp_path / "exported.crt"
    leaf.write_bytes(certs[certs.index(b"-----BEGIN CERTIFICATE") :])
    assert openssl_fingerprint(leaf) == new
    key = run_openssl("pkcs12", "-in", pfx, "-nocerts", "-nodes", "-passin", "pass:export me")
    key_pub = run_openssl("pkey", "-pubout", stdin=key)
    assert key_pub == run_openssl("x509", "-in", crt, "-noout", "-pubkey")

    pem = tmp_path / "store.pem"
    bare = tmp_path / "bare.pem"
    certdesk.ok("export", "store.test.com", "--to", "pem", "--out", bare)
    assert b"PRIVATE KEY" not in bare.read_bytes()  # the key only when asked for
    no_password = certdesk("export", "store.test.com", "--to", "pem", "--with-key", "--out", pem)
    assert no_password.exit_code != 0
    assert "needs a password to encrypt the key" in no_password.stderr
    certdesk.ok("export", "store.test.com", "--to", "pem", "--with-key", "--clear-key",
                "--out", pem)  # fmt: skip
    assert openssl_fingerprint(pem) == new
    assert run_openssl("pkey", "-in", pem, "-pubout") == key_pub

    before = (certdesk.home / "master.key").read_text()
    rotated = certdesk.ok("vault", "rotate")
    assert "2 key(s) re-encrypted" in rotated.stdout
    assert (certdesk.home / "master.key").read_text() != before
    pem2 = tmp_path / "store-after.pem"
    certdesk.ok("export", "store.test.com", "--to", "pem", "--with-key",
                "--out-password-file", out_password, "--out", pem2)  # fmt: skip
    assert b"ENCRYPTED PRIVATE KEY" in pem2.read_bytes()
    assert run_openssl("pkey", "-in", pem2, "-passin", "pass:export me", "-pubout") == key_pub

    requests = certdesk.json("requests")["requests"]
    assert [(r["kind"], r["status"]) for r in requests] == [
        ("renew", "completed"),
        ("submit", "completed"),
    ]
    actions = [e["action"] for e in certdesk.json("audit")["events"]]
    assert actions[:3] == ["certificate.export", "vault.rotate", "certificate.export"]
    assert "csr.complete" in actions
    raw = certdesk.raw_database()
    assert PFX_PASSWORD.encode() not in raw
    assert b"export me" not in raw
