"""Every top-level package and module of certdesk has a place in the import-linter contracts
of ``pyproject.toml`` (which ``make lint`` checks with ``lint-imports``): a new package left
out of them would be held by no layer rule at all."""

from __future__ import annotations

import tomllib
from pathlib import Path

import certdesk

ROOT = Path(certdesk.__file__).parent
PYPROJECT = ROOT.parent.parent / "pyproject.toml"
# Outside the layers: the entry points, which nothing imports.
ENTRY_POINTS = {"certdesk.__main__"}


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def _in_layers() -> set[str]:
    layers = _contracts()["layers"]["layers"]
    assert isinstance(layers, list)
    return {name.strip() for layer in layers for name in layer.replace("|", ":").split(":")}


def _shared() -> set[str]:
    shared = _contracts()["shared-modules"]["source_modules"]
    assert isinstance(shared, list)
    return set(shared)


def test_every_top_level_module_has_a_place() -> None:
    top = {
        f"certdesk.{p.stem}" if p.is_file() else f"certdesk.{p.name}"
        for p in ROOT.iterdir()
        if (p.is_file() and p.suffix == ".py" and p.stem != "__init__")
        or (p.is_dir() and (p / "__init__.py").exists())
    }
    placed = _in_layers() | _shared() | ENTRY_POINTS
    assert top - placed == set(), "add these to [tool.importlinter] in pyproject.toml"


def test_the_layers_and_the_shared_modules_do_not_overlap() -> None:
    assert _in_layers() & _shared() == set()
    assert {"certdesk.pki", "certdesk.store", "certdesk.desk", "certdesk.application"} <= (
        _in_layers()
    )
