"""The files target: the layout, the manifest, and key files never readable by others."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from certdesk.deploy import DeployError, DeployItem, FilesTarget
from certdesk.errors import InvalidArgument
from tests.deploy.conftest import SHOP, STORE, Certs
from tests.openssl_pki import openssl_fingerprint, openssl_spki_sha256, run_openssl


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 000: whatever certdesk writes, it gets only the modes it asked for."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_layout_read_back_by_openssl(tmp_path: Path, certs: Certs) -> None:
    target = FilesTarget(tmp_path / "certs")
    target.deploy([certs.store.item(f"https://{STORE}/")])
    pem, key = target.cert_path(STORE), target.key_path(STORE)
    assert (pem.name, key.name) == (f"{STORE}.pem", f"{STORE}.key")
    assert openssl_fingerprint(pem) == certs.store.sha256  # the leaf comes first
    assert pem.read_bytes().count(b"BEGIN CERTIFICATE") == 2  # leaf + intermediate
    assert pem.read_bytes().endswith(certs.store.chain[0].read_bytes())
    assert openssl_spki_sha256(key, is_cert=False) == openssl_spki_sha256(pem, is_cert=True)
    assert b"PRIVATE KEY" in run_openssl("pkey", "-in", key)
    assert (_mode(pem), _mode(key)) == (0o644, 0o600)


def test_manifest(tmp_path: Path, certs: Certs) -> None:
    target = FilesTarget(tmp_path)
    target.deploy(
        [
            certs.store.item(f"https://{STORE}/"),
            certs.store.item(f"https://{STORE}:8443/"),
            certs.wildcard.item(f"https://{SHOP}/", hostname="*.test.com"),
        ]
    )
    target.deploy([certs.store.item(f"{STORE}:9443")])  # one more URL, same certificate
    manifest = json.loads(target.manifest_path.read_text())
    assert manifest["target"] == "files"
    assert manifest["hosts"][STORE] == {
        "sha256": certs.store.sha256,
        "not_after": manifest["hosts"][STORE]["not_after"],
        "urls": sorted([f"https://{STORE}/", f"https://{STORE}:8443/", f"{STORE}:9443"]),
        "files": [f"{STORE}.pem", f"{STORE}.key"],
    }
    assert manifest["hosts"][STORE]["not_after"].endswith("Z")
    assert manifest["hosts"]["*.test.com"]["files"] == [
        "_wildcard.test.com.pem",
        "_wildcard.test.com.key",
    ]
    assert _mode(target.manifest_path) == 0o644


def test_two_certificates_for_one_name_are_refused(tmp_path: Path, certs: Certs) -> None:
    target = FilesTarget(tmp_path)
    with pytest.raises(InvalidArgument, match="two different certificates"):
        target.deploy([certs.store.item(STORE), certs.store2.item(f"{STORE}:8443")])
    assert list(tmp_path.iterdir()) == []


def test_keys_are_never_readable_by_others(
    tmp_path: Path, certs: Certs, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every temporary file is 0600 while its bytes are written; keys stay 0600 after."""
    at_fsync: list[int] = []
    at_rename: dict[str, int] = {}
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            at_fsync.append(stat.S_IMODE(st.st_mode))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        at_rename[Path(dst).name] = _mode(Path(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = FilesTarget(tmp_path / "certs")
    target.deploy([certs.store.item(STORE)])
    target.deploy([certs.store2.item(STORE)])  # the journal keeps the old key

    assert at_fsync
    assert set(at_fsync) == {0o600}
    assert at_rename[f"{STORE}.key"] == 0o600
    assert at_rename[f"{STORE}.pem"] == 0o644
    journal = target.journal.folder
    assert _mode(journal) == 0o700
    saved = list(journal.iterdir())
    assert saved
    assert all(_mode(p) == 0o600 for p in saved)
    for path in tmp_path.rglob("*"):
        if path.is_file() and b"PRIVATE KEY" in path.read_bytes():
            assert _mode(path) == 0o600, path
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_failed_write_puts_everything_back(
    tmp_path: Path, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = FilesTarget(tmp_path)
    target.deploy([certs.store.item(STORE)])
    files = [*target.paths(STORE), target.manifest_path]
    before = {p: p.read_bytes() for p in files}
    real_replace = os.replace
    failed = False

    def flaky(src: str | Path, dst: str | Path) -> None:
        nonlocal failed
        if Path(dst).name == f"{STORE}.key" and not failed:  # the certificate went in
            failed = True
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(DeployError) as caught:
        target.deploy([certs.store2.item(STORE)])
    monkeypatch.undo()
    assert caught.value.rolled_back
    assert "No space left" in (caught.value.reason or "")
    assert {p: p.read_bytes() for p in files} == before
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_failed_restore_keeps_the_journal_for_a_later_rollback(
    tmp_path: Path, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = FilesTarget(tmp_path)
    target.deploy([certs.store.item(STORE)])
    before = target.cert_path(STORE).read_bytes()
    real_replace = os.replace
    pem_writes = 0

    def broken(src: str | Path, dst: str | Path) -> None:
        nonlocal pem_writes
        pem_writes += Path(dst).name == f"{STORE}.pem"
        # The new certificate goes in, its key fails, and so does putting the old one back.
        if Path(dst).name == f"{STORE}.key" or pem_writes > 1:
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(DeployError) as caught:
        target.deploy([certs.store2.item(STORE)])
    monkeypatch.undo()
    assert not caught.value.rolled_back
    assert "roll back" in (caught.value.hint or "")
    assert target.journal.pending
    pending = caught.value.pending
    assert pending is not None
    target.rollback(pending)  # the disk works again
    assert target.cert_path(STORE).read_bytes() == before
    assert not target.journal.pending


def test_config_test_refuses_a_folder_it_cannot_make(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(DeployError) as caught:
        FilesTarget(blocker / "certs").config_test()
    assert caught.value.code == "deploy-failed"
    FilesTarget(tmp_path / "fine").config_test()


def test_a_corrupt_manifest_is_an_error(tmp_path: Path, certs: Certs) -> None:
    target = FilesTarget(tmp_path)
    target.manifest_path.write_text("{not json")
    with pytest.raises(DeployError, match="manifest"):
        target.deploy([certs.store.item(STORE)])


def test_concurrent_deploys_take_turns(tmp_path: Path, certs: Certs) -> None:
    """Deploys to one folder from several threads (or processes) lose no host."""
    chain, key = certs.store.certificates(), certs.store.private_key()
    items = [
        DeployItem(hostname=f"h{n}.test.com", url=f"h{n}.test.com", chain=chain, key=key)
        for n in range(8)
    ]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda item: FilesTarget(tmp_path).deploy([item]), items))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sorted(manifest["hosts"]) == sorted(i.hostname for i in items)


def test_an_undo_record_left_by_a_stopped_process_is_never_applied(
    tmp_path: Path, certs: Certs
) -> None:
    """A process deploys and stops before its proof: its record stays, but no later
    deploy's rollback takes it for its own, whether that deploy wrote or not."""
    FilesTarget(tmp_path).deploy([certs.store.item(STORE)])  # the result is lost
    assert FilesTarget(tmp_path).journal.pending
    stored = {p: p.read_bytes() for p in FilesTarget(tmp_path).paths(STORE)}

    target = FilesTarget(tmp_path)  # a later process
    unchanged = target.deploy([certs.store.item(STORE)])
    assert unchanged.undo is None
    target.rollback(unchanged)
    assert {p: p.read_bytes() for p in target.paths(STORE)} == stored

    added = target.deploy([certs.wildcard.item(SHOP, hostname="*.test.com")])
    target.rollback(added)
    assert not any(p.exists() for p in target.paths("*.test.com"))
    assert {p: p.read_bytes() for p in target.paths(STORE)} == stored
    assert json.loads(target.manifest_path.read_text())["hosts"].keys() == {STORE}
    assert not target.journal.pending


def test_a_record_from_before_undo_ids_is_never_applied(tmp_path: Path, certs: Certs) -> None:
    target = FilesTarget(tmp_path)
    target.deploy([certs.store.item(STORE)])
    index = target.journal.folder / "index.json"
    old = json.loads(index.read_text())
    del old["token"]  # as certdesk wrote it before records had an id
    old["format"] = 1
    index.write_text(json.dumps(old))
    stored = {p: p.read_bytes() for p in target.paths(STORE)}
    target.rollback(target.deploy([certs.store.item(STORE)]))
    assert {p: p.read_bytes() for p in target.paths(STORE)} == stored
