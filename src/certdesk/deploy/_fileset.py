"""Writing files so that a reader never sees half of one, and undoing a set of writes.

``write_atomic`` creates a temporary file beside the target with mode 0600 (so a key
is never readable by others, whatever the umask, even while it is being written),
writes and fsyncs it, sets the final mode, renames it over the target and fsyncs the
folder. ``Journal`` keeps what one set of writes replaced (the previous bytes and mode,
or that the file was absent) in a private folder, under that set's id, so that
``restore(id)`` puts back exactly what that set replaced — and nothing when the journal
now belongs to another set (a later deploy wrote, or the record was already used).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
PUBLIC_FILE = 0o644
PUBLIC_DIR = 0o755


@dataclass(frozen=True, slots=True)
class Write:
    """One file to write: its bytes and its final mode; ``data`` None: the file must not
    be there (a generated file an option no longer asks for)."""

    path: Path
    data: bytes | None
    mode: int


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` by ``data`` with ``mode`` in one rename; the temporary file is 0600."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, PRIVATE_FILE)
    try:
        try:
            os.fchmod(fd, PRIVATE_FILE)  # whatever the umask did, never more than 0600
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dir(folder: Path, mode: int = PUBLIC_DIR) -> None:
    """Create ``folder`` (and its parents) if missing; an existing one keeps its mode."""
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, mode)


def differs(write: Write) -> bool:
    """Whether writing ``write`` would change the file (its bytes or its mode, or that it
    is there when it must not be)."""
    try:
        st = os.stat(write.path, follow_symlinks=False)
    except FileNotFoundError:
        return write.data is not None
    if write.data is None:
        return True
    if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != write.mode:
        return True
    return write.path.read_bytes() != write.data


def apply(writes: Sequence[Write], journal: Journal, token: str) -> tuple[Path, ...]:
    """Write what differs, after recording in ``journal``, under ``token``, what it replaces.

    Returns the paths written. When nothing differs nothing is written and no record
    is made under ``token`` (there is nothing to undo); the journal of an earlier set
    of writes is left alone, and ``restore(token)`` will not touch it.
    """
    changed = [w for w in writes if differs(w)]
    if not changed:
        return ()
    journal.begin((w.path for w in changed), token)
    for write in changed:
        if write.data is None:
            write.path.unlink()
            fsync_dir(write.path.parent)
            continue
        make_dir(write.path.parent)
        write_atomic(write.path, write.data, write.mode)
    return tuple(w.path for w in changed)


def new_token() -> str:
    """A fresh id for one set of writes (one deploy)."""
    return secrets.token_hex(12)


class Journal:
    """What the last set of writes replaced, kept in ``folder`` (mode 0700) with its id.

    There is one record at a time: a new set of writes replaces the record of the
    previous one. So a record whose id is still there is the latest set of writes,
    and putting it back undoes exactly that set.
    """

    INDEX = "index.json"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def pending(self) -> bool:
        return (self.folder / self.INDEX).is_file()

    @property
    def token(self) -> str | None:
        """The id of the set of writes recorded now; None when there is no record."""
        try:
            index = json.loads((self.folder / self.INDEX).read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            return ""  # unreadable: it belongs to no set of writes anyone can name
        token = index.get("token") if isinstance(index, dict) else None
        return token if isinstance(token, str) else ""

    def holds(self, token: str) -> bool:
        return bool(token) and self.token == token

    def begin(self, paths: Iterable[Path], token: str) -> None:
        """Forget the previous record and record, under ``token``, the state of ``paths``."""
        self.clear()
        make_dir(self.folder, PRIVATE_DIR)
        entries: list[dict[str, object]] = []
        for n, path in enumerate(paths):
            entry: dict[str, object] = {"path": str(path), "saved": None, "mode": None}
            try:
                st = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is not None and stat.S_ISREG(st.st_mode):
                saved = f"{n}.bin"
                write_atomic(self.folder / saved, path.read_bytes(), PRIVATE_FILE)
                entry["saved"] = saved
                entry["mode"] = stat.S_IMODE(st.st_mode)
            entries.append(entry)
        body = {"format": 2, "token": token, "entries": entries}
        index = json.dumps(body, indent=2).encode() + b"\n"
        write_atomic(self.folder / self.INDEX, index, PRIVATE_FILE)

    def restore(self, token: str) -> tuple[Path, ...] | None:
        """Put back every file recorded under ``token`` (or remove it if it was absent);
        then forget the record.

        Returns the paths put back or removed; None, touching nothing, when the journal
        holds no record under ``token``.
        """
        if not self.holds(token):
            return None
        index = json.loads((self.folder / self.INDEX).read_text())
        done: list[Path] = []
        for entry in index["entries"]:
            path = Path(entry["path"])
            if entry["saved"] is None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    fsync_dir(path.parent)
            else:
                data = (self.folder / entry["saved"]).read_bytes()
                if differs(Write(path, data, entry["mode"])):
                    write_atomic(path, data, entry["mode"])
            done.append(path)
        self.clear()
        return tuple(done)

    def forget(self, token: str) -> bool:
        """Drop the record of ``token`` (its writes are kept); False if it is not there."""
        if not self.holds(token):
            return False
        self.clear()
        return True

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.folder / self.INDEX).unlink()
        if self.folder.is_dir():
            shutil.rmtree(self.folder)
