"""How strong a password must be: NIST SP 800-63B's rules for memorized secrets — at
least 12 characters, at most 1024, and not a common, breached or easily guessed one.

The guessing check is zxcvbn's (Dropbox's estimator, run locally: its dictionaries of
common and leaked passwords, names, words and keyboard patterns ship with the package;
nothing is sent anywhere). A password it estimates at under 10⁸ guesses (score < 3) is
refused, with zxcvbn's own warning and the way out.
"""

from __future__ import annotations

from typing import ClassVar

from zxcvbn import zxcvbn

from certdesk.errors import InvalidArgument

MIN_LENGTH = 12
MAX_LENGTH = 1024
MIN_SCORE = 3  # zxcvbn: "safely unguessable", 10^8 guesses or more
_CHECKED = 72  # zxcvbn reads at most this many characters (and slows down past it)


class WeakPassword(InvalidArgument):
    code: ClassVar[str] = "weak-password"


def check_password(password: str, *, username: str | None = None) -> None:
    """Refuse a password too short or too long (``invalid-argument``), or too easy to
    guess (``weak-password``)."""
    if len(password) < MIN_LENGTH:
        raise InvalidArgument(
            f"a password needs at least {MIN_LENGTH} characters",
            hint="use a passphrase: four or more uncommon words",
        )
    if len(password) > MAX_LENGTH:
        raise InvalidArgument(f"a password may have at most {MAX_LENGTH} characters")
    inputs = [username, "certdesk"] if username else ["certdesk"]
    result = zxcvbn(password[:_CHECKED], user_inputs=inputs)
    if result["score"] < MIN_SCORE:
        warning = str(result["feedback"].get("warning") or "").rstrip(".")
        reason = f": {warning[0].lower()}{warning[1:]}" if warning else ""
        raise WeakPassword(
            f"this password is too easy to guess{reason}",
            hint="choose another: a passphrase of four or more uncommon words, not a common "
            "password, a repeated pattern or one made from the user name",
        )


__all__ = ["MAX_LENGTH", "MIN_LENGTH", "WeakPassword", "check_password"]
