"""CSV reports never carry a live spreadsheet formula (OWASP's "CSV injection").

A certificate's common name and a served certificate's issuer are chosen by whoever made
the certificate. Here they are formulas (``=HYPERLINK(...)``, ``=cmd|' /C calc'!A0``),
put in real certificates by the ``openssl`` command line: one installed through the
``.pfx`` intake, one only served by a TLS server on loopback and found by a real probe.
The CSV of the API's report preview and the CSV attached to the e-mailed report (sent by
a scheduler tick to a real SMTP server) show them as text: prefixed with a single quote.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from certdesk import desk as d
from certdesk.desk import Desk
from certdesk.notify import SmtpMailer
from certdesk.reports.spreadsheet import safe_cell
from certdesk.scheduler import tick
from certdesk.settings import Settings
from tests.api.conftest import Api
from tests.monitor.conftest import TLSServer, server_context
from tests.notify.smtpd import SmtpServer, smtp
from tests.openssl_pki import _CA, PFX_PASSWORD, OpenSSLPKI, run_openssl
from tests.reports.certs import CertMaker, certs
from tests.reports.world import (
    DAY,
    OPERATOR,
    add_tenant,
    first_of_month,
    install,
    local,
    point_at,
    probe_and_record,
)
from tests.scheduler.conftest import config_for, read_mail
from tests.signing import make_pfx

__all__ = ["certs", "smtp"]

ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

HYPERLINK = '=HYPERLINK("http://evil.example","x")'
CALC = "=cmd|' /C calc'!A0"
_LEAF_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:{host}
"""


def _subject(common_name: str) -> str:
    """``-subj`` for this common name: ``/`` and ``+`` escaped (RDN separators)."""
    return "/CN=" + common_name.replace("/", "\\/").replace("+", "\\+")


def _leaf(
    folder: Path,
    ca: _CA,
    *,
    cn: str,
    host: str,
    issuer_crt: Path,
    issuer_key: Path,
    not_after: datetime,
) -> tuple[Path, Path]:
    key, csr, crt = folder / f"{host}.key", folder / f"{host}.csr", folder / f"{host}.crt"
    run_openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    run_openssl("req", "-new", "-key", key, "-subj", _subject(cn), "-out", csr)
    ca.issue(
        csr=csr,
        out=crt,
        issuer_crt=issuer_crt,
        issuer_key=issuer_key,
        start=not_after - 90 * DAY,
        end=not_after,
        ext=_LEAF_EXT.format(host=host),
    )
    return crt, key


class Hostile:
    def __init__(self, at: datetime, server: TLSServer) -> None:
        self.at = at
        self.server = server


@pytest.fixture
def hostile(api: Api, certs: CertMaker, pki: OpenSSLPKI, tmp_path: Path) -> Iterator[Hostile]:
    desk = api.desk
    at = local(first_of_month(pki), 10)
    add_tenant(desk, "Acme Hosting", ["ops@acme.test"])
    folder = tmp_path / "hostile"
    folder.mkdir()
    # Installed: a certificate whose common name is a formula, from the test intermediate.
    crt, key = _leaf(
        folder,
        _CA(folder / "int-ca"),
        cn=HYPERLINK,
        host="formula-cn.test.com",
        issuer_crt=pki.int_crt,
        issuer_key=pki.int_key,
        not_after=at + DAY,
    )
    pfx = make_pfx(crt, key, folder / "formula-cn.pfx", PFX_PASSWORD, pki.int_crt)
    submitted = at - 50 * DAY
    dataclasses.replace(desk, now=lambda: submitted).run(
        OPERATOR,
        d.submit_pfx,
        tenant="Acme Hosting",
        data=pfx.read_bytes(),
        password=PFX_PASSWORD.encode(),
        common_name=HYPERLINK,
        urls=["https://formula-cn.test.com"],
        portal="bss",
    )
    # Served: a certificate from a CA named by a formula, found by a probe.
    root_key, root_crt = folder / "evil-root.key", folder / "evil-root.crt"
    run_openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", root_key, "-out", root_crt, "-days", "3650", "-subj", _subject(CALC),
        "-addext", "basicConstraints=critical,CA:TRUE",
    )  # fmt: skip
    served_crt, served_key = _leaf(
        folder,
        _CA(folder / "evil-ca"),
        cn="@SUM(1+1)*cmd|' /C calc'!A0",
        host="formula-issuer.test.com",
        issuer_crt=root_crt,
        issuer_key=root_key,
        not_after=at + 2 * DAY,
    )
    install(
        desk, certs, tenant="Acme Hosting", host="formula-issuer.test.com", not_after=at + 40 * DAY
    )
    server = TLSServer(default=server_context(served_crt, served_key, root_crt, folder=folder))
    try:
        point_at(desk, ["formula-issuer.test.com"], server.port)
        [result] = probe_and_record(
            desk, pki, at - timedelta(hours=1), urls=["https://formula-issuer.test.com"]
        )
        assert result.chain  # the handshake happened: what it served is recorded
        yield Hostile(at, server)
    finally:
        server.close()


def _check(rows: list[dict[str, str]]) -> None:
    by_url = {r["url"]: r for r in rows}
    installed = by_url["https://formula-cn.test.com"]
    served = by_url["https://formula-issuer.test.com"]
    assert installed["common_name"] == "'" + HYPERLINK
    assert served["source"] == "served"
    assert served["issuer"] == "'" + CALC
    assert served["common_name"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    for row in rows:
        for column, cell in row.items():
            if column == "days_left":
                int(cell)  # a number, written as a number
                continue
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)


@ON_SQLITE
def test_api_preview_csv_is_neutralised(api: Api, hostile: Hostile) -> None:
    at = hostile.at.strftime("%Y-%m-%dT%H:%M:%SZ")
    answer = api.operator().get("/api/reports/daily", params={"at": at, "format": "csv"})
    assert answer.status_code == 200, answer.text
    rows = list(csv.DictReader(io.StringIO(answer.text, newline="")))
    assert len(rows) == 2
    _check(rows)


@ON_SQLITE
def test_emailed_csv_is_neutralised(
    api: Api, hostile: Hostile, settings: Settings, smtp: SmtpServer
) -> None:
    desk: Desk = api.desk
    tick(desk, config_for(settings), SmtpMailer(smtp.url(auth=False)), now=hostile.at)
    mails = [r for r in smtp.received if r.rcpt_tos == ["ops@acme.test"]]
    daily = [m for m in mails if str(m.message["X-Certdesk-Report"]).startswith("daily")]
    assert len(daily) == 1
    _check(read_mail(daily[0].message).csv_rows)


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("store.test.com", "store.test.com"),
        ("", ""),
        (None, ""),
        (-3, -3),
    ],
)
def test_safe_cell(cell: object, safe: object) -> None:
    assert safe_cell(cell) == safe
