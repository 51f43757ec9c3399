"""The portal's pages over ``create_app`` on a fresh SQLite data folder: logging in and
out, CSRF, the forms and what they show, and tenant isolation (reseller A reaching for
reseller B's objects gets 404 pages and nothing changes)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from certdesk import desk as d
from certdesk.desk import Desk
from certdesk.http.auth import LoginLimiter
from tests.database import unchanged
from tests.flows import order, signed, submit_leaf
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI, run_openssl
from tests.signing import sign_csr, with_chain
from tests.web.conftest import (
    OPERATOR,
    PASSWORD,
    TENANT_A,
    TENANT_B,
    SyncASGI,
    browser_client,
    csrf_of,
)

Login = Callable[[str], tuple[httpx.Client, str]]


def test_pages_need_a_session_and_login_returns_to_the_page(transport: SyncASGI) -> None:
    with browser_client(transport) as client:
        first = client.get("/requests?status=completed", follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == "/login?next=%2Frequests%3Fstatus%3Dcompleted"
        page = client.get(first.headers["location"])
        assert 'name="next" value="/requests?status=completed"' in page.text
        done = client.post(
            "/login",
            data={
                "username": "alice",
                "password": PASSWORD,
                "csrf_token": csrf_of(page.text),
                "next": "/requests?status=completed",
            },
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/requests?status=completed"
        cookie = done.headers["set-cookie"].lower()
        assert "certdesk_session=" in cookie
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "secure" not in cookie  # plain http: a Secure cookie would never come back


def test_login_never_returns_to_another_site(transport: SyncASGI) -> None:
    with browser_client(transport) as client:
        page = client.get("/login?next=//evil.example/")
        assert 'name="next" value="/"' in page.text
        done = client.post(
            "/login",
            data={
                "username": "alice",
                "password": PASSWORD,
                "csrf_token": csrf_of(page.text),
                "next": "https://evil.example/",
            },
            follow_redirects=False,
        )
        assert done.headers["location"] == "/"


def test_session_cookie_is_secure_over_tls(transport: SyncASGI) -> None:
    with browser_client(transport, https=True) as client:
        page = client.get("/login")
        assert "secure" in page.headers["set-cookie"].lower()  # the login form's CSRF cookie
        done = client.post(
            "/login",
            data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
        cookie = done.headers["set-cookie"].lower()
        assert "certdesk_session=" in cookie
        assert "; secure" in cookie


def test_wrong_password_says_nothing_about_which_part(transport: SyncASGI) -> None:
    with browser_client(transport) as client:
        answers = []
        for username in ("alice", "nobody"):
            page = client.get("/login")
            wrong = client.post(
                "/login",
                data={
                    "username": username,
                    "password": "not the password",
                    "csrf_token": csrf_of(page.text),
                },
            )
            assert wrong.status_code == 401
            assert "certdesk_session" not in wrong.headers.get("set-cookie", "")
            main = wrong.text[wrong.text.index("<main") :]
            answers.append(main.replace(username, "USER"))
            assert "login-failed" in main
            assert "the user name or password is wrong" in main
        # Apart from the CSRF token, the answer is the same for a wrong password and no user.
        assert re.sub(r'value="[^"]{20,}"', "", answers[0]) == re.sub(
            r'value="[^"]{20,}"', "", answers[1]
        )


def test_failed_logins_are_rate_limited(transport: SyncASGI, app: FastAPI) -> None:
    app.state.login_limiter = LoginLimiter(limit=2)
    with browser_client(transport) as client:
        for _ in range(2):
            page = client.get("/login")
            client.post(
                "/login",
                data={"username": "bob", "password": "wrong", "csrf_token": csrf_of(page.text)},
            )
        page = client.get("/login")
        limited = client.post(
            "/login",
            data={"username": "bob", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        )
        assert limited.status_code == 429
        assert "rate-limited" in limited.text
        assert "certdesk_session" not in limited.headers.get("set-cookie", "")


def test_login_form_needs_its_csrf_token(transport: SyncASGI) -> None:
    with browser_client(transport) as client:
        client.get("/login")
        forged = client.post(
            "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": "forged"}
        )
        assert forged.status_code == 403
        assert "csrf-failed" in forged.text
        assert "certdesk_session" not in forged.headers.get("set-cookie", "")


def test_logout_needs_the_token_and_ends_the_session(login: Login) -> None:
    client, csrf = login("alice")
    refused = client.post("/logout", follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200
    done = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/login?out=1"
    assert "You are logged out" in client.get("/login?out=1").text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_forms_without_the_csrf_token_are_refused_and_change_nothing(
    login: Login, web_desk: Desk, pki: OpenSSLPKI
) -> None:
    client, csrf = login("alice")
    pfx = {"file": ("x.pfx", pki.modern_pfx.read_bytes(), "application/x-pkcs12")}
    fields = {
        "password": PFX_PASSWORD,
        "common_name": "store.test.com",
        "urls": "https://store.test.com",
    }
    with unchanged(web_desk):
        for token in (None, "", csrf[:-2] + "xx"):
            extra = {} if token is None else {"csrf_token": token}
            upload = client.post("/upload", data={**fields, **extra}, files=pfx)
            assert upload.status_code == 403, upload.text
            assert "csrf-failed" in upload.text
            made = client.post("/csr/new", data={"common_name": "a.test.com", **extra})
            assert made.status_code == 403
    assert client.post("/upload", data={**fields, "csrf_token": csrf}, files=pfx).status_code == 200


def test_security_headers_and_stylesheet(login: Login) -> None:
    client, _ = login("alice")
    page = client.get("/")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    css = client.get("/static/portal.css")
    assert css.status_code == 200
    assert "@media" in css.text


def test_dashboard_colours_domains_by_days_left_and_charts_expiries(
    login: Login, web_desk: Desk, pki: OpenSSLPKI, soon_pfx: Path
) -> None:
    submit_leaf(web_desk, OPERATOR, pki, tenant=TENANT_A)  # 365 days
    web_desk.run(
        OPERATOR,
        d.submit_pfx,
        tenant=TENANT_A,
        data=soon_pfx.read_bytes(),
        password=PFX_PASSWORD.encode(),
        common_name="soon.test.com",
        urls=["https://soon.test.com"],
    )
    client, _ = login("alice")
    page = client.get("/").text
    found = {url: css for css, url in re.findall(r'<tr class="u-(\w+)" data-url="([^"]+)"', page)}
    assert found == {
        "https://soon.test.com": "warning",
        "https://store.test.com": "ok",
        "https://www.test.com/shop": "ok",
    }
    # soon.test.com (about 9–10 days left) is the one bar of the 90-day chart.
    assert "<svg" in page
    assert re.search(r'aria-labelledby="chart-desc"', page)
    assert "1 certificate(s) expire in the coming 90 days" in page
    counts = re.findall(r'<text class="count"[^>]*>(\d+)</text>', page)
    assert counts == ["1"]
    assert re.search(r'<g class="bar warning">\s*<title>[^<]*: 1 certificate', page)


def test_dashboard_pages_and_filters_a_long_list(login: Login, web_desk: Desk) -> None:
    with web_desk.context(OPERATOR) as ctx:
        for n in range(105):
            d.add_domain(ctx, url=f"https://d{n:03}.test.com", tenant=TENANT_A)
    client, _ = login("alice")
    first = client.get("/").text
    assert first.count("data-url=") == 50
    assert "Page 1 of 3" in first
    assert "Domains (105)" in first
    last = client.get("/", params={"page": 3}).text
    assert re.findall(r'data-url="([^"]+)"', last) == [
        f"https://d{n:03}.test.com" for n in range(100, 105)
    ]
    assert 'rel="prev"' in last
    assert 'rel="next"' not in last
    assert client.get("/", params={"show": "none"}).text.count("data-url=") == 50
    ok = client.get("/", params={"show": "ok"}).text
    assert "data-url=" not in ok
    assert "Domains: more than 30 days (0)" in ok


def test_upload_shows_the_wrong_password_next_to_the_field(
    login: Login, web_desk: Desk, pki: OpenSSLPKI
) -> None:
    client, csrf = login("alice")
    with unchanged(web_desk):
        answer = client.post(
            "/upload",
            data={
                "csrf_token": csrf,
                "password": "not it",
                "common_name": "store.test.com",
                "urls": "https://store.test.com",
            },
            files={"file": ("modern.pfx", pki.modern_pfx.read_bytes())},
        )
    assert answer.status_code == 422
    assert re.search(
        r'id="f-password"[^>]*aria-describedby="password-help password-error" aria-invalid="true"',
        answer.text,
    )
    error = answer.text[answer.text.index('id="password-error"') :]
    assert "<code>wrong-password</code>" in error[:500]
    assert "Fix:" in error[:500]
    assert "store.test.com" in answer.text  # the form keeps what was typed
    assert "not it" not in answer.text  # but never the password


def test_upload_shows_url_and_common_name_errors_next_to_their_fields(
    login: Login, web_desk: Desk, pki: OpenSSLPKI
) -> None:
    client, csrf = login("alice")
    for field, common_name, urls in (
        ("urls", "store.test.com", "https://10.0.0.5"),
        ("common_name", " ", "https://store.test.com"),
    ):
        with unchanged(web_desk):
            answer = client.post(
                "/upload",
                data={
                    "csrf_token": csrf,
                    "password": PFX_PASSWORD,
                    "common_name": common_name,
                    "urls": urls,
                },
                files={"file": ("modern.pfx", pki.modern_pfx.read_bytes())},
            )
        assert answer.status_code == 422
        assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true"', answer.text), field
        error = answer.text[answer.text.index(f'id="{field}-error"') :]
        assert "<code>invalid-argument</code>" in error[:500]


def test_a_refused_pfx_shows_every_finding_with_its_fix_and_saves_nothing(
    login: Login, web_desk: Desk, pki: OpenSSLPKI
) -> None:
    client, csrf = login("alice")
    with unchanged(web_desk):
        answer = client.post(
            "/upload",
            data={
                "csrf_token": csrf,
                "password": PFX_PASSWORD,
                "common_name": "shop.test.com",
                "urls": "https://other.test.com\nhttps://shop.test.com",
            },
            files={"file": ("modern.pfx", pki.modern_pfx.read_bytes())},
        )
    assert answer.status_code == 422
    assert 'aria-describedby="file-help file-error findings"' in answer.text
    findings = re.findall(r'<li class="finding (\w+)">(.*?)</li>', answer.text, re.S)
    hosts = set(re.findall(r'class="host">([^<]+)<', answer.text))
    assert {"other.test.com", "shop.test.com"} <= hosts
    assert all("Fix:" in body for _, body in findings)
    assert any(sev == "error" for sev, _ in findings)


def test_a_good_pfx_is_installed_and_listed(login: Login, web_desk: Desk, pki: OpenSSLPKI) -> None:
    client, csrf = login("alice")
    answer = client.post(
        "/upload",
        data={
            "csrf_token": csrf,
            "password": PFX_PASSWORD,
            "common_name": "store.test.com",
            "urls": "https://store.test.com\nhttps://www.test.com",
            "portal": "storefront",
        },
        files={"file": ("modern.pfx", pki.modern_pfx.read_bytes())},
    )
    assert answer.status_code == 200
    assert "Certificate accepted" in answer.text
    assert "+00:00" not in answer.text  # the expiry as the other pages write it
    assert re.search(r"<dt>Expires</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d UTC</dd>", answer.text)
    views = web_desk.run(OPERATOR, d.list_domains, tenant=TENANT_A)
    assert {v.url for v in views} == {"https://store.test.com", "https://www.test.com"}
    assert {v.portal for v in views} == {"storefront"}
    domain = client.get("/domain", params={"url": "https://store.test.com"})
    assert domain.status_code == 200
    assert str(views[0].certificate_sha256) in domain.text
    assert re.search(r"· expires in \d+ days</p>", domain.text), domain.text
    requests = client.get("/requests").text
    assert "install store.test.com on" in requests
    assert "completed" in requests


def test_csr_order_download_signed_certificate_and_export(
    login: Login, web_desk: Desk, pki: OpenSSLPKI, tmp_path: Path
) -> None:
    client, csrf = login("alice")
    made = client.post(
        "/csr/new",
        data={
            "csrf_token": csrf,
            "common_name": "shop.test.com",
            "organization": "Test Inc.",
            "country": "GR",
            "sans": "www.shop.test.com",
            "urls": "https://shop.test.com",
            "key": "p256",
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    page = client.get(made.headers["location"])
    assert "Download the .csr" in page.text
    order_id = int(made.headers["location"].rsplit("/", 1)[1])
    download = client.get(f"/orders/{order_id}/csr")
    assert download.headers["content-disposition"] == 'attachment; filename="shop.test.com.csr"'
    csr = tmp_path / "shop.csr"
    csr.write_bytes(download.content)
    subject = run_openssl("req", "-in", csr, "-noout", "-subject").decode()
    assert "CN = shop.test.com" in subject
    assert "O = Test Inc." in subject

    leaf = sign_csr(pki, csr, tmp_path / "shop.crt", ["shop.test.com", "www.shop.test.com"])
    crt = with_chain(pki, leaf, tmp_path / "shop-chain.pem")
    back = client.post(
        "/signed", data={"csrf_token": csrf}, files={"file": ("shop.crt", crt.read_bytes())}
    )
    assert back.status_code == 200, back.text
    assert "Signed certificate accepted" in back.text
    assert 'data-url="https://shop.test.com"' in client.get("/").text
    assert 'class="u-ok" data-url="https://shop.test.com"' in client.get("/").text

    again = client.post(
        "/signed", data={"csrf_token": csrf}, files={"file": ("shop.crt", crt.read_bytes())}
    )
    assert again.status_code == 422
    assert "<code>duplicate</code>" in again.text

    pfx = client.post(
        "/export",
        data={"csrf_token": csrf, "url": "https://shop.test.com", "to": "pfx", "password": "pw-1"},
    )
    assert pfx.status_code == 200
    assert pfx.headers["content-type"] == "application/x-pkcs12"
    assert pfx.headers["cache-control"] == "no-store"
    out = tmp_path / "shop.pfx"
    out.write_bytes(pfx.content)
    listed = run_openssl("pkcs12", "-in", out, "-passin", "pass:pw-1", "-nokeys").decode()
    assert "CN = shop.test.com" in listed or "CN=shop.test.com" in listed
    form = {"csrf_token": csrf, "url": "https://shop.test.com", "to": "pem"}
    pem = client.post("/export", data=form)
    assert pem.content.startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE KEY" not in pem.content  # the key only when asked for
    unprotected = client.post("/export", data={**form, "with_key": "true"})
    assert unprotected.status_code == 422
    assert "needs a password to encrypt the key" in unprotected.text
    encrypted = client.post("/export", data={**form, "with_key": "true", "password": "pw-1"})
    assert encrypted.content.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    clear = client.post("/export", data={**form, "with_key": "true", "clear_key": "true"})
    assert clear.content.startswith(b"-----BEGIN PRIVATE KEY-----")
    no_password = client.post("/export", data={**form, "to": "pfx"})
    assert no_password.status_code == 422
    assert "a .pfx export needs a password" in no_password.text


def test_csr_form_puts_each_problem_next_to_its_field(login: Login, web_desk: Desk) -> None:
    client, csrf = login("alice")
    with unchanged(web_desk):
        answer = client.post(
            "/csr/new",
            data={"csrf_token": csrf, "common_name": "", "country": "Greece", "key": "p256"},
        )
    assert answer.status_code == 422
    for name in ("common_name", "country"):
        assert re.search(rf'id="f-{name}"[^>]*aria-invalid="true"', answer.text), name
        assert f'id="{name}-error"' in answer.text
    with unchanged(web_desk):
        uncovered = client.post(
            "/csr/new",
            data={"csrf_token": csrf, "common_name": "a.test.com", "urls": "https://b.test.com"},
        )
    assert uncovered.status_code == 422
    assert 'id="urls-error"' in uncovered.text
    assert "https://b.test.com" in uncovered.text


# --- tenant isolation ------------------------------------------------------------------------


@pytest.fixture
def b_objects(web_desk: Desk, pki: OpenSSLPKI, tmp_path: Path) -> dict[str, object]:
    """Reseller B's installed certificate, a waiting CSR order, and the signed certificate
    for it (not yet sent back)."""
    submitted = submit_leaf(web_desk, OPERATOR, pki, tenant=TENANT_B)
    waiting = order(
        web_desk, OPERATOR, tenant=TENANT_B, cn="beta.test.com", urls=["https://beta.test.com"]
    )
    crt = signed(pki, waiting, tmp_path)
    return {"request": submitted.request_id, "order": waiting.id, "crt": crt}


def test_reseller_a_gets_404_for_every_object_of_reseller_b(
    login: Login, web_desk: Desk, b_objects: dict[str, object], pki: OpenSSLPKI
) -> None:
    client, csrf = login("alice")
    b_order, b_request = b_objects["order"], b_objects["request"]
    url = "https://store.test.com"
    with unchanged(web_desk):
        for path in (
            f"/orders/{b_order}",
            f"/orders/{b_order}/csr",
            f"/requests/{b_request}",
            f"/domain?url={url}",
            "/domain?url=https://www.test.com/shop",
        ):
            answer = client.get(path)
            assert answer.status_code == 404, path
            assert "<code>not-found</code>" in answer.text, path
            assert "BEGIN CERTIFICATE REQUEST" not in answer.text
        for path, data in (
            (f"/orders/{b_order}/cancel", {}),
            ("/export", {"url": url, "to": "pfx", "password": "x"}),
            ("/export", {"url": url, "to": "pem"}),
            ("/renew", {"url": url}),
            ("/csr/new", {"common_name": "x.test.com", "tenant": TENANT_B}),
        ):
            answer = client.post(path, data={"csrf_token": csrf, **data})
            assert answer.status_code == 404, path
            assert "PRIVATE KEY" not in answer.text
        upload = client.post(
            "/upload",
            data={
                "csrf_token": csrf,
                "tenant": TENANT_B,
                "password": PFX_PASSWORD,
                "common_name": "store.test.com",
                "urls": "https://new.test.com",
            },
            files={"file": ("modern.pfx", pki.modern_pfx.read_bytes())},
        )
        assert upload.status_code == 404
        # B's signed certificate matches no order A can see: refused, B's order untouched.
        crt = b_objects["crt"]
        assert isinstance(crt, Path)
        sent = client.post(
            "/signed", data={"csrf_token": csrf}, files={"file": ("b.crt", crt.read_bytes())}
        )
        assert sent.status_code == 422
        assert "no-matching-order" in sent.text
        # B's objects appear in none of A's lists.
        for path in ("/", "/domains", "/requests", "/orders", "/signed", "/export", "/tenants"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert "store.test.com" not in page.text, path
            assert "beta.test.com" not in page.text, path
            assert TENANT_B not in page.text, path
        for path in ("/reports", "/reports/daily", "/reports/monthly"):
            assert TENANT_B not in client.get(path).text, path
        assert client.get("/reports/daily", params={"tenant": TENANT_B}).status_code == 404


def test_reseller_b_still_has_its_objects(login: Login, b_objects: dict[str, object]) -> None:
    client, _ = login("bob")
    assert client.get(f"/orders/{b_objects['order']}").status_code == 200
    assert client.get(f"/orders/{b_objects['order']}/csr").status_code == 200
    assert client.get(f"/requests/{b_objects['request']}").status_code == 200
    assert client.get("/domain?url=https://store.test.com").status_code == 200


# --- operators ---------------------------------------------------------------------------------


def test_operator_views(login: Login, web_desk: Desk, pki: OpenSSLPKI) -> None:
    submit_leaf(web_desk, OPERATOR, pki, tenant=TENANT_B)
    order(web_desk, OPERATOR, tenant=TENANT_A, cn="alpha.test.com")
    client, _ = login("admin")
    tenants = client.get("/tenants").text
    assert TENANT_A in tenants
    assert TENANT_B in tenants
    queue = client.get("/requests").text
    assert "Request queue" in queue
    assert TENANT_A in queue
    assert TENANT_B in queue
    waiting = client.get("/requests", params={"status": "processing"}).text
    assert "CSR for alpha.test.com" in waiting
    assert "install store.test.com" not in waiting
    served = client.get("/domains").text
    assert "https://store.test.com" in served
    assert "never probed" in served
    assert "installed" in served
    assert "No report has been delivered yet" in client.get("/reports").text
    daily = client.get("/reports/daily")
    assert daily.status_code == 200
    assert "Daily SSL expiration report for the platform" in daily.text
    monthly = client.get("/reports/monthly", params={"tenant": TENANT_B})
    assert f"Monthly SSL expiration report for {TENANT_B}" in monthly.text
    assert 'href="/tenants"' in client.get("/").text


def test_resellers_do_not_see_the_operator_navigation(login: Login) -> None:
    client, _ = login("alice")
    page = client.get("/").text
    assert 'href="/tenants"' not in page
    assert 'href="/reports"' not in page


def test_unknown_pages_answer_an_html_404_and_the_api_keeps_json(login: Login) -> None:
    client, _ = login("alice")
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    api = client.get("/api/no-such-route")
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/json")
    assert client.get("/orders/99999").status_code == 404
