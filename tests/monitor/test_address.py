from __future__ import annotations

import ipaddress

import pytest

from certdesk.monitor.address import why_blocked


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
