"""Schemathesis over the whole OpenAPI schema: every operation, with inputs that fit the
schema and inputs that do not, as a reseller and as an operator, on a real app holding a
tenant, domains, a certificate and a CSR order. No answer may be a 500; every error is
JSON with a code (the ``Api`` fixture checks each response, and at the end scans every
one for keys and passwords).

Each case calls with a fresh API token: a generated ``DELETE /api/tokens/{id}`` may
revoke any token of the caller's, and must not stop the cases after it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from certdesk.desk import Actor
from certdesk.desk import accounts as acc
from tests.api.conftest import Api
from tests.openssl_pki import PFX_PASSWORD

TENANT = "Acme Hosting"
EXAMPLES = 15  # per operation, mode and caller: the run takes well under a minute


def _populate(api: Api) -> dict[str, int]:
    operator = api.operator()
    assert operator.post("/api/tenants", json={"name": TENANT}).status_code == 201
    password = api.user("acme", tenant=TENANT)
    reseller = api.session("acme", password)
    sent = reseller.post(
        "/api/submissions",
        data={
            "common_name": "store.test.com",
            "tenant": TENANT,
            "urls": ["https://store.test.com", "https://www.test.com/shop"],
            "password": PFX_PASSWORD,
        },
        files={"file": ("a.pfx", api.pki.modern_pfx.read_bytes(), "application/x-pkcs12")},
    )
    assert sent.status_code == 201, sent.text
    order = reseller.post(
        "/api/csr", json={"tenant": TENANT, "common_name": "shop.test.com", "sans": []}
    )
    assert order.status_code == 201, order.text
    ids = {}
    with api.desk.context(Actor(name="test"), readonly=True) as ctx:
        for user in acc.list_users(ctx):
            ids[user.username] = user.id
    return ids


@pytest.mark.slow
def test_no_generated_input_gets_a_500(api: Api) -> None:
    api.app.state.settings = dataclasses.replace(api.settings, probe_timeout=1.0)
    users = _populate(api)
    client = api.client(raise_errors=False)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20, [op.label for op in operations]
    seen: dict[tuple[str, str], set[int]] = {}

    def fresh_token(username: str) -> str:
        return api.desk.run(
            Actor(name="test"), acc.create_token, user_id=users[username], name="fuzz"
        ).token

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for username in ("operator", "acme"):
                codes = seen.setdefault((operation.label, mode.value), set())
                _fuzz(operation, mode, lambda u=username: fresh_token(u), client, codes)
    # The run reached the routes, not only the parameter checks.
    assert any(200 <= s < 300 for codes in seen.values() for s in codes)


def _fuzz(
    operation: Any,
    mode: GenerationMode,
    token: Callable[[], str],
    client: httpx.Client,
    codes: set[int],
) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        kwargs["headers"] = {**(kwargs.get("headers") or {}), "Authorization": f"Bearer {token()}"}
        kwargs.pop("cookies", None)
        answer = client.request(**_httpx(kwargs))
        codes.add(answer.status_code)
        assert answer.status_code < 500, (
            f"{operation.label} ({mode.value}): {answer.status_code} {answer.text[:300]}\n"
            f"{case.as_curl_command()}"
        )

    try:
        check()
    except Unsatisfiable:
        # Negative mode on an operation that takes nothing: there is no invalid input.
        if mode is not GenerationMode.NEGATIVE:
            raise


def _httpx(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Schemathesis's transport arguments (requests-style) as bytes for httpx: encoded by
    requests itself, as schemathesis would send them."""
    names = ("method", "url", "headers", "params", "json", "files", "data")
    prepared = requests.Request(**{k: kwargs[k] for k in names if k in kwargs}).prepare()
    body = prepared.body
    return {
        "method": prepared.method,
        "url": prepared.url,
        "headers": dict(prepared.headers),
        "content": body.encode("utf-8") if isinstance(body, str) else body,
    }
