"""The Typer application and the one place where errors become exit codes."""

from __future__ import annotations

import os
import sys

import typer

from certdesk import __version__
from certdesk.cli import files
from certdesk.cli.output import EXIT_INTERNAL, err

app = typer.Typer(
    name="certdesk",
    help="Take in, check, convert, install and watch the TLS certificates of custom domains.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"certdesk {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Take in, check, convert, install and watch the TLS certificates of custom domains."""


files.register(app)


def main() -> None:
    """Entry point of the ``certdesk`` console script and ``python -m certdesk``."""
    try:
        app(prog_name="certdesk")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug: say so plainly, and keep the traceback for debugging
        if os.environ.get("CERTDESK_DEBUG"):
            raise
        err.print(
            f"[bold red]internal error[/]: {type(exc).__name__}: {exc}\n"
            "This is a bug in certdesk. Run again with CERTDESK_DEBUG=1 for the traceback, "
            "and report it."
        )
        sys.exit(EXIT_INTERNAL)
