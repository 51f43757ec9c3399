"""The Typer application and the one place where errors become exit codes."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from cryptography.utils import CryptographyDeprecationWarning
from rich.markup import escape

from certdesk import __version__
from certdesk.cli import accounts, acme, files, flows, monitoring, serving
from certdesk.cli.output import EXIT_INTERNAL, err
from certdesk.cli.state import state

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
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            envvar="CERTDESK_HOME",
            help="The data folder (database, master key, outbox). "
            "Default: $XDG_DATA_HOME/certdesk or ~/.local/share/certdesk.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Take in, check, convert, install and watch the TLS certificates of custom domains."""
    state.home = home


files.register(app)
flows.register(app)
monitoring.register(app)
serving.register(app)
app.add_typer(accounts.tenant_app, name="tenant")
app.add_typer(accounts.domain_app, name="domain")
app.add_typer(acme.acme_app, name="acme")


def main() -> None:
    """Entry point of the ``certdesk`` console script and ``python -m certdesk``."""
    # pyca warns about certificates it will refuse in a future release (a negative serial,
    # a long country name): certdesk reads them as browsers still do, quietly.
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)
    try:
        app(prog_name="certdesk")
    except SystemExit:
        state.close()
        raise
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug: say so plainly, and keep the traceback for debugging
        if os.environ.get("CERTDESK_DEBUG"):
            raise
        _internal_error(exc)
        sys.exit(EXIT_INTERNAL)


def _internal_error(exc: BaseException) -> None:
    """Say plainly that certdesk has a bug; this must not fail, whatever ``exc`` holds."""
    text = (
        f"internal error: {type(exc).__name__}: {exc}\n"
        "This is a bug in certdesk. Run again with CERTDESK_DEBUG=1 for the traceback, "
        "and report it."
    )
    try:
        err.print(escape(text), style="bold red", highlight=False)
    except Exception:  # the console itself failed: fall back to the bare stream
        with contextlib.suppress(Exception):
            sys.stderr.write(text + "\n")
