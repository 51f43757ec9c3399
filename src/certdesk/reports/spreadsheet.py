"""CSV that a spreadsheet opens as data, never as formulas (OWASP's "CSV injection" rule).

Every CSV certdesk writes goes through ``csv_writer``: a text cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with a single quote,
so that Excel, LibreOffice and Google Sheets show it as text instead of running it
(``=HYPERLINK(...)``, ``=cmd|' /C calc'!A0``). Numbers written as numbers (``-3`` days
left) cannot be formulas and are left as they are.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str | int | float:
    """``value`` as a CSV cell that cannot start a formula."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


class _Writes(Protocol):
    def write(self, text: str, /) -> object: ...


class SafeWriter:
    """``csv.writer`` whose every cell went through ``safe_cell``."""

    def __init__(self, out: _Writes) -> None:
        self._writer = csv.writer(out, lineterminator="\r\n")

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(cell) for cell in row])


def csv_writer(out: _Writes) -> SafeWriter:
    """The one CSV writer of certdesk: RFC 4180 lines, cells neutralised."""
    return SafeWriter(out)
