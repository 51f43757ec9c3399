"""Managed certificates as operators and the platform meet them: the command line
(``python -m certdesk``) from ``domain add --managed acme`` to ``acme revoke``, and an
issuance installed on a real nginx, proven by a handshake, the requester e-mailed."""

from __future__ import annotations

import email
import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certdesk import desk as d
from certdesk.application.compose import install_config, managed_config
from certdesk.application.installer import Installer
from certdesk.application.managed import run_acme_unit
from certdesk.notify import OutboxMailer
from tests.acme.conftest import OPERATOR, TENANT, Bed, acme_bed, leaf_of, serving
from tests.deploy.servers import Nginx, served_sha256, settled_sha256
from tests.edge import edge_target
from tests.openssl_pki import OpenSSLPKI


def test_the_operators_command_line_from_add_to_revoke(bed: Bed) -> None:
    url = "https://cli.acme.test"
    added = bed.certdesk("domain", "add", url, "--tenant", TENANT, "--managed", "acme")
    assert added.returncode == 0, added.stderr
    assert "platform-managed (acme)" in added.stdout

    issued = bed.certdesk("acme", "issue", url, "--json")
    assert issued.returncode == 0, issued.stdout + issued.stderr
    shown = json.loads(issued.stdout)
    assert (shown["outcome"], shown["state"]) == ("issued", "issued")
    sha256 = shown["certificate"]
    listed = json.loads(bed.certdesk("domain", "list", "--json").stdout)["domains"]
    assert [(x["url"], x["certificate"]) for x in listed] == [(url, sha256)]

    revoked = bed.certdesk("acme", "revoke", url, "--reason", "4")
    assert revoked.returncode == 0, revoked.stderr
    leaf = leaf_of(bed, sha256)
    status = bed.pebble.cert_status(f"{leaf.serial_number:x}")
    assert status["Status"] == "Revoked"
    # Revoked: the domain is due for a new certificate at once.
    after = json.loads(bed.certdesk("acme", "status", url, "--json").stdout)
    assert after["message"] == "the certificate was revoked; certdesk orders a new one"
    assert after["next_try_at"] is not None
    assert after["renewal_info_at"] is None  # pebble 2.4 offers no renewal information

    back = bed.certdesk("domain", "change", url, "--managed", "customer")
    assert back.returncode == 0, back.stderr
    gone = bed.certdesk("acme", "status", url)
    assert gone.returncode == 1
    assert "is not platform-managed" in gone.stdout + gone.stderr


