"""Every command's ``--help`` renders, and the internal-error handler cannot fail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from certdesk.cli import app
from certdesk.cli.app import _internal_error
from certdesk.cli.output import err


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, sub in getattr(command, "commands", {}).items():
        yield from _paths(sub, (*prefix, name))


COMMANDS = sorted(_paths(typer.main.get_command(app)))


def test_the_command_tree_is_walked() -> None:
    assert ("domain", "add") in COMMANDS
    assert len(COMMANDS) > 20


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "certdesk")
def test_help_renders(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_help_shows_brackets_as_written() -> None:
    result = CliRunner().invoke(app, ["domain", "add", "--help"])
    assert result.exit_code == 0
    assert "https://name[:port][/path]" in result.output


def test_internal_error_prints_markup_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    _internal_error(ValueError("closing tag '[/path]' and [bold]x"))
    printed = capsys.readouterr().err
    assert "internal error: ValueError: closing tag '[/path]' and [bold]x" in printed
    assert "CERTDESK_DEBUG=1" in printed


def test_internal_error_survives_a_broken_console(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("console gone")

    monkeypatch.setattr(err, "print", broken)
    _internal_error(KeyError("k"))
    assert "internal error: KeyError" in capsys.readouterr().err
