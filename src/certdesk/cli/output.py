"""How the command line prints: readable text for people, stable JSON for scripts."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from certdesk.cli.hints import hint_for
from certdesk.errors import CertdeskError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 70

# Piped or captured output is not cut at 80 columns: tables keep whole URLs and names.
_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "200"))
out = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)


def print_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def exit_code_for(error: CertdeskError) -> int:
    """The exit code its class carries: 1 for a refusal after the input was read and
    judged, 2 for input that cannot be used (see ``certdesk.errors``)."""
    return error.exit_code


def report_error(error: CertdeskError, *, as_json: bool) -> None:
    """Print a refusal: as JSON on stdout for ``--json``, else on stderr for people."""
    if as_json:
        print_json({"schema": "certdesk.error/1", "error": error.to_dict(hint_for(error))})
        return
    err.print(f"[bold red]error[/]{_escape(f'[{error.code}]')}: {_escape(error.message)}")
    for finding in getattr(error, "findings", ()):
        sev = finding.severity.value
        err.print(f"  {sev}{_escape(f'[{finding.code}]')}: {_escape(finding.message)}")
        err.print(f"    fix: {_escape(finding.fix)}")
    hint = hint_for(error)
    if hint:
        err.print(f"  [bold]fix:[/] {_escape(hint)}")


@contextmanager
def refusals(as_json: bool) -> Iterator[None]:
    """Turn a certdesk refusal into its message and exit code (1 or 2)."""
    try:
        yield
    except CertdeskError as error:
        report_error(error, as_json=as_json)
        raise typer.Exit(exit_code_for(error)) from None


def _escape(text: str) -> str:
    return escape(text)
