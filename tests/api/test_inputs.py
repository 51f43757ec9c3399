"""Input errors are 400s with a code, never 500s: integers beyond the database's 64-bit
range, instants the report windows cannot compute, years before 1000."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from certdesk.asgi import create_app
from certdesk.pki import iso_utc
from tests.api.conftest import Api, SyncASGI, error_code

HUGE = "99999999999999999999"


@pytest.fixture
def operator(api: Api) -> httpx.Client:
    client = api.client(raise_errors=False)
    answer = client.post(
        "/api/login", json={"username": "operator", "password": "operator-password-1"}
    )
    assert answer.status_code == 200, answer.text
    client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return client


@pytest.mark.parametrize(
    "path",
    [
        f"/api/domains?offset={HUGE}",
        f"/api/domains?offset={2**63}",
        f"/api/requests/{HUGE}",
        f"/api/requests/{2**31}",
        f"/api/csr/{HUGE}",
        f"/api/csr/{HUGE}/csr",
        "/api/reports/daily?at=9999-12-31",
        "/api/reports/monthly?at=9999-12-31T23:59:59Z",
        "/api/reports/daily?at=0001-01-01T00:00:00%2B14:00",
        "/api/reports/daily?at=0001-01-01",
    ],
)
def test_out_of_range_input_is_a_400_with_a_code(operator: httpx.Client, path: str) -> None:
    answer = operator.get(path)
    assert answer.status_code == 400, f"{path}: {answer.status_code} {answer.text[:300]}"
    assert error_code(answer) == "invalid-argument"
    assert answer.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/api/csr?status=%00", "/api/requests?tenant=a%00b"])
def test_nul_in_text_is_never_a_500(operator: httpx.Client, path: str) -> None:
    # SQLite compares the text as given (nothing matches); PostgreSQL refuses a NUL in
    # text, which is the caller's input: 400.
    answer = operator.get(path)
    assert answer.status_code in (200, 400, 404), answer.text
    if answer.status_code == 400:
        assert error_code(answer) == "invalid-argument"


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_huge_ids_in_paths_that_change_things(operator: httpx.Client, method: str) -> None:
    path = f"/api/csr/{HUGE}/cancel" if method == "POST" else f"/api/tokens/{HUGE}"
    answer = operator.request(method, path)
    assert answer.status_code == 400, answer.text
    assert error_code(answer) == "invalid-argument"


def test_largest_id_is_a_plain_not_found(operator: httpx.Client) -> None:
    answer = operator.get(f"/api/requests/{2**31 - 1}")
    assert answer.status_code == 404, answer.text


def test_instants_near_the_edges_print_four_digit_years(operator: httpx.Client) -> None:
    answer = operator.get("/api/reports/daily?at=1900-01-01T00:00:00Z")
    assert answer.status_code == 200, answer.text
    assert answer.json()["at"].startswith("1900-01-01T00:00:00"), answer.json()["at"]


def test_iso_utc_writes_four_digit_years() -> None:

    assert iso_utc(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00Z"
    assert iso_utc(datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC)) == "0999-12-31T23:59:59Z"
    assert iso_utc(datetime(2027, 1, 2, 3, 4, 5, 678, tzinfo=UTC)) == "2027-01-02T03:04:05Z"


@pytest.mark.parametrize(
    "path", [f"/orders/{HUGE}", f"/orders/{HUGE}/csr", f"/requests/{HUGE}", f"/requests/{2**31}"]
)
def test_portal_pages_with_huge_ids_are_400s(api: Api, path: str) -> None:
    app = create_app(api.desk, api.settings)
    transport = SyncASGI(app, api.transport.portal, raise_errors=False)
    with httpx.Client(transport=transport, base_url="http://t") as browser:
        login = browser.post(
            "/api/login", json={"username": "operator", "password": "operator-password-1"}
        )
        assert login.status_code == 200
        answer = browser.get(path)
    assert answer.status_code == 400, (path, answer.status_code, answer.text[:200])
