"""certdesk's command line: parses arguments, calls the layers below, prints the result.

Exit codes, the same for every command:

- 0: done; for ``check``, no finding is an error
- 1: ``check`` found at least one error-level finding
- 2: the input cannot be used (the error code is printed: ``wrong-password``,
  ``malformed``, ``key-mismatch``…), or the command line itself is wrong
- 70: an internal error (a bug in certdesk: please report it)
"""

from certdesk.cli.app import app, main

__all__ = ["app", "main"]
