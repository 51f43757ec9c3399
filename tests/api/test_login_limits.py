"""The failed-login limiter: counted in the database (two app instances on one database
count the same failures), per (user, address), and forwarded addresses only from the
configured proxies."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from certdesk.application.compose import open_desk
from certdesk.asgi import create_app
from tests.api.conftest import OPERATOR, Api, SyncASGI, error_code

WRONG = "wrong-password-1"


def client_from(api: Api, app: FastAPI, peer: str, **headers: str) -> httpx.Client:
    """A client of ``app`` whose connection comes from ``peer``."""
    transport = SyncASGI(app, api.transport.portal)
    transport._inner = httpx.ASGITransport(app=app, client=(peer, 50000))
    return httpx.Client(transport=transport, base_url="http://testserver", headers=headers)


def login(client: httpx.Client, username: str, password: str, **headers: str) -> int:
    answer = client.post(
        "/api/login", json={"username": username, "password": password}, headers=headers
    )
    if answer.status_code == 429:
        assert error_code(answer) == "rate-limited"
        assert "wait" in answer.json()["error"]["hint"]
    return answer.status_code


@pytest.fixture
def second_app(api: Api) -> Iterator[FastAPI]:
    """Another app on the same database, with its own engine: another worker or replica."""
    other = open_desk(api.settings)
    try:
        yield create_app(other, api.settings, with_portal=False)
    finally:
        other.store.close()


def test_failures_are_shared_by_app_instances_on_one_database(
    api: Api, second_app: FastAPI
) -> None:
    first = client_from(api, api.app, "198.51.100.7")
    second = client_from(api, second_app, "198.51.100.7")
    assert [login(first, "operator", WRONG) for _ in range(3)] == [401] * 3
    assert [login(second, "operator", WRONG) for _ in range(2)] == [401] * 2
    # Five failures in all: both instances refuse now, even the right password.
    assert login(first, *OPERATOR) == 429
    assert login(second, *OPERATOR) == 429


def test_an_attacker_cannot_lock_a_user_out_from_elsewhere(api: Api) -> None:
    attacker = client_from(api, api.app, "203.0.113.66")
    assert [login(attacker, "operator", WRONG) for _ in range(5)] == [401] * 5
    assert login(attacker, *OPERATOR) == 429
    # The operator, from its own address, is not locked out.
    assert login(client_from(api, api.app, "198.51.100.7"), *OPERATOR) == 200


def test_a_success_forgets_the_failures(api: Api) -> None:
    client = client_from(api, api.app, "198.51.100.7")
    assert [login(client, "operator", WRONG) for _ in range(4)] == [401] * 4
    assert login(client, *OPERATOR) == 200
    assert [login(client, "operator", WRONG) for _ in range(4)] == [401] * 4
    assert login(client, *OPERATOR) == 200


def test_forwarded_for_from_a_client_that_is_not_a_proxy_is_ignored(api: Api) -> None:
    api.app.state.trusted_proxies = ()
    client = client_from(api, api.app, "203.0.113.66")
    # A new made-up address on every try does not escape the limit.
    statuses = [
        login(client, "operator", WRONG, **{"X-Forwarded-For": f"192.0.2.{n}"}) for n in range(6)
    ]
    assert statuses == [401] * 5 + [429]


def test_forwarded_for_counts_from_a_configured_proxy_only(api: Api) -> None:
    app = create_app(api.desk, api.settings, trusted_proxies=["10.0.0.1"], with_portal=False)
    proxy = client_from(api, app, "10.0.0.1")
    stranger = client_from(api, app, "10.0.0.2")
    # Through the proxy: the client it names is the one limited...
    for _ in range(5):
        assert login(proxy, "operator", WRONG, **{"X-Forwarded-For": "203.0.113.66"}) == 401
    assert login(proxy, *OPERATOR, **{"X-Forwarded-For": "203.0.113.66"}) == 429
    # ... and a client that writes a header of its own before the proxy's gets no further:
    # the proxy appends the address it saw, which is the one read.
    spoofed = "198.51.100.7, 203.0.113.66"
    assert login(proxy, *OPERATOR, **{"X-Forwarded-For": spoofed}) == 429
    # Another client behind the proxy is not locked out.
    assert login(proxy, *OPERATOR, **{"X-Forwarded-For": "198.51.100.7"}) == 200
    # A host that is not the proxy cannot pretend to forward for someone.
    for _ in range(5):
        assert login(stranger, "operator", WRONG, **{"X-Forwarded-For": "198.51.100.9"}) == 401
    assert login(stranger, *OPERATOR, **{"X-Forwarded-For": "198.51.100.9"}) == 429


def test_the_proxy_list_comes_from_the_settings(api: Api) -> None:
    settings = dataclasses.replace(api.settings, trusted_proxies=("10.0.0.0/24",))
    app = create_app(api.desk, settings, with_portal=False)
    assert [str(n) for n in app.state.trusted_proxies] == ["10.0.0.0/24"]
    loopback = create_app(api.desk, api.settings, trust_forwarded=True, with_portal=False)
    assert [str(n) for n in loopback.state.trusted_proxies] == ["127.0.0.0/8", "::1/128"]
