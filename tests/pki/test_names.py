"""certdesk.pki.names: host names as browsers compare them (RFC 6125, CA/B Forum)."""

from __future__ import annotations

import ipaddress

import idna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certdesk.errors import InvalidArgument
from certdesk.pki import CertificateInfo, covers, describe, parse_host, pattern_matches
from tests.openssl_pki import OpenSSLPKI

_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
label = st.builds(
    lambda a, mid, z: a + mid + z if mid or z else a,
    st.sampled_from(_ALNUM),
    st.text(alphabet=_ALNUM + "-", max_size=8),
    st.text(alphabet=_ALNUM, max_size=1),
).filter(lambda text: not text.endswith("-"))
# The last label of a host name is never all digits (mozpkix: that would be an address).
domain = (
    st.lists(label, min_size=2, max_size=4)
    .filter(lambda labels: not labels[-1].isdigit())
    .map(".".join)
)


# --- RFC 6125 rules, example by example ----------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("store.test.com", "store.test.com", True),
        ("STORE.Test.COM", "store.test.com", True),
        ("store.test.com.", "store.test.com", False),  # an absolute presented name: never
        ("*.test.com", "store.test.com", True),
        ("*.test.com", "test.com", False),  # never the bare base
        ("*.test.com", "a.b.test.com", False),  # exactly one label
        ("*.test.com", ".test.com", False),
        ("*.com", "test.com", False),  # never a whole TLD
        ("*", "test", False),
        ("w*.test.com", "www.test.com", False),  # partial-label wildcards are not honoured
        ("*.*.test.com", "a.b.test.com", False),
        ("store.*.com", "store.test.com", False),
        ("test.com", "store.test.com", False),
        ("store.test.com", "store.test.co", False),
    ],
)
def test_pattern_rules(pattern: str, host: str, expected: bool) -> None:
    assert pattern_matches(pattern, host) is expected


def test_public_suffix_wildcard_refused_only_when_caller_says_so() -> None:
    def is_ps(name: str) -> bool:
        return name in {"co.uk", "com"}

    assert pattern_matches("*.co.uk", "shop.co.uk") is True  # without the list: two labels
    assert pattern_matches("*.co.uk", "shop.co.uk", is_ps) is False
    assert pattern_matches("*.shop.co.uk", "www.shop.co.uk", is_ps) is True


@pytest.mark.parametrize(
    ("text", "name", "port"),
    [
        ("store.test.com", "store.test.com", None),
        ("Store.Test.Com.", "store.test.com", None),
        ("store.test.com:8443", "store.test.com", 8443),
        ("https://store.test.com/shop?x=1", "store.test.com", None),
        ("https://store.test.com:8443/shop", "store.test.com", 8443),
        ("http://user:pw@store.test.com:80/", "store.test.com", 80),
        ("//store.test.com/path", "store.test.com", None),
        ("store.test.com/path/page", "store.test.com", None),
        ("  store.test.com  ", "store.test.com", None),
        ("bücher.example", "xn--bcher-kva.example", None),
        ("https://bücher.example/x", "xn--bcher-kva.example", None),
    ],
)
def test_parse_host_accepts_names_ports_and_urls(text: str, name: str, port: int | None) -> None:
    host = parse_host(text)
    assert host.name == name
    assert host.port == port
    assert host.ip is None


