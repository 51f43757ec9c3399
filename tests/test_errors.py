"""The error tree: every ``CertdeskError`` subclass in certdesk is drawn in the docstring
of ``certdesk.errors`` with its module, code, HTTP status and exit code, under its parent;
and the API and the command line answer each with the status and exit code it carries."""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass

import pytest

import certdesk
import certdesk.errors
from certdesk.cli.output import exit_code_for
from certdesk.errors import CertdeskError

LINE = re.compile(
    r"^(?P<lead>[ │├└─]*?)(?P<name>[A-Z]\w+)\s+(?P<module>certdesk[\w.]*)\s+"
    r"(?P<code>[a-z-]+)\s+(?P<status>\d{3})\s+(?P<exit>\d+)\s*$"
)


@dataclass(frozen=True)
class Drawn:
    name: str
    module: str
    code: str
    status: int
    exit: int
    parent: str | None


def _drawn() -> dict[str, Drawn]:
    """The tree in the docstring: each line's class, facts and parent (by indentation)."""
    doc = certdesk.errors.__doc__ or ""
    found: dict[str, Drawn] = {}
    stack: list[tuple[int, str]] = []
    base: int | None = None
    for line in doc.splitlines():
        match = LINE.match(line.strip("\n"))
        if match is None:
            continue
        column = match.start("name")
        if base is None:
            base = column
        depth = (column - base) // 4
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1] if stack else None
        name = match["name"]
        assert name not in found, f"{name} is drawn twice"
        found[name] = Drawn(
            name, match["module"], match["code"], int(match["status"]), int(match["exit"]), parent
        )
        stack.append((depth, name))
    return found


def _classes() -> list[type[CertdeskError]]:
    """Every subclass of CertdeskError that certdesk's own modules define."""
    for module in pkgutil.walk_packages(certdesk.__path__, "certdesk."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    seen: list[type[CertdeskError]] = []
    todo: list[type[CertdeskError]] = [CertdeskError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("certdesk.") and cls not in seen:
            seen.append(cls)
        todo.extend(cls.__subclasses__())
    return seen


def test_the_docstring_draws_every_error_class_as_it_is() -> None:
    drawn = _drawn()
    classes = _classes()
    assert len(drawn) >= 30
    names = [cls.__name__ for cls in classes]
    assert len(set(names)) == len(names), "two error classes share a name"
    for cls in classes:
        line = drawn.get(cls.__name__)
        assert line is not None, f"{cls.__module__}.{cls.__name__} is not in certdesk.errors' tree"
        assert (line.module, line.code) == (cls.__module__, cls.code), cls
        assert (line.status, line.exit) == (cls.http_status, cls.exit_code), cls
        parent = cls.__bases__[0]
        expected = None if cls is CertdeskError else parent.__name__
        assert line.parent == expected, f"{cls.__name__} is drawn under {line.parent}"
    assert set(drawn) == set(names), "the tree names a class that does not exist"


def test_every_error_class_carries_a_status_and_an_exit_code() -> None:
    for cls in _classes():
        assert "code" in vars(cls), f"{cls.__name__} has no code of its own"
        assert 400 <= cls.http_status <= 599, cls
        assert cls.exit_code in (1, 2), cls
        # A refusal after the input was judged (exit 1) is a 4xx the caller can act on.
        if cls.exit_code == 1:
            assert cls.http_status in (403, 404, 409, 422), cls


def test_a_new_subclass_is_caught_by_the_tree_test() -> None:
    class Undrawn(CertdeskError):
        code = "undrawn"

    Undrawn.__module__ = "certdesk.somewhere"
    try:
        with pytest.raises(AssertionError, match="Undrawn"):
            test_the_docstring_draws_every_error_class_as_it_is()
    finally:
        Undrawn.__module__ = __name__


@pytest.mark.parametrize(
    ("code", "status", "exit_code"),
    [
        # The README's API status list and exit-code table.
        ("wrong-password", 400, 2),
        ("invalid-argument", 400, 2),
        ("invalid-subject", 400, 2),
        ("key-mismatch", 400, 2),
        ("too-large", 413, 2),
        ("unauthenticated", 401, 2),
        ("login-failed", 401, 2),
        ("forbidden", 403, 1),
        ("csrf-failed", 403, 2),
        ("not-found", 404, 1),
        ("conflict", 409, 1),
        ("duplicate", 409, 1),
        ("refused", 422, 1),
        ("rate-limited", 429, 2),
        ("vault-locked", 503, 2),
        ("store-unavailable", 503, 2),
        ("busy", 503, 2),
        ("send-failed", 502, 2),
        ("deploy-failed", 502, 2),
    ],
)
def test_documented_statuses_and_exit_codes(code: str, status: int, exit_code: int) -> None:
    classes = [cls for cls in _classes() if cls.code == code]
    assert classes, code
    for cls in classes:
        assert cls.http_status == status, cls
        error = cls.__new__(cls)
        assert exit_code_for(error) == exit_code, cls
