"""The interfaces stay apart: read every import (``ast``, function-level ones included)
of ``certdesk.api``, ``certdesk.web``, ``certdesk.http`` and ``certdesk.cli``.

The same rules are import-linter contracts in ``pyproject.toml`` (``lint-imports``, run by
``make lint``) beside the whole layering; this test keeps them in the pytest run as well.

- ``api`` and ``web`` never import each other; what they share is ``certdesk.http``, which
  imports neither (``certdesk.asgi`` alone mounts both).
- No interface module reaches past the desk to the database: no ``sqlalchemy``, no
  ``certdesk.store`` — except the modules listed in ``STILL_ON_THE_STORE`` (empty now),
  which would still compute what a desk use case should.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import certdesk

ROOT = Path(certdesk.__file__).parent

FORBIDDEN = {
    "api": ("certdesk.web", "certdesk.cli", "certdesk.asgi", "certdesk.application.server"),
    "web": ("certdesk.api", "certdesk.cli", "certdesk.asgi", "certdesk.application.server"),
    "http": (
        "certdesk.api",
        "certdesk.web",
        "certdesk.cli",
        "certdesk.asgi",
        "certdesk.application.server",
    ),
    "cli": ("certdesk.api", "certdesk.web", "certdesk.http", "certdesk.asgi"),
}
BELOW_THE_DESK = ("sqlalchemy", "certdesk.store")
# Modules that still compute what a desk use case should, each with the reason (none left:
# /metrics formats desk.metrics.metrics_snapshot, key rotation is
# application.compose.rotate_vault).
STILL_ON_THE_STORE: dict[str, str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str | None = None) -> Iterator[str]:
    """Every module ``path`` (the module ``module``) imports, as an absolute dotted name
    (``from a import b`` yields ``a.b`` as well as ``a``, so ``from certdesk import api``
    is seen)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield module
            for alias in node.names:
                yield f"{module}.{alias.name}"


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _modules(package: str) -> list[Path]:
    found = sorted((ROOT / package).rglob("*.py"))
    assert found, package
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_an_interface_never_imports_another(package: str) -> None:
    wrong = [
        (_module_name(path), name)
        for path in _modules(package)
        for name in imports_of(path)
        if _within(name, FORBIDDEN[package])
    ]
    assert not wrong, wrong


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_interface_reaches_the_store(package: str) -> None:
    wrong = [
        (_module_name(path), name)
        for path in _modules(package)
        if _module_name(path) not in STILL_ON_THE_STORE
        for name in imports_of(path)
        if _within(name, BELOW_THE_DESK)
    ]
    assert not wrong, wrong


def test_the_scan_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The reader above catches what it must (else both tests would pass on anything)."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import sqlalchemy.orm\n"
        "from certdesk import api\n"
        "def later():\n"
        "    from certdesk.store.db import Store\n"
        "    from ..http import auth\n",
        encoding="utf-8",
    )
    found = set(imports_of(sample, "certdesk.web.sample"))
    assert {"sqlalchemy.orm", "certdesk.api", "certdesk.store.db", "certdesk.http.auth"} <= found
    assert _within("certdesk.api", FORBIDDEN["web"])
    assert _within("sqlalchemy.orm", BELOW_THE_DESK)
