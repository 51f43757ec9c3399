from __future__ import annotations

import subprocess
import sys


def test_pki_imports_neither_the_monitor_nor_asyncio() -> None:
    """The monitor imports pki, never the other way; pki stays free of asyncio."""
    code = (
        "import sys, certdesk.pki, certdesk.pki.chain, certdesk.pki.checks, certdesk.pki.facts;"
        "bad = [m for m in ('asyncio', 'OpenSSL', 'certdesk.monitor') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
