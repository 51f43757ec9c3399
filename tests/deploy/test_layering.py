"""The deploy package sits beside the desk: no database, no interface, no environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import certdesk.deploy


def test_deploy_stays_beside_the_desk() -> None:
    """Targets need neither the database nor an interface; config comes in as values."""
    code = (
        "import sys, certdesk.deploy;"
        "bad = [m for m in ('sqlalchemy', 'certdesk.store', 'certdesk.desk', 'certdesk.cli',"
        " 'certdesk.settings', 'typer') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_package_never_reads_the_environment() -> None:
    folder = Path(certdesk.deploy.__file__).parent
    for source in folder.glob("*.py"):
        text = source.read_text()
        assert "os.environ" not in text, source
        assert "getenv" not in text, source
