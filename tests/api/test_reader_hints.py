"""The refusals issue 15 found worded for the wrong reader, as an API client meets them:
each answer carries the structured fix, and a hint that names endpoints, never a command."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import Api
from tests.api.test_flows import reseller, submit, upload_signed
from tests.database import unchanged
from tests.test_hints import foreign_problems

__all__ = ["reseller"]  # the fixture, shared with test_flows


def _error(answer: httpx.Response, status: int, code: str, action: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert (error["code"], error["fix"]["action"]) == (code, action), error
    assert not foreign_problems(str(error)), error
    return error


def test_a_pem_sent_as_a_pfx_is_told_where_to_convert(api: Api, reseller: httpx.Client) -> None:
    with unchanged(api.desk):
        error = _error(
            submit(reseller, api.pki.leaf_crt), 400, "unsupported-format", "convert-to-pfx"
        )
    assert error["field"] == "file"
    assert "POST /api/csr/complete" in error["hint"]
    assert "Convert page" in error["hint"]


def test_a_pfx_sent_for_a_csr_order_goes_to_submissions(api: Api, reseller: httpx.Client) -> None:
    with unchanged(api.desk):
        answer = reseller.post(
            "/api/csr/complete", files={"file": ("x.pfx", api.pki.modern_pfx.read_bytes())}
        )
        error = _error(answer, 400, "unsupported-format", "submit-pfx")
    assert "POST /api/submissions" in error["hint"]
    assert "password" not in error["hint"]  # this call takes none
    # No matching order: the finding's fix names no command either.
    stranger = upload_signed(reseller, api.pki.leaf_crt)
    assert stranger.status_code == 422
    assert not foreign_problems(str(stranger.json()))


def test_missing_and_taken_name_endpoints(api: Api, reseller: httpx.Client) -> None:
    operator = api.operator()
    missing = operator.get("/api/domains", params={"tenant": "No Such Tenant"})
    assert _error(missing, 404, "not-found", "list-tenants")["hint"] == (
        "GET /api/tenants lists the tenants"
    )
    removed = reseller.delete("/api/domains", params={"url": "https://nowhere.test.com"})
    assert "GET /api/domains" in _error(removed, 404, "not-found", "list-domains")["hint"]
    # A URL of another tenant: the reseller is not told whose it is.
    operator.post("/api/tenants", json={"name": "Beta Web", "emails": []})
    taken = operator.post(
        "/api/domains", json={"url": "https://www.test.com", "tenant": "Beta Web"}
    )
    assert taken.status_code == 201, taken.text
    refused = submit(reseller, api.pki.modern_pfx, urls=["https://www.test.com"])
    error = _error(refused, 409, "conflict", "domain-taken")
    assert "Beta Web" not in str(error)
    assert "ask the platform's operators" in error["hint"]
    # An operator adding it for another tenant learns whose it is.
    seen = _error(
        submit(operator, api.pki.modern_pfx, urls=["https://www.test.com"]),
        409,
        "conflict",
        "domain-taken",
    )
    assert seen["fix"]["params"]["owner"] == "Beta Web"
    assert "GET /api/domains?tenant=Beta Web" in seen["hint"]
