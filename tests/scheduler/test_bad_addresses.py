"""One tenant's bad e-mail address never stops the scheduler.

Contacts and tenant names are checked (``email-validator``, syntax only) on every write:
``a@[x.example`` and a name with a line break are refused with ``invalid-argument`` and
nothing changes. A bad address already in the database (written before these checks)
makes that one delivery ``failed`` with the reason, retried later; the other tenant's
report and the operators' go out in the same tick of the real scheduler (in-process and
as ``certdesk scheduler tick``), and no delivery stays ``claimed``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import update

from certdesk import desk as d
from certdesk.addresses import email_address, tenant_name
from certdesk.desk import Desk
from certdesk.errors import InvalidArgument
from certdesk.notify import SmtpMailer
from certdesk.scheduler import tick
from certdesk.settings import Settings, load_settings
from certdesk.store.models import Tenant
from tests.cli.conftest import Run
from tests.database import snapshot
from tests.notify.smtpd import SmtpServer
from tests.openssl_pki import OpenSSLPKI
from tests.reports.certs import CertMaker
from tests.reports.world import DAY, OPERATOR, add_tenant, first_of_month, install, local
from tests.scheduler.conftest import OPERATORS, config_for, deliveries

ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

BAD = ["ops@alpha.example", "a@[x.example"]
Cli = Callable[..., Run]


def two_tenants(desk: Desk, certs: CertMaker, pki: OpenSSLPKI) -> tuple[object, int, int]:
    day = first_of_month(pki)
    at = local(day, 10)
    alpha = add_tenant(desk, "Alpha Hosting", ["ops@alpha.example"])
    beta = add_tenant(desk, "Beta Cloud", ["ops@beta.example"])
    install(desk, certs, tenant="Alpha Hosting", host="alpha-soon.test.com", not_after=at + DAY)
    install(desk, certs, tenant="Beta Cloud", host="beta-soon.test.com", not_after=at + DAY)
    return at, alpha, beta


def _smuggle(desk: Desk, tenant_id: int) -> None:
    """What an older certdesk let in: the bad list, written straight to the database."""
    with desk.store.transaction() as session:
        session.execute(update(Tenant).where(Tenant.id == tenant_id).values(emails=BAD))


@ON_SQLITE
@pytest.mark.parametrize(
    "emails",
    [BAD, ["a@[x.example"], ["Ops <ops@alpha.example>"], ["ops@alpha.example\r\nBcc: x@e.com"]],
)
def test_bad_contacts_are_refused(desk: Desk, emails: list[str]) -> None:
    add_tenant(desk, "Alpha Hosting", ["ops@alpha.example"])
    before = snapshot(desk)
    with pytest.raises(InvalidArgument) as refused:
        desk.run(OPERATOR, d.change_tenant, name="Alpha Hosting", emails=emails)
    assert refused.value.code == "invalid-argument"
    assert "is not usable as a contact e-mail address" in str(refused.value)
    assert snapshot(desk) == before
    with pytest.raises(InvalidArgument):
        desk.run(OPERATOR, d.add_tenant, name="Gamma", emails=emails)
    assert snapshot(desk) == before


@ON_SQLITE
@pytest.mark.parametrize(
    "name", ["", "   ", '""', '"\'"', "Acme\r\nBcc: x", "Acme\nX", "Acme\u2028X", "Acme\u2029X"]
)
def test_bad_tenant_names_are_refused_on_add_and_rename(desk: Desk, name: str) -> None:
    add_tenant(desk, "Alpha Hosting")
    before = snapshot(desk)
    with pytest.raises(InvalidArgument):
        desk.run(OPERATOR, d.add_tenant, name=name)
    with pytest.raises(InvalidArgument) as refused:
        desk.run(OPERATOR, d.change_tenant, name="Alpha Hosting", new_name=name)
    assert refused.value.code == "invalid-argument"
    assert snapshot(desk) == before


def test_good_names_and_addresses_pass() -> None:
    assert tenant_name('  Acme "Blue" Hosting ') == 'Acme "Blue" Hosting'
    assert email_address(" Ops@Alpha.Example ") == "Ops@alpha.example"
    assert email_address("noc@platform.test") == "noc@platform.test"


@ON_SQLITE
def test_operator_settings_are_checked(settings: Settings) -> None:
    env = {"CERTDESK_HOME": str(settings.home), "CERTDESK_DATABASE_URL": settings.database_url}
    with pytest.raises(InvalidArgument, match="CERTDESK_OPERATOR_EMAILS"):
        load_settings(env={**env, "CERTDESK_OPERATOR_EMAILS": "noc@platform.test,a@[x.example"})
    with pytest.raises(InvalidArgument, match="CERTDESK_MAIL_FROM"):
        load_settings(env={**env, "CERTDESK_MAIL_FROM": "certdesk <a@[x.example>"})
    ok = load_settings(env={**env, "CERTDESK_OPERATOR_EMAILS": "noc@platform.test"})
    assert (ok.operator_emails, ok.mail_from) == (("noc@platform.test",), "certdesk@localhost")


@ON_SQLITE
def test_one_bad_delivery_never_stops_the_others(
    desk: Desk, settings: Settings, certs: CertMaker, pki: OpenSSLPKI, smtp: SmtpServer
) -> None:
    at, alpha, beta = two_tenants(desk, certs, pki)
    _smuggle(desk, alpha)
    outcomes = tick(desk, config_for(settings), SmtpMailer(smtp.url(auth=False)), now=at)  # type: ignore[arg-type]
    got = {(o.kind, o.recipient): o for o in outcomes}
    assert got[("daily", f"tenant:{alpha}")].status == "failed"
    assert "a@[x.example" in (got[("daily", f"tenant:{alpha}")].error or "")
    assert got[("daily", f"tenant:{beta}")].status == "sent"
    assert got[("daily", "operators")].status == "sent"
    sent_to = sorted(tuple(sorted(r.rcpt_tos)) for r in smtp.received)
    assert ("ops@beta.example",) in sent_to
    assert tuple(sorted(OPERATORS)) in sent_to
    assert not any("ops@alpha.example" in to for to in sent_to)
    rows = deliveries(desk)
    assert all(r.status != "claimed" for r in rows.values())
    failed = [r for r in rows.values() if r.recipient == f"tenant:{alpha}" and r.kind == "daily"]
    assert {r.status for r in failed} == {"failed"}
    assert all(r.next_attempt_at is not None and "a@[x.example" in r.last_error for r in failed)

    # Fixed through the desk: the next due retry sends it.
    desk.run(OPERATOR, d.change_tenant, name="Alpha Hosting", emails=["ops@alpha.example"])
    later = at + 2 * (failed[0].next_attempt_at - at)  # type: ignore[operator]
    again = tick(desk, config_for(settings), SmtpMailer(smtp.url(auth=False)), now=later)  # type: ignore[arg-type]
    retried = {(o.kind, o.recipient): o.status for o in again}
    assert retried[("daily", f"tenant:{alpha}")] == "sent"


@ON_SQLITE
def test_the_cli_tick_exits_cleanly(
    certdesk_cli: Cli, desk: Desk, settings: Settings, certs: CertMaker, pki: OpenSSLPKI
) -> None:
    at, alpha, beta = two_tenants(desk, certs, pki)
    _smuggle(desk, alpha)
    env = {
        "CERTDESK_HOME": str(settings.home),
        "CERTDESK_DATABASE_URL": settings.database_url,
        "CERTDESK_OPERATOR_EMAILS": ",".join(OPERATORS),
        "CERTDESK_SMTP_URL": "",
    }
    run = certdesk_cli("scheduler", "tick", "--at", at.isoformat(), "--send", "--json", env=env)  # type: ignore[attr-defined]
    assert run.exit_code == 1, run.stdout + run.stderr  # a failed delivery, not a crash (70)
    data = json.loads(run.stdout)
    status = {(x["kind"], x["recipient"]): x["status"] for x in data["deliveries"]}
    assert status[("daily", f"tenant:{alpha}")] == "failed"
    assert status[("daily", f"tenant:{beta}")] == "sent"
    assert status[("daily", "operators")] == "sent"
    assert all(r.status != "claimed" for r in deliveries(desk).values())
