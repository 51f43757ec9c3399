from __future__ import annotations

import ipaddress

import pytest

from certdesk.monitor.address import literal_ip, why_blocked


@pytest.mark.parametrize(
    ("ip", "blocked"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("0.0.0.0", "unspecified"),  # noqa: S104
        ("::ffff:127.0.0.1", "loopback"),
        ("100.64.0.1", "not globally routable"),
        ("224.0.0.1", "multicast"),
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
    ],
)
def test_why_blocked(ip: str, blocked: str | None) -> None:
    reason = why_blocked(ipaddress.ip_address(ip))
    if blocked is None:
        assert reason is None
    else:
        assert reason is not None
        assert blocked in reason


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "::1", "[::1]", "[2001:db8::1]", "::ffff:1.2.3.4", "fe80::1%eth0",
     "store.test.com", "1.2.3", "1.2.3.4.5", "256.1.1.1", "0x7f.1.1.1", "123", "",
     "١٢٣.1.1.1", "1.2.3.4.", "01.2.3.4"],
)  # fmt: skip
def test_literal_ip_is_what_ipaddress_reads(host: str) -> None:
    try:
        expected = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        expected = None
    assert literal_ip(host) == expected
