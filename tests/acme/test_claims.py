"""Ownership claims checked in real DNS (``pebble-challtestsrv`` on loopback): an
unverified claim does not block the real owner; the TXT record ``_certdesk.<name>`` with a
tenant's token verifies its claim and closes the others, with a message; a name pointing at
the platform verifies its one claim (not when several tenants claim it); a certificate
taken in for a pending claim is installed on a real nginx only once the claim is verified,
by the install retry of the engine."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal

from certdesk import desk as d
from certdesk.application.claims import check_claim
from certdesk.application.compose import claims_config, open_desk, open_installer
from certdesk.application.jobs import CLAIMS, INSTALL_RETRY, job_registry
from certdesk.asgi import create_app
from certdesk.desk import Actor, Desk
from certdesk.desk.context import Conflict, OwnershipNotVerified
from certdesk.desk.work_requests import request_probe
from certdesk.notify import OutboxMailer
from certdesk.scheduler import engine
from certdesk.settings import Settings
from tests.acme.pebble import Pebble, run_pebble
from tests.api.conftest import Api, SyncASGI
from tests.database import LAB_SUFFIXES
from tests.deploy.servers import Nginx, free_port, settled_sha256
from tests.edge import edge_target
from tests.flows import new_tenant, submit_leaf
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI

OPERATOR = Actor(name="test")
HOST = "store.test.com"  # a name of openssl's modern.pfx (tests/openssl_pki.py)
URL = f"https://{HOST}"
EDGE = "edge.platform.test"


@dataclass
class Claims:
    pebble: Pebble
    settings: Settings
    desk: Desk
    a: Actor  # the first to claim the name: not its owner
    b: Actor  # the name's real owner

    def set_txt(self, name: str, value: str) -> None:
        self.pebble.dns("set-txt", host=f"{name}.", value=value)

    def point_at_platform(self, host: str) -> None:
        self.pebble.dns("set-cname", host=f"{host}.", target=f"{EDGE}.")

    def tick(self, at_minutes: float = 0) -> list[engine.Outcome]:
        registry = job_registry(self.settings, mailer=OutboxMailer(self.settings.outbox))
        now = self.desk.now() + timedelta(minutes=at_minutes)
        return engine.tick(self.desk, registry, now=now)


@contextlib.contextmanager
def claims_bed(folder: Path, database_url: str, **extra: object) -> Iterator[Claims]:
    with run_pebble(folder / "pebble", free_port()) as pebble:
        values: dict[str, object] = {
            "home": folder / "home",
            "database_url": database_url,
            "lab_suffixes": LAB_SUFFIXES,
            "dns_servers": (pebble.dns_server,),
            "platform_targets": (EDGE,),
            **extra,
        }
        settings = Settings(**values)  # type: ignore[arg-type]
        assert settings.verifies_domains  # on by default once the platform's targets are set
        desk = open_desk(settings)
        try:
            a = Actor("reseller-a", new_tenant(desk, OPERATOR, "Alpha Hosting"))
            b = Actor("reseller-b", new_tenant(desk, OPERATOR, "Beta Shops"))
            yield Claims(pebble, settings, desk, a, b)
        finally:
            desk.store.close()


@pytest.fixture
def bed(tmp_path: Path, database_url: str) -> Iterator[Claims]:
    with claims_bed(tmp_path, database_url) as made:
        yield made


def _claims(outcomes: list[engine.Outcome]) -> list[str]:
    return [o.status for o in outcomes if o.job == CLAIMS]


def test_an_unverified_claim_does_not_block_the_real_owner(bed: Claims) -> None:
    first = bed.desk.run(bed.a, d.add_domain, url=URL, tenant="Alpha Hosting")
    assert first.claim == "pending"
    assert first.claim_record == f"_certdesk.{HOST}"
    assert first.claim_token
    assert first.claim_message is not None  # what to set, before any check
    assert f"_certdesk.{HOST} to {first.claim_token}" in first.claim_message
    assert f"(set CNAME {EDGE})" in first.claim_message
    # The real owner adds the same name: no conflict, a claim of its own, another token.
    second = bed.desk.run(bed.b, d.add_domain, url=URL, tenant="Beta Shops")
    assert second.claim == "pending"
    assert second.claim_token
    assert second.claim_token != first.claim_token
    # Each sees its own claim only.
    assert [v.tenant for v in bed.desk.run(bed.a, d.list_domains)] == ["Alpha Hosting"]
    assert [v.tenant for v in bed.desk.run(bed.b, d.list_domains)] == ["Beta Shops"]

    # Nothing in DNS yet: the engine checks both claims, neither is verified, and each is
    # told what to set (its own token, and what the name points at now).
    assert sorted(_claims(bed.tick())) == ["pending", "pending"]
    waiting = bed.desk.run(bed.a, d.show_claim, url=URL)
    assert waiting.claim == "pending"
    assert waiting.message is not None
    assert f'set the TXT record _certdesk.{HOST} to "{first.claim_token}"' in waiting.message
    assert f"set CNAME {EDGE}" in waiting.message

    # The real owner shows the name is its own: its token in the TXT record.
    bed.set_txt(f"_certdesk.{HOST}", second.claim_token)
    outcomes = _claims(bed.tick(at_minutes=2))  # both claims are due again after 1 minute
    assert "verified" in outcomes
    owned = bed.desk.run(bed.b, d.show_claim, url=URL)
    assert (owned.claim, owned.method) == ("verified", "dns-txt")
    # The other claim is closed, with a message its reseller reads, and an audit event.
    with pytest.raises(d.NotFound):
        bed.desk.run(bed.a, d.show_domain, url=URL)
    [closed] = bed.desk.run(bed.a, d.list_claims)
    assert closed.claim == "closed"
    assert closed.message is not None
    assert closed.message.startswith(f"{HOST} was verified by another account")
    events = [e.action for e in bed.desk.run(bed.a, d.list_audit)]
    assert "domain.claim-closed" in events
    # The name is taken now: claiming it again is a conflict that names nobody.
    with pytest.raises(Conflict) as refused:
        bed.desk.run(bed.a, d.add_domain, url=URL, tenant="Alpha Hosting")
    assert "Beta" not in refused.value.message


def test_a_name_pointing_at_the_platform_verifies_its_only_claim(bed: Claims) -> None:
    host = "billing.test.com"
    bed.desk.run(bed.b, d.add_domain, url=host, tenant="Beta Shops")
    bed.point_at_platform(host)
    view = check_claim(bed.desk, claims_config(bed.settings), bed.b, url=host)  # "check now"
    assert (view.claim, view.method) == ("verified", "dns-pointing")


def test_pointing_does_not_decide_between_two_claims(bed: Claims) -> None:
    host = "portal.test.com"
    bed.desk.run(bed.a, d.add_domain, url=host, tenant="Alpha Hosting")
    mine = bed.desk.run(bed.b, d.add_domain, url=host, tenant="Beta Shops")
    bed.point_at_platform(host)
    view = check_claim(bed.desk, claims_config(bed.settings), bed.a, url=host)
    assert view.claim == "pending"
    assert view.message is not None
    assert "more than one account has asked for it" in view.message
    assert f"_certdesk.{host}" in view.message
    # The TXT record decides.
    bed.set_txt(f"_certdesk.{host}", mine.claim_token or "")
    assert check_claim(bed.desk, claims_config(bed.settings), bed.b, url=host).claim == "verified"
    assert check_claim(bed.desk, claims_config(bed.settings), bed.a, url=host).claim == "closed"


def test_an_operator_assigns_a_name_directly(bed: Claims) -> None:
    bed.desk.run(bed.a, d.add_domain, url=URL, tenant="Alpha Hosting")
    bed.desk.run(bed.b, d.add_domain, url=URL, tenant="Beta Shops")
    # An operator's own addition is verified at once; here it assigns the name to the
    # tenant that claimed it, without DNS: the other claim is closed.
    view = bed.desk.run(OPERATOR, d.add_domain, url=URL, tenant="Beta Shops")
    assert view.claim == "verified"
    assert bed.desk.run(bed.a, d.list_claims)[0].claim == "closed"
    added = bed.desk.run(OPERATOR, d.add_domain, url="new.test.com", tenant="Alpha Hosting")
    assert added.claim == "verified"
    assert _claims(bed.tick()) == []  # nothing pending: nothing to check


def test_a_pending_claim_is_installed_only_once_verified(
    tmp_path: Path, database_url: str, nginx: Nginx, pki: OpenSSLPKI
) -> None:
    with claims_bed(tmp_path, database_url, ca_bundle=pki.root_crt, **edge_target(nginx)) as bed:
        installer = open_installer(bed.settings, bed.desk)
        result = submit_leaf(bed.desk, bed.b, pki, tenant="Beta Shops", urls=[URL])
        [outcome] = installer.after_intake(bed.b, result.request_id)
        # Stored, not installed: the intake says why (exit 3 / HTTP 202 "stored; not
        # installed"), and nginx still serves what it served.
        assert outcome.stored_not_installed
        assert outcome.summary().startswith("stored; not installed: ownership not verified yet")
        view = bed.desk.run(bed.b, d.show_domain, url=URL)
        assert (view.claim, view.install_state) == ("pending", "stored")
        assert settled_sha256(nginx.address, HOST, result.sha256) != result.sha256
        # Installing it by hand is refused, with what to do.
        with pytest.raises(OwnershipNotVerified):
            installer.install(bed.b, urls=[URL])
        # Probing it too (the site may be someone else's).
        with pytest.raises(OwnershipNotVerified):
            bed.desk.run(bed.b, request_probe, urls=[URL])

        bed.set_txt(f"_certdesk.{HOST}", view.claim_token or "")
        outcomes = bed.tick()
        assert _claims(outcomes) == ["verified"]
        # The install retry takes it up (at the next tick of its job).
        retried = [o.status for o in bed.tick(at_minutes=1) if o.job == INSTALL_RETRY]
        assert retried == ["installed"]
        assert settled_sha256(nginx.address, HOST, result.sha256) == result.sha256
        view = bed.desk.run(bed.b, d.show_domain, url=URL)
        assert (view.claim, view.install_state) == ("verified", "installed")


def test_the_api_journey_of_two_claims(tmp_path: Path, database_url: str, pki: OpenSSLPKI) -> None:
    """Over the JSON API: both resellers add the name, each is given its own TXT record
    to set; the real owner uploads its certificate (stored, not installed: the answer says
    why), sets the record and checks now; the install retry installs the certificate; the
    other reseller reads why its claim closed."""
    folder = tmp_path / "installed"
    with claims_bed(
        tmp_path, database_url, ca_bundle=pki.root_crt,
        deploy_targets=(("edge", "files", (("folder", str(folder)),)),), deploy_default="edge",
    ) as bed:  # fmt: skip
        _api_journey(bed, pki, tmp_path, folder)


def _api_journey(bed: Claims, pki: OpenSSLPKI, tmp_path: Path, folder: Path) -> None:
    app = create_app(bed.desk, bed.settings, with_portal=False)
    try:
        with start_blocking_portal() as portal:
            api = Api(app, bed.desk, bed.settings, pki, tmp_path, SyncASGI(app, portal))
            a = api.session("alpha", api.user("alpha", tenant="Alpha Hosting"))
            b = api.session("beta", api.user("beta", tenant="Beta Shops"))
            answers = [
                client.post("/api/domains", json={"url": URL, "tenant": tenant})
                for client, tenant in ((a, "Alpha Hosting"), (b, "Beta Shops"))
            ]
            assert [r.status_code for r in answers] == [201, 201], answers[1].text
            mine = answers[1].json()
            assert (mine["claim"], mine["claim_record"]) == ("pending", f"_certdesk.{HOST}")
            [listed] = b.get("/api/domains").json()
            assert listed["claim_token"] == mine["claim_token"]

            # A pending claim is not probed (the site may be someone else's): the refusal
            # says what to do, in the API's words.
            refused = b.post("/api/probes", json={"urls": [URL]})
            assert refused.status_code == 409
            error = refused.json()["error"]
            assert error["code"] == "ownership-not-verified"
            assert "POST /api/domains/verify" in error["hint"]

            form = {"common_name": HOST, "tenant": "Beta Shops", "urls": [URL]}
            uploaded = b.post(
                "/api/submissions",
                data={**form, "password": PFX_PASSWORD},
                files={"file": ("b.pfx", pki.modern_pfx.read_bytes())},
            )
            assert uploaded.status_code == 202, uploaded.text
            assert uploaded.json()["outcome"] == "stored-not-installed"
            assert "ownership not verified yet" in uploaded.text
            assert not (folder / f"{HOST}.pem").exists()

            checked = b.post("/api/domains/verify", json={"url": URL})
            assert checked.status_code == 200, checked.text
            assert checked.json()["claim"] == "pending"
            assert mine["claim_token"] in checked.json()["message"]

            bed.set_txt(f"_certdesk.{HOST}", mine["claim_token"])
            checked = b.post("/api/domains/verify", json={"url": URL})
            assert (checked.json()["claim"], checked.json()["method"]) == ("verified", "dns-txt")
            retried = [o.status for o in bed.tick(at_minutes=1) if o.job == INSTALL_RETRY]
            assert retried == ["installed"]
            assert (folder / f"{HOST}.pem").exists()
            [owned] = b.get("/api/domains").json()
            assert (owned["claim"], owned["install_state"]) == ("verified", "installed")

            [closed] = a.get("/api/domains/claims").json()
            assert closed["claim"] == "closed"
            assert closed["message"].startswith(f"{HOST} was verified by another account")
            assert a.post("/api/domains/verify", json={"url": URL}).json()["claim"] == "closed"
            assert a.get("/api/domains").json() == []
            again = a.post("/api/domains", json={"url": URL, "tenant": "Alpha Hosting"})
            assert again.status_code == 409
            assert b.get("/api/domains/claims").json() == []  # B has no claim left open
    finally:
        app.state.readers.close()
    api.scan()


def test_the_operators_command_line(bed: Claims) -> None:
    """``certdesk domain verify`` and ``domain claims`` as a process, as an operator runs
    them: which claim is meant when two tenants claim the name, what DNS showed."""
    bed.desk.run(bed.a, d.add_domain, url=URL, tenant="Alpha Hosting")
    mine = bed.desk.run(bed.b, d.add_domain, url=URL, tenant="Beta Shops")
    env = {
        **os.environ,
        "CERTDESK_HOME": str(bed.settings.home),
        "CERTDESK_DATABASE_URL": bed.settings.database_url,
        "CERTDESK_LAB_SUFFIXES": ",".join(bed.settings.lab_suffixes),
        "CERTDESK_DNS_SERVERS": ",".join(bed.settings.dns_servers),
        "CERTDESK_PLATFORM_TARGETS": EDGE,
    }

    def certdesk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "certdesk", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    listed = certdesk("domain", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"{URL} (claim pending)" in listed.stdout
    ambiguous = certdesk("domain", "verify", URL)
    assert ambiguous.returncode == 1
    assert "claimed by 2 tenants and verified by none" in ambiguous.stderr
    bed.set_txt(f"_certdesk.{HOST}", mine.claim_token or "")
    checked = certdesk("domain", "verify", URL, "--tenant", "Beta Shops", "--json")
    assert checked.returncode == 0, checked.stderr
    shown = json.loads(checked.stdout)
    assert (shown["claim"], shown["method"], shown["tenant"]) == (
        "verified",
        "dns-txt",
        "Beta Shops",
    )
    claims = certdesk("domain", "claims", "--json")
    assert claims.returncode == 0, claims.stderr
    [closed] = json.loads(claims.stdout)["claims"]
    assert (closed["tenant"], closed["claim"]) == ("Alpha Hosting", "closed")
    assert closed["message"].startswith(f"{HOST} was verified by another account")
