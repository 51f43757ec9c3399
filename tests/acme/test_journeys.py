"""Managed certificates as operators and the platform meet them: the command line
(``python -m certdesk``) from ``domain add --managed acme`` to ``acme revoke``, and an
issuance installed on a real nginx, proven by a handshake, the requester e-mailed."""

from __future__ import annotations

import email
import json
import subprocess
import sys
from pathlib import Path

import pytest

from certdesk import desk as d
from certdesk.application.compose import install_config, managed_config
from certdesk.application.installer import Installer
from certdesk.application.managed import run_acme_unit
from certdesk.notify import OutboxMailer
from tests.acme.conftest import OPERATOR, TENANT, Bed, acme_bed, leaf_of
from tests.deploy.servers import Nginx, settled_sha256
from tests.edge import edge_target


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
