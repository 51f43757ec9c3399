"""A data folder other users can enter is warned about, once, on stderr (and in the log)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli.conftest import run_module


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}
    return {**env, "CERTDESK_HOME": str(home)}


def test_a_data_folder_open_to_others_is_warned_about_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = run_module("tenant", "list", env=env_for(home))
    assert first.exit_code == 0, first.stderr
    assert home.stat().st_mode & 0o777 == 0o700  # made private
    assert "open to other users" not in first.stderr
    home.chmod(0o755)
    loose = run_module("tenant", "list", env=env_for(home))
    assert loose.exit_code == 0, loose.stderr
    assert loose.stderr.count("open to other users") == 1, loose.stderr
    assert f"chmod 700 {home}" in loose.stderr
    assert "0755" in loose.stderr
    home.chmod(0o700)
    again = run_module("tenant", "list", env=env_for(home))
    assert "open to other users" not in again.stderr
