"""The API's fast JSON (orjson) writes exactly what the plain one writes."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certdesk.api.encode import json_bytes, jsonable
from certdesk.desk.domains import DomainView
from certdesk.http.files import download


class Colour(enum.StrEnum):
    RED = "red"


@dataclass(frozen=True, slots=True)
class Inner:
    when: datetime
    colour: Colour
    _secret: str = "never written"


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner
    items: tuple[Inner, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def plain(value: Any) -> bytes:
    return json.dumps(jsonable(value), ensure_ascii=False, separators=(",", ":")).encode()


ATHENS = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    "value",
    [
        [],
        {"a": None, "b": [1, 2.5, True, "ü €"]},
        Inner(datetime(2026, 11, 27, 10, 0, 1, 999_999, tzinfo=ATHENS), Colour.RED),
        Outer(
            "x",
            Inner(datetime(2026, 1, 1, tzinfo=UTC), Colour.RED),
            (Inner(datetime(2030, 6, 1, 23, 59, tzinfo=ATHENS), Colour.RED),),
            {"when": datetime(2026, 2, 1, tzinfo=UTC), "colour": Colour.RED},
        ),
        [
            DomainView(
                1, "https://a.test.com", "a.test.com", 443, "Acme", "bss", True, None, None, None
            ),
            DomainView(
                2,
                "https://b.test.com:8443/shop",
                "b.test.com",
                8443,
                "Ακμή",
                "storefront",
                False,
                "10.0.0.5:443",
                "ab" * 32,
                datetime(2027, 3, 4, 5, 6, 7, tzinfo=UTC),
                "edge",
            ),
        ],
    ],
)
def test_same_bytes_as_the_plain_encoder(value: Any) -> None:
    assert json_bytes(value) == plain(value)
    assert b"never written" not in json_bytes(value)


def text(max_size: int) -> st.SearchStrategy[str]:
    # Any character a string from a database or a request can hold (no lone surrogates).
    return st.text(st.characters(exclude_categories=("Cs",)), max_size=max_size)


@given(
    st.lists(
        st.builds(
            DomainView,
            id=st.integers(1, 2**62),
            url=text(max_size=40),
            hostname=text(max_size=20),
            port=st.integers(1, 65535),
            tenant=text(max_size=20),
            portal=st.sampled_from(["bss", "storefront", "other"]),
            monitored=st.booleans(),
            connect_to=st.none() | text(max_size=20),
            certificate_sha256=st.none() | st.text("0123456789abcdef", min_size=64, max_size=64),
            not_after=st.none()
            | st.datetimes(
                min_value=datetime(1970, 1, 2),
                max_value=datetime(9999, 12, 30),
                timezones=st.just(UTC),
            ),
            deploy_target=st.none() | text(max_size=10),
        ),
        max_size=5,
    )
)
def test_domain_pages_encode_alike(views: list[DomainView]) -> None:
    assert json_bytes(views) == plain(views)


def test_what_json_cannot_write_is_refused() -> None:
    with pytest.raises(TypeError):
        json_bytes({"x": object()})


def test_a_download_names_its_file_safely_and_is_not_cached() -> None:
    answer = download(b"x", "application/pkcs10", '*.shop "ακμή"\r\n.csr')
    assert answer.headers["content-disposition"] == (
        'attachment; filename="wildcard.shop_________.csr"'  # 9 replaced
    )
    assert answer.headers["cache-control"] == "no-store"
    assert answer.media_type == "application/pkcs10"
