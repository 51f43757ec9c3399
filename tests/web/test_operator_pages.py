"""Operators run the platform from the portal: add a tenant, rename it and set its report
e-mails, add accounts (operator, or reseller of a tenant) whose first password certdesk
makes and shows once. Refusals stand beside their field and change nothing; a reseller
sees only its own tenant (and may set its report e-mails), never another's, and cannot
add anything."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from certdesk import desk
from certdesk.desk import Desk, accounts
from tests.database import unchanged
from tests.web.conftest import OPERATOR, TENANT_A, TENANT_B, SyncASGI, csrf_of, shown_password

Login = Callable[[str], tuple[httpx.Client, str]]


def _tenant(web_desk: Desk, name: str) -> desk.TenantView | None:
    return next((t for t in web_desk.run(OPERATOR, desk.list_tenants) if t.name == name), None)


def _error_beside(html: str, field: str) -> str:
    """The error block of one field (``{field}-error``), tied to its input."""
    start = html.index(f'id="{field}-error"')
    assert f'aria-describedby="{field}-help {field}-error" aria-invalid="true"' in html or (
        f'aria-describedby="{field}-error" aria-invalid="true"' in html
    )
    return html[start : html.index("</div>", start)]


def test_an_operator_adds_renames_and_sets_the_emails_of_a_tenant(
    login: Login, web_desk: Desk
) -> None:
    admin, csrf = login("admin")
    page = admin.get("/tenants")
    assert 'action="/tenants"' in page.text
    added = admin.post(
        "/tenants",
        data={"csrf_token": csrf, "name": "  Gamma Hosting ", "emails": "ops@gamma.test\n"},
        follow_redirects=True,
    )
    assert added.status_code == 200, added.text
    assert "Tenant Gamma Hosting added." in added.text
    assert 'href="/tenant?name=Gamma%20Hosting"' in added.text
    assert "added." not in admin.get("/tenants", params={"added": "Evil Corp"}).text
    made = _tenant(web_desk, "Gamma Hosting")
    assert made is not None
    assert made.emails == ("ops@gamma.test",)

    form = admin.get("/tenant", params={"name": "Gamma Hosting"})
    assert form.status_code == 200
    assert 'name="new_name"' in form.text
    assert "ops@gamma.test" in form.text
    saved = admin.post(
        "/tenant",
        data={
            "csrf_token": csrf,
            "name": "Gamma Hosting",
            "new_name": "Gamma Web",
            "emails": "billing@gamma.test, ops@gamma.test",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/tenant?name=Gamma%20Web&done=saved"
    assert _tenant(web_desk, "Gamma Hosting") is None
    renamed = _tenant(web_desk, "Gamma Web")
    assert renamed is not None
    assert renamed.id == made.id
    assert renamed.emails == ("billing@gamma.test", "ops@gamma.test")
    assert "Saved." in admin.get(saved.headers["location"]).text


def test_refused_tenant_input_stands_beside_its_field_and_changes_nothing(
    login: Login, web_desk: Desk
) -> None:
    admin, csrf = login("admin")
    with unchanged(web_desk):
        taken = admin.post("/tenants", data={"csrf_token": csrf, "name": TENANT_B, "emails": ""})
        assert taken.status_code == 409
        assert "exists already" in _error_beside(taken.text, "name")
        bad_mail = admin.post(
            "/tenants",
            data={"csrf_token": csrf, "name": "Delta", "emails": "Ops <ops@delta.test>"},
        )
        assert bad_mail.status_code == 400
        assert "not usable as a contact e-mail address" in _error_beside(bad_mail.text, "emails")
        assert 'value="Delta"' in bad_mail.text  # what was typed stays
        line_break = admin.post(
            "/tenant",
            data={"csrf_token": csrf, "name": TENANT_A, "new_name": "A\u2028B", "emails": ""},
        )
        assert line_break.status_code == 400
        assert "not usable as a tenant name" in _error_beside(line_break.text, "new_name")
        missing = admin.get("/tenant", params={"name": "Nobody Here"})
        assert missing.status_code == 404


def test_a_reseller_sees_only_its_tenant_and_adds_nothing(login: Login, web_desk: Desk) -> None:
    alice, csrf = login("alice")
    listing = alice.get("/tenants")
    assert TENANT_A in listing.text
    assert TENANT_B not in listing.text
    assert 'action="/tenants"' not in listing.text
    own = alice.get("/tenant", params={"name": TENANT_A})
    assert own.status_code == 200
    assert 'name="new_name"' not in own.text  # renaming is the operators'
    with unchanged(web_desk):
        assert alice.get("/tenant", params={"name": TENANT_B}).status_code == 404
        other = alice.post(
            "/tenant", data={"csrf_token": csrf, "name": TENANT_B, "emails": "x@alice.test"}
        )
        assert other.status_code == 404
        assert "x@alice.test" not in other.text
        added = alice.post("/tenants", data={"csrf_token": csrf, "name": "Alice Two"})
        assert added.status_code == 403
        renamed = alice.post(
            "/tenant",
            data={"csrf_token": csrf, "name": TENANT_A, "new_name": "Mine", "emails": ""},
        )
        assert renamed.status_code == 403  # renaming is the operators', forged or not
    assert _tenant(web_desk, TENANT_A) is not None
    assert _tenant(web_desk, "Mine") is None
    saved = alice.post(
        "/tenant",
        data={"csrf_token": csrf, "name": TENANT_A, "emails": "alerts@acme.test"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    own_tenant = _tenant(web_desk, TENANT_A)
    assert own_tenant is not None
    assert own_tenant.emails == ("alerts@acme.test",)


def test_an_operator_adds_accounts_that_set_their_own_password(
    login: Login, web_desk: Desk, transport: SyncASGI
) -> None:
    admin, csrf = login("admin")
    page = admin.get("/users")
    assert 'action="/users"' in page.text
    assert f'<option value="{TENANT_B}">' in page.text
    made = admin.post(
        "/users",
        data={"csrf_token": csrf, "username": "Carol", "role": "reseller", "tenant": TENANT_B},
    )
    assert made.status_code == 200, made.text
    assert made.headers["cache-control"] == "no-store"
    password = shown_password(made.text)
    carol = next(u for u in web_desk.run(OPERATOR, accounts.list_users) if u.username == "carol")
    assert (carol.role, carol.tenant, carol.must_change_password) == ("reseller", TENANT_B, True)
    assert password not in admin.get("/users/carol").text
    assert password not in str(web_desk.run(OPERATOR, desk.list_audit))

    browser = httpx.Client(transport=transport, base_url="http://testserver")
    form = browser.get("/login")
    logged = browser.post(
        "/login",
        data={"username": "carol", "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=True,
    )
    assert logged.url.path == "/account/password"
    changed = browser.post(
        "/account/password",
        data={
            "csrf_token": csrf_of(logged.text),
            "current_password": password,
            "new_password": "carol picks her own passphrase",
            "confirm_password": "carol picks her own passphrase",
        },
        follow_redirects=True,
    )
    assert changed.url.path == "/", changed.text
    assert TENANT_B in changed.text

    operator = admin.post(
        "/users", data={"csrf_token": csrf, "username": "dave", "role": "operator", "tenant": ""}
    )
    assert operator.status_code == 200
    dave = next(u for u in web_desk.run(OPERATOR, accounts.list_users) if u.username == "dave")
    assert (dave.role, dave.tenant) == ("operator", None)


def test_refused_accounts_stand_beside_their_field(login: Login, web_desk: Desk) -> None:
    admin, csrf = login("admin")
    with unchanged(web_desk):
        taken = admin.post(
            "/users",
            data={"csrf_token": csrf, "username": "alice", "role": "reseller", "tenant": TENANT_A},
        )
        assert taken.status_code == 409
        assert "is taken" in _error_beside(taken.text, "username")
        no_tenant = admin.post(
            "/users", data={"csrf_token": csrf, "username": "erin", "role": "reseller"}
        )
        assert no_tenant.status_code == 400
        beside = _error_beside(no_tenant.text, "tenant")
        assert "belongs to a tenant" in beside
        assert "--" not in beside  # no command-line option for a portal's reader
        spaced = admin.post(
            "/users", data={"csrf_token": csrf, "username": "e rin", "role": "operator"}
        )
        assert spaced.status_code == 400
        assert "without spaces" in _error_beside(spaced.text, "username")
