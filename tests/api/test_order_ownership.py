"""A CSR order for a URL of another tenant is refused when it is made (``conflict``, as
intake answers), not when its signed certificate comes back."""

from __future__ import annotations

from tests.api.conftest import Api, error_code
from tests.database import unchanged


def test_an_order_for_another_tenants_url_is_a_conflict_at_once(api: Api) -> None:
    operator = api.operator()
    for name in ("Acme Hosting", "Beta Cloud"):
        assert operator.post("/api/tenants", json={"name": name}).status_code == 201
    acme = api.session("acme", api.user("acme", tenant="Acme Hosting"))
    beta = api.session("beta", api.user("beta", tenant="Beta Cloud"))
    owned = acme.post(
        "/api/domains", json={"url": "https://shop.acme.gr", "tenant": "Acme Hosting"}
    )
    assert owned.status_code == 201, owned.text
    with unchanged(api.desk):
        order = beta.post(
            "/api/csr",
            json={
                "tenant": "Beta Cloud",
                "common_name": "shop.acme.gr",
                "urls": ["https://shop.acme.gr", "https://www.beta.gr"],
            },
        )
        assert order.status_code == 409, order.text
        assert error_code(order) == "conflict"
    error = order.json()["error"]
    # The same answer intake gives: it names no tenant.
    assert error["message"] == "https://shop.acme.gr is not available"
    assert "Acme" not in order.text
    # The owner orders for its own URL as before.
    mine = acme.post(
        "/api/csr",
        json={"tenant": "Acme Hosting", "common_name": "shop.acme.gr", "urls": ["shop.acme.gr"]},
    )
    assert mine.status_code == 201, mine.text
