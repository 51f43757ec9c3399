from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from certdesk.cli import app
from certdesk.cli.state import state


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Run certdesk in-process, as a user types it: ``cli("check", path, ...)``.

    The data folder is an empty one of the test's (``check`` reads the intermediates
    of an existing one), never the user's, and each run starts from a fresh state."""
    monkeypatch.delenv("CERTDESK_CA_BUNDLE", raising=False)
    monkeypatch.setenv("CERTDESK_HOME", str(tmp_path / "no-data-folder"))

    def run(*args: str | Path, env: dict[str, str] | None = None) -> Run:
        state.close()
        state.home, state._settings = None, None
        result = CliRunner(env=env).invoke(app, [str(a) for a in args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Run(result.exit_code, result.stdout, result.stderr)

    return run


def run_module(*args: str | Path, env: dict[str, str] | None = None) -> Run:
    """Run ``python -m certdesk`` in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "certdesk", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def openssl(*args: str | Path) -> str:
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, check=True
    ).stdout


def openssl_sha256(path: Path, *extra: str) -> str:
    """The certificate's SHA-256 fingerprint as openssl prints it, in certdesk's form."""
    line = openssl("x509", "-in", path, "-noout", "-fingerprint", "-sha256", *extra)
    return line.strip().split("=", 1)[1].replace(":", "").lower()
