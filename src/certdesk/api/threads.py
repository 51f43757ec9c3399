"""Where an upload waits while a reader process reads its file: a thread pool of its own.

Sync routes run in FastAPI's one pool of 40 threads. An intake (certdesk.readpool) holds
its thread until a reader process has read and checked the file; a burst of slow files
in that pool would leave no thread for other requests, so intakes wait in
``INTAKE_THREADS`` threads of their own per worker process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar

INTAKE_THREADS = 16

P = ParamSpec("P")
T = TypeVar("T")

_INTAKE: RunVar[CapacityLimiter] = RunVar("certdesk_intake_limiter")


async def in_intake_thread(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run an intake (a staged desk use case, which waits for a reader process) in the
    intake threads of this worker process (see ``INTAKE_THREADS``)."""
    try:
        limiter = _INTAKE.get()
    except LookupError:
        limiter = CapacityLimiter(INTAKE_THREADS)
        _INTAKE.set(limiter)
    return await anyio.to_thread.run_sync(functools.partial(call, *args, **kwargs), limiter=limiter)
