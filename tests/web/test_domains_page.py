"""Managing domains from the portal: add, change, monitor / unmonitor and remove, through
the same desk functions as the API; refusals beside their field, nothing changed; reseller A
reaching for reseller B's domain gets 404 pages and changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from certdesk import desk as d
from certdesk.desk import Desk
from tests.database import unchanged
from tests.web.conftest import OPERATOR, TENANT_A, TENANT_B

Login = Callable[[str], tuple[httpx.Client, str]]


def _domains(web_desk: Desk, tenant: str) -> dict[str, d.DomainView]:
    return {v.url: v for v in web_desk.run(OPERATOR, d.list_domains, tenant=tenant)}


def test_a_reseller_adds_changes_unmonitors_and_removes_a_domain(
    login: Login, web_desk: Desk
) -> None:
    client, csrf = login("alice")
    form = client.get("/domains/new")
    assert form.status_code == 200
    assert 'name="connect_to"' not in form.text  # an operator's setting
    added = client.post(
        "/domains/new",
        data={"csrf_token": csrf, "url": "shop.test.com", "portal": "storefront"},
        follow_redirects=True,
    )
    assert added.status_code == 200, added.text
    assert "Domain added" in added.text
    view = _domains(web_desk, TENANT_A)["https://shop.test.com"]
    assert (view.portal, view.monitored) == ("storefront", True)

    edit = client.get("/domain/edit", params={"url": "https://shop.test.com"})
    assert edit.status_code == 200
    changed = client.post(
        "/domain/edit",
        data={"csrf_token": csrf, "url": "https://shop.test.com", "portal": "bss"},
        follow_redirects=True,
    )
    assert "Changes saved" in changed.text
    assert _domains(web_desk, TENANT_A)["https://shop.test.com"].portal == "bss"

    off = client.post(
        "/domain/monitor",
        data={"csrf_token": csrf, "url": "https://shop.test.com", "monitored": "false"},
        follow_redirects=True,
    )
    assert "Monitoring stopped" in off.text
    assert "Start monitoring" in off.text
    assert not _domains(web_desk, TENANT_A)["https://shop.test.com"].monitored
    on = client.post(
        "/domain/monitor",
        data={"csrf_token": csrf, "url": "https://shop.test.com", "monitored": "true"},
        follow_redirects=True,
    )
    assert "Monitoring started" in on.text
    assert _domains(web_desk, TENANT_A)["https://shop.test.com"].monitored

    confirm = client.get("/domain/remove", params={"url": "https://shop.test.com"})
    assert "Remove https://shop.test.com?" in confirm.text
    removed = client.post(
        "/domain/remove", data={"csrf_token": csrf, "url": "https://shop.test.com"}
    )
    assert removed.status_code == 200
    assert "Domain removed" in removed.text
    assert "https://shop.test.com" not in _domains(web_desk, TENANT_A)
    actions = [a.action for a in web_desk.run(OPERATOR, d.list_audit, tenant=TENANT_A)]
    assert actions[:5] == [
        "domain.remove",
        "domain.change",
        "domain.change",
        "domain.change",
        "domain.add",
    ]


def test_a_bad_url_is_shown_beside_its_field_and_nothing_is_added(
    login: Login, web_desk: Desk
) -> None:
    client, csrf = login("alice")
    with unchanged(web_desk):
        for url, code in (
            ("http://shop.test.com", "invalid-argument"),
            ("shop.invalid", "invalid-argument"),
            ("", "invalid-argument"),
        ):
            answer = client.post("/domains/new", data={"csrf_token": csrf, "url": url})
            assert answer.status_code == 422, url
            assert 'id="url-error"' in answer.text, url
            assert f"<code>{code}</code>" in answer.text, url
            assert 'aria-invalid="true"' in answer.text
            assert "certdesk " not in answer.text.split('id="url-error"')[1].split("</div>")[0]


def test_a_url_registered_already_is_a_conflict_beside_the_url(
    login: Login, web_desk: Desk
) -> None:
    web_desk.run(OPERATOR, d.add_domain, url="https://taken.test.com", tenant=TENANT_B)
    client, csrf = login("alice")
    with unchanged(web_desk):
        answer = client.post(
            "/domains/new", data={"csrf_token": csrf, "url": "https://taken.test.com"}
        )
    assert answer.status_code == 422
    assert 'id="url-error"' in answer.text
    assert "<code>conflict</code>" in answer.text
    assert TENANT_B not in answer.text


def test_an_operator_sets_and_clears_connect_to_and_its_errors_go_beside_it(
    login: Login, web_desk: Desk
) -> None:
    client, csrf = login("admin")
    form = client.get("/domains/new")
    assert 'name="connect_to"' in form.text
    assert TENANT_B in form.text  # an operator chooses the tenant
    with unchanged(web_desk):
        bad = client.post(
            "/domains/new",
            data={
                "csrf_token": csrf,
                "url": "lab.test.com",
                "tenant": TENANT_B,
                "connect_to": "10.0.0.5",
            },
        )
        assert bad.status_code == 422
        assert 'id="connect_to-error"' in bad.text
        assert 'id="url-error"' not in bad.text
    client.post(
        "/domains/new",
        data={
            "csrf_token": csrf,
            "url": "lab.test.com",
            "tenant": TENANT_B,
            "connect_to": "10.0.0.5:8443",
        },
    )
    assert _domains(web_desk, TENANT_B)["https://lab.test.com"].connect_to == "10.0.0.5:8443"
    client.post(
        "/domain/edit",
        data={"csrf_token": csrf, "url": "https://lab.test.com", "portal": "other"},
    )
    assert _domains(web_desk, TENANT_B)["https://lab.test.com"].connect_to is None


def test_a_reseller_cannot_set_connect_to(login: Login, web_desk: Desk) -> None:
    web_desk.run(OPERATOR, d.add_domain, url="https://mine.test.com", tenant=TENANT_A)
    client, csrf = login("alice")
    answer = client.post(
        "/domain/edit",
        data={
            "csrf_token": csrf,
            "url": "https://mine.test.com",
            "portal": "bss",
            "connect_to": "10.0.0.5:443",
        },
    )
    assert answer.status_code == 303  # the portal is changed; connect-to is not a field here
    view = _domains(web_desk, TENANT_A)["https://mine.test.com"]
    assert (view.portal, view.connect_to) == ("bss", None)


def test_reseller_a_gets_404_for_b_domain_and_changes_nothing(login: Login, web_desk: Desk) -> None:
    web_desk.run(OPERATOR, d.add_domain, url="https://beta.test.com", tenant=TENANT_B)
    client, csrf = login("alice")
    url = "https://beta.test.com"
    with unchanged(web_desk):
        for path in ("/domain/edit", "/domain/remove"):
            answer = client.get(path, params={"url": url})
            assert answer.status_code == 404, path
            assert "<code>not-found</code>" in answer.text
        for path, data in (
            ("/domain/edit", {"portal": "bss"}),
            ("/domain/monitor", {"monitored": "false"}),
            ("/domain/remove", {}),
        ):
            answer = client.post(path, data={"csrf_token": csrf, "url": url, **data})
            assert answer.status_code == 404, path
            assert "beta.test.com" not in answer.text.split("<main")[1].split("<code>")[0]
        # Adding a domain for B's tenant: B's tenant is not found for A.
        answer = client.post(
            "/domains/new",
            data={"csrf_token": csrf, "url": "other.test.com", "tenant": TENANT_B},
        )
        assert answer.status_code == 404
    assert _domains(web_desk, TENANT_B)[url].monitored


def test_domain_forms_need_the_csrf_token(login: Login, web_desk: Desk) -> None:
    web_desk.run(OPERATOR, d.add_domain, url="https://mine.test.com", tenant=TENANT_A)
    client, _ = login("alice")
    with unchanged(web_desk):
        for path, data in (
            ("/domains/new", {"url": "new.test.com"}),
            ("/domain/edit", {"url": "https://mine.test.com", "portal": "bss"}),
            ("/domain/monitor", {"url": "https://mine.test.com", "monitored": "false"}),
            ("/domain/remove", {"url": "https://mine.test.com"}),
        ):
            answer = client.post(path, data={"csrf_token": "forged", **data})
            assert answer.status_code == 403, path
            assert "csrf-failed" in answer.text


def test_a_reseller_makes_a_domain_platform_managed_and_back(login: Login, web_desk: Desk) -> None:
    client, csrf = login("alice")
    assert 'name="managed"' in client.get("/domains/new").text
    added = client.post(
        "/domains/new",
        data={"csrf_token": csrf, "url": "managed.test.com", "managed": "acme"},
        follow_redirects=True,
    )
    assert added.status_code == 200, added.text
    assert "Platform-managed certificate" in added.text
    assert "Waiting for DNS" in added.text
    url = "https://managed.test.com"
    assert web_desk.run(OPERATOR, d.managed_state, url=url) is not None
    edit = client.get("/domain/edit", params={"url": url}).text
    assert '<option value="acme" selected>' in edit
    back = client.post(
        "/domain/edit",
        data={"csrf_token": csrf, "url": url, "portal": "other", "managed": "customer"},
        follow_redirects=True,
    )
    assert "Changes saved" in back.text
    assert "Platform-managed certificate" not in back.text
    assert web_desk.run(OPERATOR, d.managed_state, url=url) is None
    bob, bob_csrf = login("bob")  # reseller B: A's domain is not found, nothing changes
    with unchanged(web_desk):
        answer = bob.post(
            "/domain/edit", data={"csrf_token": bob_csrf, "url": url, "managed": "acme"}
        )
        assert answer.status_code == 404
