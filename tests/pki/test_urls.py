"""The one custom-domain URL value and the one connect-to address value."""

from __future__ import annotations

import pytest

from certdesk.errors import InvalidArgument
from certdesk.pki import Address, DomainUrl, install_name


@pytest.mark.parametrize(
    ("text", "url", "hostname", "port"),
    [
        ("Store.Test.COM", "https://store.test.com", "store.test.com", 443),
        ("https://store.test.com:443/", "https://store.test.com", "store.test.com", 443),
        (
            "HTTPS://store.test.com:8443/shop/",
            "https://store.test.com:8443/shop",
            "store.test.com",
            8443,
        ),
        ("store.test.com:8443", "https://store.test.com:8443", "store.test.com", 8443),
        (
            "  bücher.example.com/a/b  ",
            "https://xn--bcher-kva.example.com/a/b",
            "xn--bcher-kva.example.com",
            443,
        ),
        ("//shop.example.com.", "https://shop.example.com", "shop.example.com", 443),
    ],
)
def test_one_written_form(text: str, url: str, hostname: str, port: int) -> None:
    parsed = DomainUrl.parse(text)
    assert (parsed.url, parsed.hostname, parsed.port, parsed.connect_to) == (
        url,
        hostname,
        port,
        None,
    )
    # Reading the written form again gives the same value (stored URLs are re-read).
    assert DomainUrl.parse(parsed.url) == parsed
    assert str(parsed) == url


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty URL"),
        ("http://store.test.com", "not an https:// URL"),
        ("ftp://store.test.com", "not an https:// URL"),
        ("https://192.0.2.1/", "IP address"),
        ("[2001:db8::1]:443", "IP address"),
        ("*.test.com", "wildcard"),
        ("[A-Za-z0-9_-]{1,200}", "not a URL certdesk can read"),  # found by schemathesis
        ("https://a*.test.com", "wildcard"),
        ("https://store.test.com:99999", "invalid port"),
        ("store.test.com:70000", "port 70000 of 'store.test.com:70000' is out of range"),
        ("a b.test.com", "not a valid host name"),
    ],
)
def test_refusals_say_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(InvalidArgument, match=words) as caught:
        DomainUrl.parse(text)
    assert caught.value.code == "invalid-argument"


def test_a_bad_host_gets_the_custom_domain_hint() -> None:
    with pytest.raises(InvalidArgument) as caught:
        DomainUrl.parse("https://a..b.com")
    assert caught.value.hint is not None
    assert "public DNS name" in caught.value.hint


def test_an_ip_when_allowed_is_written_in_brackets() -> None:
    parsed = DomainUrl.parse("https://[2001:DB8::1]:8443/x", allow_ip=True)
    assert (parsed.hostname, parsed.port, parsed.url) == (
        "2001:db8::1",
        8443,
        "https://[2001:db8::1]:8443/x",
    )
    assert parsed.ip is not None
    assert parsed.ip.version == 6
    assert DomainUrl.parse("store.test.com").ip is None


def test_connect_to_address() -> None:
    parsed = DomainUrl.parse("store.test.com", connect_to=" [2001:db8::5]:8443 ")
    assert parsed.connect_to == Address("2001:db8::5", 8443)
    assert str(parsed.connect_to) == "[2001:db8::5]:8443"
    assert parsed.address.pair == ("2001:db8::5", 8443)
    assert DomainUrl.parse("store.test.com", connect_to="  ").connect_to is None
    assert DomainUrl.parse("store.test.com:8443").address == Address("store.test.com", 8443)
    assert str(Address.parse("Edge.Internal.:443")) == "edge.internal:443"
    assert Address.parse(str(Address.parse("10.0.0.5:443"))) == Address("10.0.0.5", 443)


@pytest.mark.parametrize(
    ("text", "words"), [("10.0.0.5", "needs a port"), ("edge:0", "out of range")]
)
def test_connect_to_refusals(text: str, words: str) -> None:
    with pytest.raises(InvalidArgument, match=words):
        DomainUrl.parse("store.test.com", connect_to=text)


def test_install_names_keep_wildcards_and_refuse_addresses() -> None:
    assert install_name("*.TEST.com.") == "*.test.com"
    assert install_name("bücher.test.com") == "xn--bcher-kva.test.com"
    for bad in ("", "../etc/passwd", "a:1", "a b.test.com", "192.0.2.1"):
        with pytest.raises(InvalidArgument):
            install_name(bad)
