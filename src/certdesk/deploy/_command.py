"""Running a terminator's own command (``nginx -t``, ``haproxy -c``) for a target."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from certdesk.deploy.base import DeployError


def run(argv: Sequence[str], *, target: str, doing: str, install: str, timeout: float) -> str:
    """Run ``argv``; its output on success, a :class:`DeployError` with its stderr otherwise."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise DeployError(
            f"the {target} target cannot {doing}: {argv[0]} is not installed",
            target=target,
            reason=str(exc),
            hint=f"install {install}, or give the path of the program in the target's options",
        ) from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeployError(
            f"the {target} target cannot {doing}: {exc}", target=target, reason=str(exc)
        ) from exc
    output = (done.stderr or "").strip() or (done.stdout or "").strip()
    if done.returncode != 0:
        raise DeployError(
            f"the {target} target cannot {doing}: {output or f'exit status {done.returncode}'}",
            target=target,
            reason=output or f"exit status {done.returncode}",
        )
    return output
