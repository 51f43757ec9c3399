"""Targets by name: the built-ins, and plugins through the entry-point group."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from certdesk.deploy import (
    BUILTIN_TARGETS,
    ENTRY_POINT_GROUP,
    DeployError,
    FilesTarget,
    Target,
    available_targets,
    load_target,
)
from certdesk.errors import InvalidArgument
from tests.deploy.conftest import STORE, Certs

PLUGIN = '''
import itertools

from certdesk.deploy import DeployError, DeployPlan, DeployResult, HostChange, Action


class MemoryTarget:
    """A plugin's own target: keeps the fingerprints in memory, and per deploy what it
    replaced, so that a rollback undoes that deploy only."""

    address = None

    def __init__(self, options):
        self.name = options.get("name", "memory")
        self.installed = {}
        self.undo = {}
        self.ids = itertools.count(1)

    def plan(self, items):
        return DeployPlan(self.name, tuple(
            HostChange(i.hostname, Action.ADD, i.sha256, None, i.not_after, (i.url,))
            for i in items))

    def deploy(self, items):
        token = str(next(self.ids))
        self.undo = {token: {i.hostname: self.installed.get(i.hostname) for i in items}}
        self.installed.update({i.hostname: i.sha256 for i in items})
        return DeployResult(self.plan(items), undo=token)

    def config_test(self):
        pass

    def reload(self):
        pass

    def rollback(self, result):
        if result.undo is None:
            return
        if result.undo not in self.undo:
            raise DeployError("cannot roll back that deploy", target=self.name)
        for host, before in self.undo.pop(result.undo).items():
            if before is None:
                self.installed.pop(host, None)
            else:
                self.installed[host] = before

    def keep(self, result):
        self.undo.pop(result.undo, None)


def not_a_target(options):
    return object()
'''


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A distribution on sys.path whose metadata declares deploy target plugins."""
    (tmp_path / "certdesk_memory_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "certdesk_memory_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: certdesk-memory-plugin\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(
            f"""\
            [{ENTRY_POINT_GROUP}]
            memory = certdesk_memory_plugin:MemoryTarget
            bogus = certdesk_memory_plugin:not_a_target
            missing = certdesk_no_such_module:Target
            files = certdesk_memory_plugin:MemoryTarget
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))


def test_builtins(tmp_path: Path) -> None:
    assert list(BUILTIN_TARGETS) == ["files", "nginx", "haproxy", "pfx"]
    assert available_targets()[:4] == ["files", "nginx", "haproxy", "pfx"]
    target = load_target("files", {"folder": str(tmp_path)})
    assert isinstance(target, FilesTarget)
    assert isinstance(target, Target)


def test_bad_names_and_options(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="no deploy target called 'ftp'") as caught:
        load_target("ftp", {})
    assert "files" in (caught.value.hint or "")
    with pytest.raises(InvalidArgument, match="needs the option 'folder'"):
        load_target("files", {})
    with pytest.raises(InvalidArgument, match="unknown option"):
        load_target("files", {"folder": str(tmp_path), "foldr": "x"})
    with pytest.raises(InvalidArgument, match="must be a path"):
        load_target("files", {"folder": 3})
    with pytest.raises(InvalidArgument, match="host:port"):
        load_target(
            "nginx",
            {"folder": "/x", "include_dir": "/y", "conf": "/z", "address": "nowhere"},
        )
    nginx = load_target(
        "nginx", {"folder": "/x", "include_dir": "/y", "conf": "/z", "address": "[::1]:8443"}
    )
    assert nginx.address == ("::1", 8443)


def test_a_plugin_target(plugins: None, certs: Certs) -> None:
    assert "memory" in available_targets()
    target = load_target("memory", {"name": "edge"})
    assert isinstance(target, Target)
    assert target.name == "edge"
    first = target.deploy([certs.store.item(STORE)])
    target.keep(first)
    renewal = target.deploy([certs.store2.item(STORE)])
    target.rollback(renewal)
    assert target.installed == {STORE: certs.store.sha256}  # type: ignore[attr-defined]
    with pytest.raises(DeployError):
        target.rollback(first)  # kept


def test_plugins_that_do_not_work(plugins: None, tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="did not give a deploy target"):
        load_target("bogus", {})
    with pytest.raises(DeployError, match="cannot be loaded") as caught:
        load_target("missing", {})
    assert caught.value.code == "deploy-failed"
    # A plugin cannot take a built-in's name.
    assert isinstance(load_target("files", {"folder": str(tmp_path)}), FilesTarget)
    assert available_targets().count("files") == 1
