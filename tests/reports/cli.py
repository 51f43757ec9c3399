"""Running ``certdesk`` in-process on a chosen data folder and database.

The command line keeps its opened desk in ``certdesk.cli.state.state`` for the life of
the process; each run here starts from a fresh state and closes it afterwards, as a new
process would.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from certdesk.cli import app
from certdesk.cli.state import state
from tests.cli.conftest import Run


def _reset() -> None:
    state.close()
    state.home = None
    state._settings = None


@pytest.fixture
def certdesk_cli() -> Iterator[object]:
    def run(*args: str, env: dict[str, str]) -> Run:
        _reset()
        try:
            result = CliRunner(env=env).invoke(app, list(args))
        finally:
            _reset()
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Run(result.exit_code, result.stdout, result.stderr)

    yield run
    _reset()
