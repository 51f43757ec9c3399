"""The one error root of certdesk.

Every refusal certdesk makes is a ``CertdeskError`` with a stable ``code`` that
scripts, the API and the CLI's exit codes rely on, a ``message`` that says what
is wrong, and a ``hint`` that says what to do about it::

    CertdeskError                      (code: "error")
    ├── InputError                     bad bytes handed to certdesk
    │   ├── Unreadable                 unreadable (no such file, permission denied)
    │   ├── TooLarge                   too-large
    │   ├── Malformed                  malformed (truncated, corrupt)
    │   ├── UnsupportedFormat          unsupported-format (a CSR, a CRL, an SSH key…)
    │   ├── NoCertificate              no-certificate
    │   ├── NoPrivateKey               no-private-key
    │   ├── WrongPassword              wrong-password (also: a password is needed)
    │   ├── TooCostly                  too-costly (reading it would cost too much work)
    │   └── KeyTooLarge                key-too-large (a key above the largest size taken)
    ├── KeyMismatch                    key-mismatch
    └── InvalidArgument                invalid-argument (a host, an instant, an option)

Third-party exceptions are translated once, where certdesk calls the library,
with ``raise ... from exc``. Errors never log themselves and never carry a
password or key material.
"""

from __future__ import annotations

from typing import ClassVar


class CertdeskError(Exception):
    """Root of every error certdesk raises on purpose."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "hint": self.hint}

    def __str__(self) -> str:
        return self.message


class InputError(CertdeskError):
    """The bytes given to certdesk cannot be used."""

    code: ClassVar[str] = "invalid-input"


class Unreadable(InputError):
    code: ClassVar[str] = "unreadable"


class TooLarge(InputError):
    code: ClassVar[str] = "too-large"


class Malformed(InputError):
    code: ClassVar[str] = "malformed"


class UnsupportedFormat(InputError):
    code: ClassVar[str] = "unsupported-format"


class NoCertificate(InputError):
    code: ClassVar[str] = "no-certificate"


class NoPrivateKey(InputError):
    code: ClassVar[str] = "no-private-key"


class WrongPassword(InputError):
    code: ClassVar[str] = "wrong-password"


class TooCostly(InputError):
    """Reading the input would take more work than certdesk allows for one file (an
    iteration count far above what any tool writes, or a job over its time limit)."""

    code: ClassVar[str] = "too-costly"


class KeyTooLarge(InputError):
    """A key larger than certdesk takes (checking it would cost seconds of CPU)."""

    code: ClassVar[str] = "key-too-large"


class KeyMismatch(CertdeskError):
    code: ClassVar[str] = "key-mismatch"


class InvalidArgument(CertdeskError):
    code: ClassVar[str] = "invalid-argument"


__all__ = [
    "CertdeskError",
    "InputError",
    "InvalidArgument",
    "KeyMismatch",
    "KeyTooLarge",
    "Malformed",
    "NoCertificate",
    "NoPrivateKey",
    "TooCostly",
    "TooLarge",
    "Unreadable",
    "UnsupportedFormat",
    "WrongPassword",
]
