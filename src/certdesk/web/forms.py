"""A refusal from the desk, placed next to the form field it is about.

The desk says what is wrong once (a stable code, a message, a hint, and the input it is
about: ``error.field``); a form shows it beside that field. A ``refused`` upload
carries every finding with its fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from certdesk.desk.context import Refused
from certdesk.errors import CertdeskError
from certdesk.pki import Finding
from certdesk.pki.csr import SubjectInvalid
from certdesk.web.hints import WORDING

SUBJECT_FIELDS = {
    "CN": "common_name",
    "O": "organization",
    "OU": "unit",
    "L": "locality",
    "ST": "state",
    "C": "country",
    "SAN": "sans",
}


@dataclass(frozen=True, slots=True)
class FormError:
    code: str
    message: str
    fix: str | None


@dataclass
class Problems:
    """Errors by field name (``""``: the form as a whole) and a refusal's findings."""

    errors: dict[str, list[FormError]] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    message: str | None = None
    status: int = 422  # the answer's HTTP status when the form is shown again

    def add(self, name: str, error: FormError) -> None:
        self.errors.setdefault(name, []).append(error)

    def __bool__(self) -> bool:
        return bool(self.errors or self.findings)


def problems_of(
    error: CertdeskError, default: str = "", names: Mapping[str, str] | None = None
) -> Problems:
    """Where each part of ``error`` goes: beside the form's field for ``error.field`` (the
    desk's input name, renamed by ``names`` where the form calls it otherwise), else beside
    ``default`` (``""``: the form as a whole)."""
    found = Problems(message=error.message)
    if isinstance(error, SubjectInvalid):
        for problem in error.problems:
            found.add(
                SUBJECT_FIELDS.get(problem.field, ""),
                FormError(error.code, problem.message, WORDING.hint_for(error)),
            )
        return found
    name = (names or {}).get(error.field, error.field) if error.field else default
    found.add(name, FormError(error.code, error.message, WORDING.hint_for(error)))
    if isinstance(error, Refused):
        found.findings = error.findings
    return found


def lines(text: str) -> list[str]:
    """The non-empty entries of a textarea: one per line (commas also separate)."""
    out: list[str] = []
    for line in text.replace(",", "\n").splitlines():
        value = line.strip()
        if value:
            out.append(value)
    return out
