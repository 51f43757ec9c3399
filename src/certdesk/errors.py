"""The one error root of certdesk.

Every refusal certdesk makes is a ``CertdeskError`` with a stable ``code`` that
scripts, the API and the CLI's exit codes rely on, a ``message`` that says what
is wrong, and what to do about it: a ``fix`` (a :class:`certdesk.fixes.Fix`, which each
interface words for its reader: a command for the CLI, an endpoint for the API, a page for
the portal) or, for advice that reads the same for everyone, a plain ``hint`` that names
no command, option, endpoint or page. Each class also carries the
HTTP status the API and the portal answer it with (``http_status``) and the exit code
of the command line (``exit_code``: 1 when the input was read and judged, 2 when it
cannot be used or certdesk cannot act now), inherited from its parent unless it says
otherwise. The whole tree, wherever each class lives (``tests/test_errors.py`` fails
when a class is missing here or its line does not match the class)::

    class                      module                        code                     status exit
    CertdeskError              certdesk.errors               error                    400    2
    ├── InputError             certdesk.errors               invalid-input            400    2
    │   ├── Unreadable         certdesk.errors               unreadable               400    2
    │   ├── TooLarge           certdesk.errors               too-large                413    2
    │   ├── Malformed          certdesk.errors               malformed                400    2
    │   ├── UnsupportedFormat  certdesk.errors               unsupported-format       400    2
    │   ├── NoCertificate      certdesk.errors               no-certificate           400    2
    │   ├── NoPrivateKey       certdesk.errors               no-private-key           400    2
    │   ├── WrongPassword      certdesk.errors               wrong-password           400    2
    │   ├── TooCostly          certdesk.errors               too-costly               422    2
    │   └── KeyTooLarge        certdesk.errors               key-too-large            422    2
    ├── KeyMismatch            certdesk.errors               key-mismatch             400    2
    ├── InvalidArgument        certdesk.errors               invalid-argument         400    2
    │   ├── SubjectInvalid     certdesk.pki.csr              invalid-subject          400    2
    │   └── WeakPassword       certdesk.desk.passwords       weak-password            400    2
    ├── RateLimited            certdesk.errors               rate-limited             429    2
    │   ├── TooManyReads       certdesk.application.readpool rate-limited             429    2
    │   ├── ProbeRateLimited   certdesk.desk.work_requests   rate-limited             429    2
    │   └── TooManyAttempts    certdesk.desk.logins          rate-limited             429    2
    ├── Unavailable            certdesk.errors               unavailable              503    2
    │   ├── StoreUnavailable   certdesk.store.db             store-unavailable        503    2
    │   ├── VaultLocked        certdesk.store.vault          vault-locked             503    2
    │   └── ReadersBusy        certdesk.application.readpool busy                     503    2
    ├── NotFound               certdesk.desk.context         not-found                404    1
    ├── Forbidden              certdesk.desk.context         forbidden                403    1
    ├── Conflict               certdesk.desk.context         conflict                 409    1
    │   ├── Duplicate          certdesk.desk.context         duplicate                409    1
    │   └── OwnershipNotVerified certdesk.desk.context       ownership-not-verified   409    1
    ├── Refused                certdesk.desk.context         refused                  422    1
    ├── LoginFailed            certdesk.desk.accounts        login-failed             401    2
    ├── DeployError            certdesk.deploy.base          deploy-failed            502    2
    ├── SendError              certdesk.notify.mailers       send-failed              502    2
    ├── AcmeFailed             certdesk.acme.problems        acme-failed              502    2
    ├── Unauthenticated        certdesk.http.auth            unauthenticated          401    2
    ├── CsrfFailed             certdesk.http.auth            csrf-failed              403    2
    └── PasswordChangeRequired certdesk.http.auth            password-change-required 403    2

Errors may name the input they are about in ``field`` (``password``, ``file``,
``urls``, ``common_name``…: the name of the use case's parameter). The desk sets it where
it refuses an input, with :func:`about` around the code that reads it; the portal shows
the error next to that field of its form and the API adds ``field`` to its error JSON.

A new error code is a subclass of the closest class here (in this module, or in the
module of the layer that raises it), with its ``code`` and, where they differ from its
parent's, its ``http_status`` and ``exit_code``; then a line in this tree and, for the
command line, in the README's exit-code table.

Third-party exceptions are translated once, where certdesk calls the library,
with ``raise ... from exc``. Errors never log themselves and never carry a
password or key material.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from certdesk.fixes import Fix


class CertdeskError(Exception):
    """Root of every error certdesk raises on purpose."""

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 400
    exit_code: ClassVar[int] = 2

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        field: str | None = None,
        fix: Fix | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.fix = fix
        self.field = field if field is not None or fix is None else fix.field

    def to_dict(self, hint: str | None = None) -> dict[str, Any]:
        """The error as JSON, with ``hint`` (the fix worded for the reader) in place of
        the plain one, and the structured ``fix`` when there is one."""
        found: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "hint": hint if hint is not None else self.hint,
        }
        if self.field is not None:
            found["field"] = self.field
        if self.fix is not None:
            found["fix"] = self.fix.to_json()
        return found

    def __str__(self) -> str:
        return self.message


class InputError(CertdeskError):
    """The bytes given to certdesk cannot be used."""

    code: ClassVar[str] = "invalid-input"


class Unreadable(InputError):
    code: ClassVar[str] = "unreadable"


class TooLarge(InputError):
    code: ClassVar[str] = "too-large"
    http_status: ClassVar[int] = 413


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
    http_status: ClassVar[int] = 422


class KeyTooLarge(InputError):
    """A key larger than certdesk takes (checking it would cost seconds of CPU)."""

    code: ClassVar[str] = "key-too-large"
    http_status: ClassVar[int] = 422


class KeyMismatch(CertdeskError):
    code: ClassVar[str] = "key-mismatch"


class InvalidArgument(CertdeskError):
    code: ClassVar[str] = "invalid-argument"


class RateLimited(CertdeskError):
    """Too many of something at once (login attempts, files being read, probes asked):
    send it again later."""

    code: ClassVar[str] = "rate-limited"
    http_status: ClassVar[int] = 429


class Unavailable(CertdeskError):
    """Something certdesk needs cannot serve now (the database, the vault, the readers):
    nothing was changed."""

    code: ClassVar[str] = "unavailable"
    http_status: ClassVar[int] = 503


@contextmanager
def about(field: str, *kinds: type[CertdeskError]) -> Iterator[None]:
    """An error raised inside (one of ``kinds``; by default any) that names no input yet is
    about the input ``field``."""
    try:
        yield
    except CertdeskError as error:
        if error.field is None and isinstance(error, kinds or CertdeskError):
            error.field = field
        raise


__all__ = [
    "CertdeskError",
    "InputError",
    "InvalidArgument",
    "KeyMismatch",
    "KeyTooLarge",
    "Malformed",
    "NoCertificate",
    "NoPrivateKey",
    "RateLimited",
    "TooCostly",
    "TooLarge",
    "Unavailable",
    "Unreadable",
    "UnsupportedFormat",
    "WrongPassword",
    "about",
]
