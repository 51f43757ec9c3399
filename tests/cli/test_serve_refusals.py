"""``certdesk serve`` refuses a mistyped trusted-proxy address before it does anything:
the refusal names the address and says what to give; no first operator account made, no
server, no environment set for the worker processes."""

from __future__ import annotations

import os

import pytest

from certdesk.errors import InvalidArgument
from tests.cli.conftest import Run
from tests.deploy.servers import free_port


def test_a_mistyped_trusted_proxy_is_refused_before_the_server_starts(
    cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CERTDESK_TRUSTED_PROXIES", raising=False)
    port = str(free_port())
    done: Run = cli("serve", "--port", port, "--trusted-proxy", "10.0.0.300")
    assert done.exit_code == InvalidArgument.exit_code
    assert "'10.0.0.300' is not a proxy address" in done.stderr
    assert "10.0.0.0/24" in done.stderr  # what to give instead
    assert "certdesk on http" not in done.stderr  # refused before it said it was serving
    assert "First start" not in done.stderr  # and before the first account was made
    assert "CERTDESK_TRUSTED_PROXIES" not in os.environ
