from __future__ import annotations

import pytest

from certdesk.errors import InvalidArgument
from certdesk.monitor import ErrorKind, ProbeTarget


def test_from_url() -> None:
    target = ProbeTarget.from_url("https://Store.Test.com:8443/path")
    assert (target.host, target.port, target.url) == (
        "store.test.com",
        8443,
        "https://Store.Test.com:8443/path",
    )
    assert ProbeTarget.from_url("bücher.example").host == "xn--bcher-kva.example"
    assert ProbeTarget.from_url("https://[2001:db8::1]/").host == "2001:db8::1"


def test_expected_fingerprint_is_normalised() -> None:
    fp = "AB:" * 31 + "CD"
    assert ProbeTarget.from_url("a.test", expected_sha256=fp).expected_sha256 == "ab" * 31 + "cd"
    with pytest.raises(InvalidArgument):
        ProbeTarget.from_url("a.test", expected_sha256="abc")


def test_ports_are_checked() -> None:
    with pytest.raises(InvalidArgument):
        ProbeTarget(url="x", host="a.test", port=0)
    with pytest.raises(InvalidArgument):
        ProbeTarget(url="x", host="a.test", connect_to=("192.0.2.1", 70000))


def test_error_kinds_are_the_documented_codes() -> None:
    assert [k.value for k in ErrorKind] == [
        "refused",
        "timeout",
        "dns",
        "tls-alert",
        "tls-error",
        "untrusted",
        "name-mismatch",
        "blocked-address",
    ]
