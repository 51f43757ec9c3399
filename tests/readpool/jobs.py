"""Jobs for the reader pool's tests: module-level functions, as the pool needs (a spawned
worker imports them by name)."""

from __future__ import annotations

import os
import time

from certdesk.desk import Refused
from certdesk.pki import Finding, Severity


def echo(value: object) -> tuple[int, object]:
    """The worker's process id and the value it was given."""
    return os.getpid(), value


def sleep(seconds: float) -> int:
    """Waits without using CPU (only the wall-clock limit stops it)."""
    time.sleep(seconds)
    return os.getpid()


def spin(seconds: float) -> int:
    """Uses CPU for ``seconds`` (the CPU limit stops it first when lower)."""
    end = time.process_time() + seconds
    n = 0
    while time.process_time() < end:
        n += 1
    return n


def refuse(code: str) -> None:
    raise Refused(
        "refused in the worker",
        [Finding(code, Severity.ERROR, "what is wrong", "what to do", host="a.example")],
        hint="the hint",
    )


def fail(message: str) -> None:
    raise ValueError(message)
