"""Reading what the command line is given: files (size-limited), passwords, instants.

A password is taken from a file (its one trailing newline dropped), from an
environment variable, or from the command line. The first two keep it out of the
shell history and of ``ps``, where anyone on the machine can read a command line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from certdesk.errors import InvalidArgument, TooLarge, Unreadable
from certdesk.pki import DEFAULT_MAX_BYTES

PASSWORD_HELP = (
    "Prefer --password-file or --password-env: a password typed on the command line "
    "is kept in the shell history and visible to other users in 'ps'."
)


def read_input(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, what: str = "file") -> bytes:
    """The bytes of ``path`` (``-`` for standard input), refusing more than ``max_bytes``."""
    try:
        if str(path) == "-":
            data = sys.stdin.buffer.read(max_bytes + 1)
        else:
            if path.is_dir():
                raise Unreadable(
                    f"{path} is a folder, not a {what}", hint=f"give the {what} itself"
                )
            with path.open("rb") as handle:
                data = handle.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise Unreadable(f"{path}: no such {what}", hint="check the path") from exc
    except PermissionError as exc:
        raise Unreadable(
            f"{path}: permission denied", hint=f"check that you may read the {what}"
        ) from exc
    except OSError as exc:
        raise Unreadable(f"{path}: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise TooLarge(
            f"{path} is larger than the limit of {max_bytes:,} bytes",
            hint="a certificate file is a few kilobytes: check that this is the right file",
        )
    return data


def read_password(
    file: Path | None, env: str | None, literal: str | None, *, option: str = "--password"
) -> bytes | None:
    """The password given by exactly one of the three ways, as UTF-8 bytes, or None."""
    given = [x for x in (file, env, literal) if x is not None]
    if len(given) > 1:
        raise InvalidArgument(
            f"give the password only once: {option}-file, {option}-env or {option}"
        )
    if file is not None:
        raw = read_input(file, max_bytes=64 * 1024, what="password file")
        if raw.endswith(b"\r\n"):
            raw = raw[:-2]
        elif raw.endswith(b"\n"):
            raw = raw[:-1]
        return raw
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise InvalidArgument(
                f"the environment variable {env} is not set",
                hint=f"export {env}=... before running the command, or use {option}-file",
            )
        return value.encode("utf-8")
    if literal is not None:
        return literal.encode("utf-8")
    return None


def write_output(path: Path, data: bytes, *, secret: bool, force: bool) -> None:
    """Write ``data`` to ``path`` atomically; mode 0600 when it holds a private key.

    An existing file is kept unless ``force``: nothing is lost by a mistyped name.
    """
    if path.exists() and not force:
        raise InvalidArgument(
            f"{path} exists already", hint="choose another --out, or add --force to replace it"
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidArgument(f"the folder {parent} does not exist")
    tmp = parent / f".{path.name}.{os.getpid()}.tmp"
    mode = 0o600 if secret else 0o644
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InvalidArgument(f"cannot write {path}: {exc.strerror or exc}") from exc
