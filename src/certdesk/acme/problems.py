"""What an ACME server said when it refused: RFC 8555's problem document, kept whole."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from certdesk.errors import CertdeskError

URN = "urn:ietf:params:acme:error:"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem document (RFC 7807/8555 §6.7): ``type``, ``detail``, the identifier it
    is about and its subproblems. ``type`` is the full URN, or a certdesk word for what
    went wrong before the CA could answer (``connection``, ``timeout``, ``dns``)."""

    type: str
    detail: str
    identifier: str | None = None
    subproblems: tuple[Problem, ...] = ()

    @property
    def code(self) -> str:
        """The short code: ``rateLimited`` for ``urn:ietf:params:acme:error:rateLimited``."""
        return self.type.removeprefix(URN)

    def describe(self) -> str:
        """One line for a person: the CA's detail and each subproblem's."""
        text = f"{self.detail} ({self.code})" if self.detail else self.code
        for sub in self.subproblems:
            who = f"{sub.identifier}: " if sub.identifier else ""
            text += f"; {who}{sub.detail or sub.code}"
        return text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "detail": self.detail}
        if self.identifier:
            out["identifier"] = self.identifier
        if self.subproblems:
            out["subproblems"] = [s.to_json() for s in self.subproblems]
        return out


class AcmeFailed(CertdeskError):
    """The ACME server refused or could not be reached; ``problem`` is what it said (or
    what went wrong on the way), ``retry_after`` when it asked to be left alone until."""

    code: ClassVar[str] = "acme-failed"
    http_status: ClassVar[int] = 502
    exit_code: ClassVar[int] = 2

    def __init__(
        self,
        problem: Problem,
        *,
        retry_after: datetime | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(f"the certificate authority: {problem.describe()}", hint=hint)
        self.problem = problem
        self.retry_after = retry_after

    def to_dict(self, hint: str | None = None) -> dict[str, Any]:
        return {**super().to_dict(hint), "problem": self.problem.to_json()}
