"""A property over sequences of deploys, failures and fixes, for every target kind.

Whatever happens — the proof address unreachable, the configuration refused, the
terminator down, a disk that fails mid-deploy, a deploy the caller rejects, a process
that stops between deploy and proof — every host keeps exactly the files of its last
install that stood, the manifest says so, no undo record outlives its deploy (but the
one of a deploy whose process stopped), and where the target serves, a real handshake
shows each host's certificate. Sequences come from seeded random generators with a
bounded number of steps; a failure prints the seed and the steps that led to it.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from certdesk.deploy import DeployItem, Installation, Target, install, load_target
from certdesk.deploy._folder import FolderTarget
from tests.deploy.conftest import Certs, Issued, issue
from tests.deploy.servers import (
    HAProxy,
    Nginx,
    settled_sha256,
    start_haproxy,
    start_nginx,
    stop,
)
from tests.openssl_pki import OpenSSLPKI

HOSTS = ("alpha.test.com", "beta.test.com", "gamma.test.com")
VERSIONS = 2
STEPS = 20
SEEDS = (1, 2, 3, 4)
UNREACHABLE = "127.0.0.1:1"

# The failures each kind can meet; the ones that make every install fail are PROOF_FAILS.
FAILURES = {
    "files": ("disk", "rejected"),
    "pfx": ("disk", "rejected"),
    "nginx": ("unreachable", "config", "down"),
    "haproxy": ("unreachable", "config", "down"),
}
PROOF_FAILS = {"unreachable", "down", "rejected"}


@pytest.fixture(scope="session")
def versions(pki: OpenSSLPKI, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Issued]]:
    """Per host, two certificates (an install and its renewal), issued by openssl."""
    folder = tmp_path_factory.mktemp("sequence-certs")
    return {
        host: [issue(pki, folder, f"{host}-v{n}", [host]) for n in range(VERSIONS)]
        for host in HOSTS
    }


Files = dict[Path, tuple[bytes, int]]


@dataclass
class World:
    """One target kind, its server (if it has one), the failure in force and the model."""

    kind: str
    target: FolderTarget
    options: dict[str, object]
    default_sha256: str
    server: Nginx | HAProxy | None = None
    failure: str | None = None
    model: dict[str, int] = field(default_factory=dict)  # host -> version installed
    files: dict[str, Files] = field(default_factory=dict)  # host -> its files then
    stray: str | None = None  # the undo record a stopped process left behind
    log: list[str] = field(default_factory=list)

    def host_files(self, host: str) -> Files:
        return {
            p: (p.read_bytes(), p.stat().st_mode & 0o7777)
            for p in self.target.paths(host)
            if p.exists()
        }

    @property
    def serving(self) -> bool:
        return self.server is not None and self.failure != "down"


@contextlib.contextmanager
def _disk_fails_after_first_write(folder: Path) -> Iterator[None]:
    """A disk that fails at the second file a deploy renames into ``folder`` (the first
    went in), then works again, for putting it back."""
    real = os.replace
    renamed = 0

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        nonlocal renamed
        if Path(dst).parent == folder:
            renamed += 1
            if renamed == 2:
                raise OSError(28, "No space left on device")
        real(src, dst)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "replace", replace)
        yield


def _break(world: World, failure: str) -> None:
    world.failure = failure
    server = world.server
    if failure == "config" and isinstance(server, Nginx):
        (server.include_dir / "000-hand-made.conf").write_text("this_is_not_nginx on;\n")
    elif failure == "config" and isinstance(server, HAProxy):
        with server.config.open("a") as conf:
            conf.write("this_is_not_haproxy on\n")
    elif failure == "down" and server is not None and server.proc is not None:
        stop(server.proc)


def _fix(world: World) -> None:
    server, failure = world.server, world.failure
    world.failure = None
    if failure == "config" and isinstance(server, Nginx):
        (server.include_dir / "000-hand-made.conf").unlink()
    elif failure == "config" and isinstance(server, HAProxy):
        text = server.config.read_text()
        server.config.write_text(text.replace("this_is_not_haproxy on\n", ""))
    elif failure == "down" and isinstance(server, Nginx):
        start_nginx(server)
    elif failure == "down" and isinstance(server, HAProxy):
        start_haproxy(server)


def _install(world: World, items: list[DeployItem], crash: bool) -> tuple[bool, str]:
    """Install as the installer does, under the failure in force: whether the install
    stood, and how it went. ``crash``: the process stops after the deploy, before the
    proof (nothing kept, nothing rolled back: the deploy stands, unproven)."""
    target: Target = world.target
    if world.failure == "unreachable":
        target = load_target(world.kind, {**world.options, "address": UNREACHABLE})
    if crash:
        result = target.deploy(items)
        world.stray = result.undo or world.stray
        return True, "stopped after the deploy"
    if world.failure == "rejected":  # the consumer refuses it: the caller rolls it back
        result = target.deploy(items)
        target.rollback(result)
        return False, f"rejected, rolled back: {result.undo is not None}"
    with (
        _disk_fails_after_first_write(world.target.folder)
        if world.failure == "disk"
        else (contextlib.nullcontext())
    ):
        settle = 0.3 if world.failure in PROOF_FAILS else 5.0
        done = install(target, items, roots=[], settle=settle)
    return done.ok, _told(done)


def _told(done: Installation) -> str:
    if done.error is not None:
        return f"deploy failed ({done.error.describe()}), rolled back: {done.error.rolled_back}"
    if not done.ok:
        reasons = [p.reason for p in done.failed_proofs]
        undo = done.rollback_error.describe() if done.rollback_error else None
        return (
            f"proof failed {reasons}, changed: {done.changed}, "
            f"rolled back: {done.rolled_back}, {undo}"
        )
    return "ok"


def _check(world: World, certs: dict[str, list[Issued]]) -> None:
    """The property, after every step."""
    for host in HOSTS:
        assert world.host_files(host) == world.files.get(host, {}), f"{host}'s files changed"
    manifest = world.target.read_manifest()
    assert {h: e["sha256"] for h, e in manifest.items()} == {
        h: certs[h][v].sha256 for h, v in world.model.items()
    }
    token = world.target.journal.token
    assert token is None or token == world.stray, "an undo record outlived its deploy"
    if world.serving:
        assert world.server is not None
        for host in HOSTS:
            version = world.model.get(host)
            want = certs[host][version].sha256 if version is not None else world.default_sha256
            got = settled_sha256(world.server.address, host, want)
            assert got == want, f"{host} serves {got}, not {want}"


def _choose(world: World, rng: random.Random) -> dict[str, int]:
    """The hosts and versions of one deploy: mostly an installed host again, with
    its installed version (an unchanged deploy, as a nightly ``deploy --all`` makes)."""
    installed = sorted(world.model)
    if installed and rng.random() < 0.6:
        host = rng.choice(installed)
        return {host: world.model[host]}
    hosts = rng.sample(HOSTS, 2 if rng.random() < 0.25 else 1)
    return {host: rng.randrange(VERSIONS) for host in hosts}


def _run(world: World, seed: int, certs: dict[str, list[Issued]]) -> None:
    rng = random.Random(f"{world.kind}-{seed}")
    for _ in range(STEPS):
        roll = rng.random()
        if world.failure is None and roll < 0.35:
            failure = rng.choice(FAILURES[world.kind])
            world.log.append(f"break: {failure}")
            _break(world, failure)
        elif world.failure is not None and roll < 0.45:
            world.log.append(f"fix: {world.failure}")
            _fix(world)
        else:
            chosen = _choose(world, rng)
            crash = world.failure is None and rng.random() < 0.1
            items = [certs[h][v].item(f"https://{h}/") for h, v in chosen.items()]
            stood, told = _install(world, items, crash)
            world.log.append(f"deploy {chosen} under {world.failure}: {told}")
            if world.failure is None:
                assert stood, told
            if world.failure in PROOF_FAILS:
                assert not stood, told
            if stood:
                world.model.update(chosen)
                for host in chosen:
                    world.files[host] = world.host_files(host)
        _check(world, certs)
    if world.failure is not None:
        world.log.append(f"fix: {world.failure}")
        _fix(world)
        _check(world, certs)


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path, certs: Certs) -> Callable[[str], World]:
    def make(kind: str) -> World:
        server: Nginx | HAProxy | None = None
        if kind == "files":
            options: dict[str, object] = {"folder": str(tmp_path / "files")}
        elif kind == "pfx":
            options = {"folder": str(tmp_path / "pfx"), "password": "pfx-s3cret"}
        else:
            server = request.getfixturevalue(f"{kind}_server")
            options = server.options()
        target = load_target(kind, options)
        assert isinstance(target, FolderTarget)
        return World(kind, target, options, certs.default.sha256, server)

    return make


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_every_other_host_survives_any_sequence(
    kind: str, seed: int, world: Callable[[str], World], versions: dict[str, list[Issued]]
) -> None:
    w = world(kind)
    try:
        _run(w, seed, versions)
    except AssertionError as exc:
        steps = "\n  ".join(w.log)
        raise AssertionError(f"{kind}, seed {seed}, after:\n  {steps}\n{exc}") from exc
    # The sequence met failures, not only successes.
    assert any(line.startswith("break") for line in w.log), w.log
