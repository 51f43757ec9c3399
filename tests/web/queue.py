"""Running the portal's queued work in a test: what the on-demand workers of
``certdesk serve`` do (``application.on_demand``), one request after another in the
test's thread, for an app made without ``serve``'s lifespan."""

from __future__ import annotations

import re

from fastapi import FastAPI

from certdesk.application.on_demand import Runner, run_one

INSTALL_PAGE = re.compile(r'href="/installs/(\d+)"')


def work_off(app: FastAPI, worker: str = "test-worker") -> int:
    """Run every queued request, as ``serve``'s workers would; how many ran."""
    desk = app.state.desk
    runner = Runner(desk, lambda: app.state.settings, lambda: app.state.installer)
    count = 0
    while run_one(desk, runner, worker=worker, concurrency=5):
        count += 1
    return count


def install_page_of(html: str) -> str:
    """The address of the install page that an answer page follows."""
    found = INSTALL_PAGE.search(html)
    assert found, "the page follows no install"
    return f"/installs/{found.group(1)}"
