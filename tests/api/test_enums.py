"""One enum per vocabulary: what the API's schema offers and accepts for portal kinds,
request and order statuses and urgencies is the desk's enum, neither more nor less."""

from __future__ import annotations

import enum
from typing import Any

import pytest

from certdesk.desk import OrderStatus, Portal, RequestStatus
from certdesk.pki import Urgency
from tests.api.conftest import Api, error_code


def _parameter(schema: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    [found] = [p for p in schema["paths"][path][method]["parameters"] if p["name"] == name]
    return _resolve(schema, found["schema"])


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    for option in node.get("anyOf", [node]):
        if "$ref" in option:
            return _resolve(schema, schema["components"]["schemas"][option["$ref"].split("/")[-1]])
        if "enum" in option:
            return option
    return node


@pytest.mark.parametrize(
    ("path", "name", "values"),
    [
        ("/api/requests", "status", RequestStatus),
        ("/api/csr", "status", OrderStatus),
        ("/api/domains/served", "urgency", Urgency),
    ],
)
def test_filters_offer_the_enum(api: Api, path: str, name: str, values: type[enum.Enum]) -> None:
    client = api.operator()
    schema = client.get("/openapi.json").json()
    assert _parameter(schema, path, "get", name)["enum"] == [v.value for v in values]
    for value in values:
        assert client.get(path, params={name: value.value}).status_code == 200
    refused = client.get(path, params={name: "no-such-value"})
    assert refused.status_code == 400
    assert error_code(refused) == "invalid-argument"


def test_portal_kinds_are_the_enum(api: Api) -> None:
    schema = api.operator().get("/openapi.json").json()
    assert schema["components"]["schemas"]["Portal"]["enum"] == [p.value for p in Portal]