@pytest.mark.parametrize("missing", ["CERTDESK_ACME_DIRECTORY", "CERTDESK_PLATFORM_TARGETS"])
def test_issue_without_a_setting_it_needs_names_it(bed: Bed, missing: str) -> None:
    url = "https://nodir.acme.test"
    bed.certdesk("domain", "add", url, "--tenant", TENANT, "--managed", "acme")
    env = {k: v for k, v in bed.env().items() if k != missing}
    done = subprocess.run(
        [sys.executable, "-m", "certdesk", "acme", "issue", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert missing in done.stdout + done.stderr
    # Refused before anything was taken or ordered: the domain is as it was.
    assert bed.desk.run(OPERATOR, d.managed_status, url=url).state == "waiting-for-dns"
    assert bed.desk.run(OPERATOR, d.list_orders) == []


def test_an_issued_certificate_is_installed_on_nginx_and_served(
    tmp_path: Path, nginx: Nginx
) -> None:
    url = "https://edge.acme.test"
    with acme_bed(tmp_path, f"sqlite:///{tmp_path}/certdesk.db", **edge_target(nginx)) as bed:
        bed.add_managed(url)
        installer = Installer(
            bed.desk, install_config(bed.settings), OutboxMailer(bed.settings.outbox)
        )

        outcome = run_acme_unit(
            bed.desk, url, bed.desk.now(), config=managed_config(bed.settings), installer=installer
        )

        assert outcome.state == "issued", outcome.message
        assert outcome.sha256 is not None
        assert "proven by a handshake" in outcome.message
        # nginx serves the certificate pebble issued, which nobody uploaded.
        assert settled_sha256(nginx.address, "edge.acme.test", outcome.sha256) == outcome.sha256
        # The request went the whole intake way: completed, the tenant e-mailed.
        requests = bed.desk.run(OPERATOR, d.list_requests)
        assert [r.status for r in requests] == ["completed"]
        mails = [
            email.message_from_bytes(p.read_bytes())
            for p in sorted(bed.settings.outbox.glob("*.eml"))
        ]
        assert any("edge.acme.test" in str(m.get_payload(decode=False)) for m in mails)


class _Watch:
    """Looks at a managed domain again and again while a run goes, from another thread,
    and notes what would be untrue: ``issued`` of a certificate not served, or a certificate
    installed and proven while the state still says it is being ordered."""

    def __init__(self, bed: Bed, nginx: Nginx, url: str, host: str, before: str | None) -> None:
        self.bed, self.nginx, self.url, self.host, self.before = bed, nginx, url, host, before
        self.seen: list[str] = []
        self.untrue: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        self._look()  # and once the run is over

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._look()
                time.sleep(0.01)
        except Exception as exc:  # told to the test, which fails on it
            self.untrue.append(f"the watch failed: {exc!r}")

    def _look(self) -> None:
        desk = self.bed.desk
        domain = desk.run(OPERATOR, d.show_domain, url=self.url)  # read first, then the state
        view = desk.run(OPERATOR, d.managed_status, url=self.url)
        if not self.seen or self.seen[-1] != view.state:
            self.seen.append(view.state)
        new = domain.certificate_sha256 not in (None, self.before)
        if new and domain.install_state == "installed" and view.state != "issued":
            self.untrue.append(f"{view.state} while the new certificate is installed")
        if view.state == "issued":
            assert view.certificate_sha256 is not None
            served = settled_sha256(self.nginx.address, self.host, view.certificate_sha256, 5)
            if served != view.certificate_sha256:
                self.untrue.append("issued, and another certificate is served")


class _StateAtMail(OutboxMailer):
    """The outbox, noting the managed domain's state at the moment each e-mail is sent:
    the install notice goes out once the install is recorded, when the reseller is told
    that the certificate is served."""

    def __init__(self, folder: Path, bed: Bed, url: str) -> None:
        super().__init__(folder)
        self.bed, self.url, self.states = bed, url, list[tuple[str, str]]()

    def send(self, message: EmailMessage, *, on_accepted: Callable[[], None] | None = None) -> None:
        view = self.bed.desk.run(OPERATOR, d.managed_status, url=self.url)
        self.states.append((str(message["Subject"]), view.state))
        super().send(message, on_accepted=on_accepted)


def _der_sha256(pem: Path) -> str:
    der = x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def test_each_state_is_shown_while_it_is_true(
    tmp_path: Path, nginx: Nginx, pki: OpenSSLPKI
) -> None:
    """waiting-for-dns, ordering, issued, renewing and failed, each checked against what
    nginx serves at that moment."""
    url, host = "https://states.acme.test", "states.acme.test"
    placeholder = _der_sha256(pki.selfsigned_crt)  # what nginx serves for unknown names
    with acme_bed(
        tmp_path,
        f"sqlite:///{tmp_path}/certdesk.db",
        serve=False,
        pebble_env={"PEBBLE_AUTHZREUSE": "0"},  # every order proves control anew
        **edge_target(nginx),
    ) as bed:
        mailer = _StateAtMail(bed.settings.outbox, bed, url)
        installer = Installer(bed.desk, install_config(bed.settings), mailer)
        config = managed_config(bed.settings)

        def step(at: datetime) -> str:
            done = run_acme_unit(bed.desk, url, at, config=config, installer=installer)
            return done.state

        def status() -> d.ManagedView:
            return bed.desk.run(OPERATOR, d.managed_status, url=url)

        # Waiting for DNS: the name points elsewhere; nothing of ours is served.
        bed.pebble.dns("add-a", host=f"{host}.", addresses=["198.51.100.7"])
        bed.add_managed(url)
        assert step(bed.desk.now()) == "waiting-for-dns"
        assert status().message == f"{host} has A 198.51.100.7; set A 127.0.0.1"
        assert served_sha256(nginx.address, host) == placeholder

        # Ordering, then issued the moment the install is recorded, served from then on.
        bed.pebble.dns("clear-a", host=f"{host}.")
        with serving(bed.desk, bed.settings, bed.http_port):
            with _Watch(bed, nginx, url, host, None) as watch:
                assert step(bed.desk.now() + timedelta(hours=1)) == "issued"
            assert watch.untrue == []
            assert watch.seen == ["waiting-for-dns", "ordering", "issued"]
            first = status()
            assert first.certificate_sha256 is not None
            assert "proven by a handshake" in first.message
            assert served_sha256(nginx.address, host) == first.certificate_sha256

            # Renewing while the CA works, the first certificate served meanwhile.
            assert first.renew_at is not None
            with _Watch(bed, nginx, url, host, first.certificate_sha256) as watch:
                assert step(first.renew_at + timedelta(minutes=1)) == "issued"
            assert watch.untrue == []
            assert watch.seen == ["issued", "renewing", "issued"]
            second = status()
            assert second.certificate_sha256 not in (None, first.certificate_sha256)
            assert served_sha256(nginx.address, host) == second.certificate_sha256
            # When the tenant was e-mailed that each was installed, it showed as issued.
            assert [state for _subject, state in mailer.states] == ["issued", "issued"]

        # Failed, with the CA's reason: nothing answers the challenge now. The certificate
        # issued before stays served.
        assert second.renew_at is not None
        assert step(second.renew_at + timedelta(minutes=1)) == "failed"
        failed = status()
        assert failed.problem is not None
        assert failed.problem["type"] == "urn:ietf:params:acme:error:connection"
        assert failed.message.startswith("the certificate authority refused: ")
        assert failed.message.endswith("(the certificate issued before stays installed)")
        assert served_sha256(nginx.address, host) == second.certificate_sha256
