"""How the command line prints: readable text for people, stable JSON for scripts."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from certdesk.errors import CertdeskError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 70

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def report_error(error: CertdeskError, *, as_json: bool) -> None:
    """Print a refusal: as JSON on stdout for ``--json``, else on stderr for people."""
    if as_json:
        print_json({"schema": "certdesk.error/1", "error": error.to_dict()})
        return
    err.print(f"[bold red]error[/]{_escape(f'[{error.code}]')}: {_escape(error.message)}")
    if error.hint:
        err.print(f"  [bold]fix:[/] {_escape(error.hint)}")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
