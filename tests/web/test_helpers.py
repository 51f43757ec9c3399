"""The portal's template helpers against the standard library they stand in for."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from certdesk.web.common import urlquote


@given(st.text(st.characters(exclude_categories=("Cs",))))
def test_urlquote_writes_what_urllib_writes(value: str) -> None:
    assert urlquote(value) == quote(value, safe="")


def test_urlquote_of_a_domain_url() -> None:
    assert urlquote("https://shop.ακμή.gr:8443/a b?x=1&y=~") == quote(
        "https://shop.ακμή.gr:8443/a b?x=1&y=~", safe=""
    )
    assert urlquote("https://a.test.com") == "https%3A%2F%2Fa.test.com"