@pytest.mark.parametrize(
    ("text", "ip", "port"),
    [
        ("192.0.2.7", "192.0.2.7", None),
        ("192.0.2.7:443", "192.0.2.7", 443),
        ("[2001:db8::1]:8443", "2001:db8::1", 8443),
        ("2001:db8::1", "2001:db8::1", None),
        ("https://[2001:db8::1]/x", "2001:db8::1", None),
    ],
)
def test_parse_host_reads_ip_addresses(text: str, ip: str, port: int | None) -> None:
    host = parse_host(text)
    assert host.ip == ipaddress.ip_address(ip)
    assert host.port == port


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "https://",
        "bad host.com",
        "bad!host.com",
        "a..b.com",
        "store.test.com..",
        ".",
        "store.test.123",
        "https://store.test.com:99999/",
        "x" * 64 + ".com",
    ],
)
def test_parse_host_refuses_non_hosts(text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_host(text)
    assert info.value.code == "invalid-argument"


def test_ip_matches_only_ip_sans() -> None:
    host = parse_host("192.0.2.7")
    assert covers(["192.0.2.7"], [], "192.0.2.7", True, host) is False  # a DNS SAN
    assert covers([], [], "192.0.2.7", False, host) is False  # a common name
    assert covers([], ["192.0.2.7"], None, True, host) is True
    assert covers([], ["2001:db8::1"], None, True, parse_host("[2001:db8:0::1]")) is True


def test_common_name_only_when_there_is_no_san() -> None:
    host = parse_host("store.test.com")
    assert covers([], [], "store.test.com", False, host) is True
    assert covers(["www.test.com"], [], "store.test.com", True, host) is False


def test_covers_with_openssl_certificates(pki: OpenSSLPKI) -> None:
    leaf, wildcard, nosan = (describe(pki.cert(n)) for n in ("leaf", "wildcard", "nosan"))

    def ok(info: CertificateInfo, text: str) -> bool:
        return covers(
            info.dns_names, info.ip_addresses, info.common_name, info.has_san, parse_host(text)
        )

    assert ok(leaf, "https://www.test.com/basket")
    assert ok(leaf, "STORE.test.com:443")
    assert not ok(leaf, "test.com")
    assert ok(wildcard, "anything.test.com")
    assert ok(wildcard, "test.com")
    assert not ok(wildcard, "a.b.test.com")
    assert ok(nosan, "nosan.test.com")  # the CN is used only without SANs


# --- properties ------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(first=label, second=label, base=domain)
def test_wildcard_never_matches_two_labels(first: str, second: str, base: str) -> None:
    assert not pattern_matches("*." + base, f"{first}.{second}.{base}")


@settings(max_examples=100, deadline=None)
@given(base=domain)
def test_wildcard_never_matches_its_bare_base(base: str) -> None:
    assert not pattern_matches("*." + base, base)


@settings(max_examples=100, deadline=None)
@given(first=label, base=domain)
def test_wildcard_matches_exactly_one_label(first: str, base: str) -> None:
    assert pattern_matches("*." + base, f"{first}.{base}")


@settings(max_examples=100, deadline=None)
@given(name=domain, data=st.data())
def test_matching_ignores_case(name: str, data: st.DataObject) -> None:
    flips = data.draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    mixed = "".join(c.upper() if f else c for c, f in zip(name, flips, strict=True))
    assert pattern_matches(mixed, parse_host(name).name)
    assert pattern_matches(name, parse_host(mixed).name)
    assert parse_host(mixed).name == name


unicode_label = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzäöüßéèçñøåαβγδκλμπστ"),
    min_size=1,
    max_size=12,
)


def _alabel_or_none(text: str) -> str | None:
    try:
        return idna.encode(text, uts46=True).decode("ascii")
    except idna.IDNAError:
        return None


@settings(max_examples=100, deadline=None)
@given(first=unicode_label, tld=st.sampled_from(["com", "gr", "de"]))
def test_idn_u_label_and_a_label_are_equivalent(first: str, tld: str) -> None:
    u_name = f"{first}.{tld}"
    a_name = _alabel_or_none(u_name)
    if a_name is None:
        with pytest.raises(InvalidArgument):
            parse_host(u_name)
        return
    host = parse_host(u_name)
    assert host.name == a_name
    assert parse_host(a_name).name == a_name
    if u_name != a_name:
        assert not pattern_matches(u_name, host.name)  # a U-label in a certificate: never
    assert pattern_matches(a_name, host.name)
    assert pattern_matches("*." + tld + ".example", "x." + tld + ".example")
    assert pattern_matches(f"*.{a_name}", f"www.{a_name}")


@settings(max_examples=100, deadline=None)
@given(
    name=domain,
    port=st.integers(min_value=1, max_value=65535),
    path=st.lists(st.text(alphabet=_ALNUM + "._~-", max_size=8), max_size=3).map(
        lambda parts: "".join("/" + p for p in parts)
    ),
    scheme=st.sampled_from(["https://", "http://", "//"]),
)
def test_urls_are_accepted_as_hosts(name: str, port: int, path: str, scheme: str) -> None:
    host = parse_host(f"{scheme}{name}:{port}{path}")
    assert host.name == name
    assert host.port == port
    assert parse_host(f"{name}{path}").name == name


@settings(max_examples=100, deadline=None)
@given(ip=st.ip_addresses(), names=st.lists(domain, max_size=3))
def test_ip_hosts_only_match_ip_sans(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, names: list[str]
) -> None:
    host = parse_host(f"[{ip}]" if ip.version == 6 else str(ip))
    assert host.ip == ip
    assert not covers([*names, str(ip)], [], str(ip), True, host)
    assert not covers([], [], str(ip), False, host)
    assert covers(names, [str(ip)], None, True, host)
