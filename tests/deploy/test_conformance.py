"""One conformance test for every deploy target, as certbot's installer tests do.

A deploy of no host writes nothing → deploy → the files are there with the right modes
(and, for a terminator, a real handshake shows the new certificate) → a second identical
deploy changes nothing and has nothing to roll back → a renewal replaces → rolling it
back puts back exactly what was there, once → deploy again → a new name, rolled back, is
gone → a deploy kept (proven) or followed by another deploy can no longer be rolled back.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from certdesk.deploy import (
    BUILTIN_TARGETS,
    Action,
    DeployError,
    DeployItem,
    Target,
    load_target,
    prove,
)
from certdesk.deploy._folder import FolderTarget
from tests.deploy.conftest import SHOP, STORE, Certs, TargetOptions
from tests.deploy.servers import settled_sha256

TARGETS = sorted(BUILTIN_TARGETS)


def _paths(target: Target, hosts: list[str]) -> list[Path]:
    """Every file the target keeps for ``hosts`` (the built-ins all keep a folder)."""
    assert isinstance(target, FolderTarget)
    return [p for host in hosts for p in target.paths(host)]


def _files(target: Target, hosts: list[str]) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in _paths(target, hosts) if p.exists()}


def _check_modes(files: dict[Path, bytes]) -> None:
    for path, data in files.items():
        mode = stat.S_IMODE(path.stat().st_mode)
        secret = b"PRIVATE KEY" in data or path.suffix == ".pfx"
        if secret:
            assert mode == 0o600, f"{path} holds a key and is {oct(mode)}"
        else:
            assert mode & 0o022 == 0, f"{path} is writable by others: {oct(mode)}"
            assert mode & 0o044 == 0o044, f"{path} is not readable: {oct(mode)}"


def _manifest(target: Target) -> dict[str, dict[str, object]]:
    assert isinstance(target, FolderTarget)
    hosts: dict[str, dict[str, object]] = json.loads(target.manifest_path.read_text())["hosts"]
    return hosts


def _prove(target: Target, items: list[DeployItem], certs: Certs) -> None:
    if target.address is None:
        return
    proofs = prove(items, connect_to=target.address, roots=[], settle=5)
    assert [p.ok for p in proofs] == [True] * len(items), [p.reason for p in proofs]


@pytest.mark.parametrize("name", TARGETS)
def test_conformance(name: str, target_options: TargetOptions, certs: Certs) -> None:
    target = load_target(name, target_options(name))
    assert isinstance(target, Target)
    assert target.name == name
    hosts = [STORE, "*.test.com"]
    first = [
        certs.store.item(f"https://{STORE}/"),
        certs.wildcard.item(f"https://{SHOP}/", hostname="*.test.com"),
    ]

    # A deploy of no host (the target's own configuration only) adds no host; with none
    # of the port-80 options, it has nothing to write, and no manifest is made.
    empty = target.deploy([])
    assert (empty.plan.hosts, empty.written, empty.undo) == ((), (), None)
    assert isinstance(target, FolderTarget)
    assert not target.manifest_path.exists()

    # Nothing there yet: everything is added, and proven.
    plan = target.plan(first)
    assert [h.action for h in plan.hosts] == [Action.ADD, Action.ADD]
    assert _files(target, hosts) == {}, "plan must not write"
    result = target.deploy(first)
    assert result.target == name
    assert [h.action for h in result.plan.hosts] == [Action.ADD, Action.ADD]
    before = _files(target, hosts)
    assert len(before) == len(_paths(target, hosts))
    _check_modes(before)
    assert _manifest(target)[STORE]["sha256"] == certs.store.sha256
    assert _manifest(target)["*.test.com"]["sha256"] == certs.wildcard.sha256
    target.config_test()
    _prove(target, first, certs)

    # The same again: nothing written, nothing reloaded, nothing to roll back.
    again = target.deploy(first)
    assert [h.action for h in again.plan.hosts] == [Action.UNCHANGED, Action.UNCHANGED]
    assert (again.written, again.reloaded, again.hot_updated) == ((), False, ())
    assert again.undo is None
    assert _files(target, hosts) == before
    target.rollback(again)  # a no-op: it must not undo the first deploy
    assert _files(target, hosts) == before
    _prove(target, first, certs)
    target.keep(result)

    # A renewal replaces one host and leaves the other.
    renewal = [certs.store2.item(f"https://{STORE}/")]
    renewed = target.deploy(renewal)
    [change] = renewed.plan.hosts
    assert change.action is Action.REPLACE
    assert change.previous_sha256 == certs.store.sha256
    assert change.sha256 == certs.store2.sha256
    assert _manifest(target)[STORE]["sha256"] == certs.store2.sha256
    _check_modes(_files(target, hosts))
    _prove(target, [*renewal, first[1]], certs)

    # Rollback puts back the very bytes (and modes) that were there, and serves them.
    assert renewed.undo is not None
    target.rollback(renewed)
    assert _files(target, hosts) == before
    _check_modes(_files(target, hosts))
    assert _manifest(target)[STORE]["sha256"] == certs.store.sha256
    _prove(target, first, certs)
    with pytest.raises(DeployError, match="cannot roll back"):
        target.rollback(renewed)  # once only; and a refusal changes nothing
    assert _files(target, hosts) == before

    # Deploy again: the renewal goes in once, then is unchanged.
    redone = target.deploy(renewal)
    assert redone.plan.hosts[0].action is Action.REPLACE
    assert target.deploy(renewal).plan.hosts[0].action is Action.UNCHANGED
    target.reload()
    _prove(target, renewal, certs)
    renewed_files = _files(target, hosts)

    # Rolling back the deploy that added a name removes its files (and the name) only.
    added = certs.store3.item("https://www.test.com/")
    adding = target.deploy([added])
    assert adding.plan.hosts[0].action is Action.ADD
    _prove(target, [added], certs)
    with pytest.raises(DeployError, match="cannot roll back"):
        target.rollback(redone)  # a later deploy wrote since: refused, nothing changed
    assert _manifest(target)["www.test.com"]["sha256"] == certs.store3.sha256
    target.rollback(adding)
    assert _files(target, ["www.test.com"]) == {}
    assert "www.test.com" not in _manifest(target)
    assert _files(target, hosts) == renewed_files
    target.config_test()
    if target.address is not None:
        # www.test.com is the wildcard's again.
        _wait_served(target.address, "www.test.com", certs.wildcard.sha256)

    # A kept (proven) deploy is kept: rolling it back is refused and changes nothing.
    kept = target.deploy([added])
    target.keep(kept)
    with pytest.raises(DeployError, match="cannot roll back"):
        target.rollback(kept)
    assert _manifest(target)["www.test.com"]["sha256"] == certs.store3.sha256
    _prove(target, [added], certs)


def _wait_served(address: tuple[str, int], name: str, sha256: str) -> None:
    """The terminator serves ``sha256`` for ``name`` (a reload is asynchronous)."""
    assert settled_sha256(address, name, sha256) == sha256
