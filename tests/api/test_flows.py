"""Every desk flow over the JSON API, as a reseller (session cookie + CSRF) and as an
operator: tenants, domains, .pfx submission, CSR orders and their return, renewal,
export, report previews, probes, requests and the audit log."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from certdesk.application.compose import probe_config
from certdesk.application.on_demand import Runner, run_one
from tests.api.conftest import Api, error_code
from tests.database import unchanged
from tests.openssl_pki import (
    PFX_PASSWORD,
    OpenSSLPKI,
    openssl_date,
    openssl_fingerprint,
    openssl_x509,
    run_openssl,
)
from tests.signing import make_pfx, pkcs8_der, sign_csr, with_chain

TENANT = "Acme Hosting"
URLS = ["https://store.test.com", "https://www.test.com/shop"]


@pytest.fixture
def reseller(api: Api) -> httpx.Client:
    """A reseller of ``Acme Hosting``, logged in (session cookie, CSRF header set)."""
    operator = api.operator()
    made = operator.post("/api/tenants", json={"name": TENANT, "emails": ["ops@acme.gr"]})
    assert made.status_code == 201, made.text
    assert made.json() == {
        "id": made.json()["id"],
        "name": TENANT,
        "emails": ["ops@acme.gr"],
        "domains": 0,
    }
    password = api.user("acme", tenant=TENANT)
    return api.session("acme", password)


def submit(
    client: httpx.Client,
    pfx: Path,
    password: str | None = PFX_PASSWORD,
    urls: list[str] = URLS,
    common_name: str = "store.test.com",
) -> httpx.Response:
    form: dict[str, Any] = {"common_name": common_name, "tenant": TENANT, "urls": urls}
    if password is not None:
        form["password"] = password
    return client.post(
        "/api/submissions",
        data=form,
        files={"file": (pfx.name, pfx.read_bytes(), "application/x-pkcs12")},
    )


def upload_signed(client: httpx.Client, crt: Path) -> httpx.Response:
    return client.post(
        "/api/csr/complete", files={"file": (crt.name, crt.read_bytes(), "application/x-pem-file")}
    )


def domains_by_url(client: httpx.Client) -> dict[str, dict[str, Any]]:
    answer = client.get("/api/domains")
    assert answer.status_code == 200
    return {d["url"]: d for d in answer.json()}


# --- tenants and domains ----------------------------------------------------------------


def test_tenants_and_domains(api: Api, reseller: httpx.Client) -> None:
    operator = api.operator()
    added = reseller.post(
        "/api/domains", json={"url": "Shop.Acme.gr/", "tenant": TENANT, "portal": "storefront"}
    )
    assert added.status_code == 201, added.text
    view = added.json()
    assert (view["url"], view["hostname"], view["port"], view["tenant"]) == (
        "https://shop.acme.gr",
        "shop.acme.gr",
        443,
        TENANT,
    )
    assert (view["portal"], view["monitored"], view["certificate_sha256"]) == (
        "storefront",
        True,
        None,
    )
    again = reseller.post("/api/domains", json={"url": "https://shop.acme.gr", "tenant": TENANT})
    assert again.status_code == 409
    assert error_code(again) == "conflict"
    # connect-to makes certdesk open connections: operators only.
    refused = reseller.patch(
        "/api/domains", json={"url": "https://shop.acme.gr", "connect_to": "10.0.0.5:443"}
    )
    assert refused.status_code == 403
    changed = operator.patch(
        "/api/domains",
        json={"url": "https://shop.acme.gr", "connect_to": "10.0.0.5:443", "monitored": False},
    )
    assert changed.status_code == 200
    assert (changed.json()["connect_to"], changed.json()["monitored"]) == ("10.0.0.5:443", False)
    assert reseller.get("/api/domains", params={"tenant": TENANT}).json() == [changed.json()]
    assert reseller.get("/api/tenants").json() == [
        {
            "id": reseller.get("/api/tenants").json()[0]["id"],
            "name": TENANT,
            "emails": ["ops@acme.gr"],
            "domains": 1,
        }
    ]
    # A reseller changes its tenant's e-mails but not its name.
    emails = reseller.patch(f"/api/tenants/{TENANT}", json={"emails": ["certs@acme.gr"]})
    assert emails.status_code == 200
    assert emails.json()["emails"] == ["certs@acme.gr"]
    rename = reseller.patch(f"/api/tenants/{TENANT}", json={"new_name": "Acme 2"})
    assert rename.status_code == 403
    removed = reseller.delete("/api/domains", params={"url": "https://shop.acme.gr"})
    assert removed.status_code == 200
    assert reseller.get("/api/domains").json() == []
    gone = reseller.delete("/api/domains", params={"url": "https://shop.acme.gr"})
    assert gone.status_code == 404
    assert error_code(gone) == "not-found"
    actions = [e["action"] for e in reseller.get("/api/audit").json()]
    assert actions[:5] == [
        "domain.remove",
        "tenant.change",
        "domain.change",
        "domain.add",
        "user.login",
    ]


def test_domain_listing_pages_follow_the_link_header(api: Api, reseller: httpx.Client) -> None:
    urls = [f"https://d{n}.acme.gr" for n in range(7)]
    for url in reversed(urls):
        assert reseller.post("/api/domains", json={"url": url, "tenant": TENANT}).status_code == 201
    first = reseller.get("/api/domains")  # the default page holds them all
    assert [v["url"] for v in first.json()] == urls
    assert first.headers["x-total-count"] == "7"
    assert "link" not in first.headers
    seen: list[str] = []
    page = reseller.get("/api/domains", params={"limit": 3})
    pages = 0
    while True:
        pages += 1
        assert page.status_code == 200
        assert page.headers["x-total-count"] == "7"
        seen += [v["url"] for v in page.json()]
        links = {
            part.split(";")[1].strip(): part.split(";")[0].strip(" <>")
            for part in page.headers.get("link", "").split(",")
            if part
        }
        if pages > 1:
            assert 'rel="prev"' in links
        if 'rel="next"' not in links:
            break
        page = reseller.get(links['rel="next"'])
    assert (seen, pages) == (urls, 3)
    assert all(link.startswith("/api/domains?") for link in links.values())
    back = reseller.get(links['rel="prev"'])
    assert [v["url"] for v in back.json()] == urls[3:6]
    # Asked for a page past the end: nothing, and the previous page is the last one.
    beyond = reseller.get("/api/domains", params={"limit": 3, "offset": 30})
    assert beyond.json() == []
    assert beyond.headers["link"] == '</api/domains?offset=6&limit=3>; rel="prev"'

    # Another tenant's domains are neither listed nor counted for the reseller.
    operator = api.operator()
    assert operator.post("/api/tenants", json={"name": "Other"}).status_code == 201
    added = operator.post("/api/domains", json={"url": "https://zz.other.gr", "tenant": "Other"})
    assert added.status_code == 201
    assert reseller.get("/api/domains").headers["x-total-count"] == "7"
    everything = operator.get("/api/domains", params={"limit": 2, "offset": 6})
    assert everything.headers["x-total-count"] == "8"
    assert [v["url"] for v in everything.json()] == [urls[6], "https://zz.other.gr"]


# --- .pfx submission ----------------------------------------------------------------------


def test_pfx_wrong_password_is_400_and_stores_nothing(api: Api, reseller: httpx.Client) -> None:
    with unchanged(api.desk):
        for password in ("not-the-password", None):
            answer = submit(reseller, api.pki.modern_pfx, password)
            assert answer.status_code == 400, answer.text
            assert error_code(answer) == "wrong-password"
            assert answer.json()["error"]["hint"]
            assert answer.json()["error"]["field"] == "password"
        not_pfx = submit(reseller, api.pki.leaf_crt)
        assert not_pfx.status_code == 400
        assert error_code(not_pfx) == "unsupported-format"
        assert not_pfx.json()["error"]["field"] == "file"


def test_an_error_names_the_input_it_is_about(api: Api, reseller: httpx.Client) -> None:
    with unchanged(api.desk):
        ip = submit(reseller, api.pki.modern_pfx, urls=["https://10.0.0.5"])
        assert (ip.status_code, error_code(ip)) == (400, "invalid-argument")
        assert ip.json()["error"]["field"] == "urls"
        no_cn = submit(reseller, api.pki.modern_pfx, common_name=" ")
        assert (no_cn.status_code, error_code(no_cn)) == (400, "invalid-argument")
        assert no_cn.json()["error"]["field"] == "common_name"
    # An error about no one input names none.
    missing = reseller.get("/api/requests/999999")
    assert missing.status_code == 404
    assert "field" not in missing.json()["error"]


def test_pfx_submission_stores_and_binds(api: Api, reseller: httpx.Client) -> None:
    answer = submit(reseller, api.pki.modern_pfx)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    sha = openssl_fingerprint(api.pki.leaf_crt)
    assert body["sha256"] == sha
    assert body["urls"] == URLS
    assert not [f for f in body["findings"] if f["severity"] == "error"]
    not_after = openssl_date(openssl_x509(api.pki.leaf_crt, "-enddate"))
    assert body["not_after"] == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")  # UTC, with a Z
    seen = domains_by_url(reseller)
    assert sorted(seen) == URLS
    for view in seen.values():
        assert view["certificate_sha256"] == sha
        assert view["not_after"] == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    again = submit(reseller, api.pki.modern_pfx)
    assert again.status_code == 409
    assert error_code(again) == "duplicate"
    # The request that tracks it, and the audit log.
    requests = reseller.get("/api/requests").json()
    assert [(r["id"], r["kind"], r["status"]) for r in requests] == [
        (body["request_id"], "submit", "completed")
    ]
    one = reseller.get(f"/api/requests/{body['request_id']}")
    assert one.status_code == 200
    assert [step[1] for step in one.json()["timeline"]][-1] == "completed"
    # A status that does not exist is refused, naming the ones that do.
    unknown = reseller.get("/api/requests", params={"status": "open"})
    assert unknown.status_code == 400
    assert error_code(unknown) == "invalid-argument"
    assert "'processing'" in unknown.json()["error"]["message"]
    audit = reseller.get("/api/audit", params={"tenant": TENANT, "limit": 3}).json()
    assert audit[0]["action"] == "certificate.submit"
    assert audit[0]["object_id"] == sha
    assert audit[0]["tenant"] == TENANT


def test_refused_certificate_is_422_with_every_finding(
    api: Api, reseller: httpx.Client, tmp_path: Path
) -> None:
    pki = api.pki
    pfx = make_pfx(
        pki.expired_crt, pki.expired_key, tmp_path / "expired.pfx", "pw-123", pki.int_crt
    )
    api.secrets.add("pw-123")
    with unchanged(api.desk):
        answer = submit(reseller, pfx, "pw-123", urls=["https://store.test.com"])
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "refused"
    codes = {f["code"] for f in error["findings"] if f["severity"] == "error"}
    assert {"expired", "name-mismatch", "common-name-mismatch"} <= codes
    for finding in error["findings"]:
        assert finding["message"]
        assert finding["fix"]


# --- CSR orders, the signed certificate, renewal ---------------------------------------


def _order(client: httpx.Client, cn: str = "shop.example.org", **extra: Any) -> dict[str, Any]:
    answer = client.post(
        "/api/csr",
        json={
            "tenant": TENANT,
            "common_name": cn,
            "organization": "Acme Hosting S.A.",
            "country": "GR",
            "urls": [f"https://{cn}"],
            "key": "p256",
            **extra,
        },
    )
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _download_and_sign(
    client: httpx.Client, pki: OpenSSLPKI, order_id: int, folder: Path, sans: list[str]
) -> Path:
    download = client.get(f"/api/csr/{order_id}/csr")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/pkcs10")
    assert download.headers["content-disposition"].startswith("attachment; filename=")
    csr = folder / f"{order_id}.csr"
    csr.write_bytes(download.content)
    # openssl reads the .csr, checks its self-signature and prints its subject.
    subject = run_openssl("req", "-in", csr, "-noout", "-verify", "-subject").decode()
    assert f"CN = {sans[0]}" in subject or f"CN={sans[0]}" in subject
    signed = sign_csr(pki, csr, folder / f"{order_id}.crt", sans)
    # As a CA hands it back: the leaf and the intermediate.
    return with_chain(pki, signed, folder / f"{order_id}-fullchain.pem")


def test_csr_order_download_sign_upload(api: Api, reseller: httpx.Client, tmp_path: Path) -> None:
    order = _order(reseller)
    assert (order["status"], order["tenant"], order["key_kind"]) == ("pending", TENANT, "p256")
    assert order["csr_pem"].startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert reseller.get(f"/api/csr/{order['id']}").json() == order
    assert [o["id"] for o in reseller.get("/api/csr", params={"status": "pending"}).json()] == [
        order["id"]
    ]
    crt = _download_and_sign(reseller, api.pki, order["id"], tmp_path, ["shop.example.org"])
    sha = openssl_fingerprint(crt)
    done = upload_signed(reseller, crt)
    assert done.status_code == 200, done.text
    assert (done.json()["sha256"], done.json()["order_id"], done.json()["urls"]) == (
        sha,
        order["id"],
        ["https://shop.example.org"],
    )
    assert domains_by_url(reseller)["https://shop.example.org"]["certificate_sha256"] == sha
    fulfilled = reseller.get(f"/api/csr/{order['id']}").json()
    assert (fulfilled["status"], fulfilled["certificate"]) == ("fulfilled", sha)
    twice = upload_signed(reseller, crt)
    assert twice.status_code == 409
    assert error_code(twice) == "duplicate"
    cancel_done = reseller.post(f"/api/csr/{order['id']}/cancel")
    assert cancel_done.status_code == 409
    # DER works as well as PEM; a cancelled order takes nothing.
    other = _order(reseller, "cart.example.org")
    other_crt = _download_and_sign(reseller, api.pki, other["id"], tmp_path, ["cart.example.org"])
    cancelled = reseller.post(f"/api/csr/{other['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    with unchanged(api.desk):
        late = upload_signed(reseller, other_crt)
        assert late.status_code == 409
        assert error_code(late) == "conflict"
        # A certificate no order of this tenant waits for is refused with the finding.
        stranger = upload_signed(reseller, api.pki.leaf_crt)
        assert stranger.status_code == 422
        assert [f["code"] for f in stranger.json()["error"]["findings"]] == ["no-matching-order"]
        with_key = reseller.post(
            "/api/csr/complete", files={"file": ("x.pfx", api.pki.modern_pfx.read_bytes())}
        )
        assert with_key.status_code == 400
    requests = reseller.get("/api/requests").json()
    assert [(r["kind"], r["status"]) for r in requests] == [
        ("csr", "rejected"),
        ("csr", "completed"),
    ]


def test_renewal_replaces_the_certificate(api: Api, reseller: httpx.Client, tmp_path: Path) -> None:
    assert submit(reseller, api.pki.modern_pfx).status_code == 201
    old = openssl_fingerprint(api.pki.leaf_crt)
    answer = reseller.post("/api/renewals", json={"url": "https://store.test.com", "key": "p256"})
    assert answer.status_code == 201, answer.text
    renewal = answer.json()
    assert renewal["renewal_of"] == old
    assert sorted(renewal["sans"]) == ["store.test.com", "www.test.com"]
    assert sorted(renewal["urls"]) == URLS
    crt = _download_and_sign(
        reseller, api.pki, renewal["id"], tmp_path, ["store.test.com", "www.test.com"]
    )
    done = upload_signed(reseller, crt)
    assert done.status_code == 200, done.text
    assert done.json()["replaced"] == [old]
    new = openssl_fingerprint(crt)
    assert {d["certificate_sha256"] for d in domains_by_url(reseller).values()} == {new}
    nothing = reseller.post("/api/renewals", json={"url": "https://nothing.test.com"})
    assert nothing.status_code == 404


# --- export -----------------------------------------------------------------------------


def test_export_pfx_and_pem_read_by_openssl(
    api: Api, reseller: httpx.Client, tmp_path: Path
) -> None:
    assert submit(reseller, api.pki.modern_pfx).status_code == 201
    secret = "export-password-7"
    api.secrets.add(secret)
    answer = reseller.post(
        "/api/exports", json={"url": "https://www.test.com/shop", "to": "pfx", "password": secret}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/x-pkcs12"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-disposition"] == 'attachment; filename="www.test.com.pfx"'
    pfx = tmp_path / "export.pfx"
    pfx.write_bytes(answer.content)
    certs = run_openssl("pkcs12", "-in", pfx, "-nokeys", "-passin", f"pass:{secret}")
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(certs.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n")
    leaf.write_bytes(run_openssl("x509", stdin=certs))
    assert openssl_fingerprint(leaf) == openssl_fingerprint(api.pki.leaf_crt)
    keys = run_openssl("pkcs12", "-in", pfx, "-nocerts", "-nodes", "-passin", f"pass:{secret}")
    key = tmp_path / "key.pem"
    key.write_bytes(run_openssl("pkey", stdin=keys))
    assert pkcs8_der(key) == pkcs8_der(api.pki.leaf_key)

    bare = reseller.post("/api/exports", json={"url": "https://store.test.com", "to": "pem"})
    assert bare.status_code == 200
    assert b"PRIVATE KEY" not in bare.content  # the key only when asked for
    assert bare.content.startswith(b"-----BEGIN CERTIFICATE-----")
    in_clear = reseller.post(
        "/api/exports", json={"url": "https://store.test.com", "to": "pem", "include_key": True}
    )
    assert in_clear.status_code == 400
    assert "password" in in_clear.json()["error"]["message"]
    pem = reseller.post(
        "/api/exports",
        json={
            "url": "https://store.test.com",
            "to": "pem",
            "password": secret,
            "include_key": True,
        },
    )
    assert pem.status_code == 200
    assert pem.content.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    encrypted = tmp_path / "exported.pem"
    encrypted.write_bytes(pem.content)
    opened = run_openssl("pkey", "-in", encrypted, "-passin", f"pass:{secret}")
    key.write_bytes(opened)
    assert pkcs8_der(key) == pkcs8_der(api.pki.leaf_key)
    audit = [e for e in reseller.get("/api/audit").json() if e["action"] == "certificate.export"]
    assert [
        (e["detail"]["to"], e["detail"]["with_key"], e["detail"]["clear_key"]) for e in audit
    ] == [
        ("pem", True, False),
        ("pem", False, False),
        ("pfx", True, False),
    ]
    assert secret not in json.dumps(audit)
    missing = reseller.post(
        "/api/exports", json={"url": "https://none.test.com", "to": "pfx", "password": secret}
    )
    assert missing.status_code == 404


def test_the_response_scan_catches_a_key(api: Api, reseller: httpx.Client) -> None:
    """The scan every test ends with finds a key in a body (here: an export, the one
    response that is meant to carry it and is otherwise left out)."""
    assert submit(reseller, api.pki.modern_pfx).status_code == 201
    pem = reseller.post(
        "/api/exports",
        json={"url": URLS[0], "to": "pem", "include_key": True, "clear_key": True},
    )
    assert pem.status_code == 200
    assert pem.content.startswith(b"-----BEGIN PRIVATE KEY-----")
    audit = reseller.get("/api/audit").json()[0]
    assert (audit["action"], audit["detail"]["clear_key"]) == ("certificate.export", True)
    assert api.scan() > 0
    with pytest.raises(AssertionError, match="/api/exports leaks"):
        api.scan(exports=True)


# --- reports, probes -----------------------------------------------------------------------


def test_report_previews_json_and_csv(api: Api, reseller: httpx.Client) -> None:
    assert submit(reseller, api.pki.modern_pfx).status_code == 201
    not_after = openssl_date(openssl_x509(api.pki.leaf_crt, "-enddate"))
    at = (not_after - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    as_json = reseller.get("/api/reports/daily", params={"at": at})
    assert as_json.status_code == 200
    assert as_json.headers["content-type"] == "application/json; charset=utf-8"
    text = json.dumps(as_json.json())
    for url in URLS:
        assert url in text
    as_csv = reseller.get("/api/reports/daily", params={"at": at, "format": "csv"})
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert len(rows) >= 3
    assert {u for u in URLS if any(u in cell for row in rows[1:] for cell in row)} == set(URLS)
    # Far from expiry the daily report is empty; the monthly one sees it 30-60 days ahead.
    early = (not_after - timedelta(days=45)).strftime("%Y-%m-%dT%H:%M:%SZ")
    monthly = reseller.get("/api/reports/monthly", params={"at": early}).text
    assert URLS[0] in monthly
    assert URLS[0] not in reseller.get("/api/reports/daily", params={"at": early}).text
    # The operator previews it for the tenant or for the platform.
    operator = api.operator()
    for params in ({"at": at, "tenant": TENANT}, {"at": at}):
        assert URLS[0] in operator.get("/api/reports/daily", params=params).text
    assert reseller.get("/api/report-deliveries").json() == []


def test_probes_are_recorded_and_listed(api: Api, reseller: httpx.Client) -> None:
    # A port nothing listens on, reached through the operator's connect-to address.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = dataclasses.replace(api.settings, probe_allow_private=True, probe_timeout=3.0)
    api.app.state.settings = settings
    operator = api.operator()
    added = operator.post(
        "/api/domains",
        json={"url": "https://probe.acme.gr", "tenant": TENANT, "connect_to": f"127.0.0.1:{port}"},
    )
    assert added.status_code == 201, added.text
    probed = reseller.post("/api/probes", json={"urls": ["https://probe.acme.gr"]})
    assert probed.status_code == 202, probed.text
    asked = probed.json()
    assert (asked["status"], asked["urls"]) == ("queued", ["https://probe.acme.gr"])
    # The server's on-demand worker runs it (here one turn of it, in this thread).
    runner = Runner(api.desk, lambda: probe_config(settings), lambda: api.app.state.installer)
    assert run_one(api.desk, runner, worker="test", concurrency=5)
    done = reseller.get(f"/api/probe-requests/{asked['id']}").json()
    assert (done["status"], done["targets"], done["ok"]) == ("done", 1, 0)
    [result] = done["results"]
    assert (result["url"], result["ok"], result["sha256"]) == ("https://probe.acme.gr", False, None)
    history = reseller.get("/api/probes", params={"url": "https://probe.acme.gr"})
    assert history.status_code == 200
    assert [(p["url"], p["ok"]) for p in history.json()] == [("https://probe.acme.gr", False)]
    metrics = operator.get("/metrics").text
    assert 'certdesk_probe_success{url="https://probe.acme.gr",tenant="Acme Hosting"} 0' in metrics
