"""``certdesk serve`` applies a changed ``certdesk.toml`` without a restart: a new deploy
target is known to the portal and the API; a file that does not load is logged and the
settings in force are kept."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
from anyio.from_thread import start_blocking_portal
from fastapi import FastAPI

from certdesk.asgi import build_app
from certdesk.desk import Desk
from certdesk.settings import CONFIG_FILE, Settings

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_serve_applies_a_changed_certdesk_toml(
    desk: Desk, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(desk, settings, trust_forwarded=False, scheduler=False)
    with start_blocking_portal() as portal:
        lifespan = app.router.lifespan_context(app)
        portal.call(lifespan.__aenter__)
        try:
            check(app, desk, settings, caplog)
        finally:
            portal.call(lifespan.__aexit__, None, None, None)


def check(app: FastAPI, desk: Desk, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    config = settings.home / CONFIG_FILE
    assert app.state.settings.deploy_target("edge") is None
    assert not app.state.installer.configured
    config.write_text(
        '[deploy]\ndefault = "edge"\n\n'
        f'[deploy.targets.edge]\nkind = "files"\nfolder = "{settings.home / "edge"}"\n'
    )
    wait_for("the new target", lambda: app.state.settings.deploy_target("edge") is not None)
    assert app.state.settings.deploy_target("edge") == (
        "files",
        {"folder": str(settings.home / "edge")},
    )
    assert app.state.installer.configured
    assert desk.policy.installs
    # The requests' desk (the app's own, with its file readers) has the new policy too.
    assert app.state.desk.policy.installs

    caplog.set_level(logging.ERROR, logger="certdesk.application.server")
    config.write_text("[deploy.targets.broken]\nfolder = 1\n")
    wait_for("the refusal in the log", lambda: "not reloaded" in caplog.text)
    assert "needs kind" in caplog.text
    assert app.state.settings.deploy_target("edge") is not None  # still in force
