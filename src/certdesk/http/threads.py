"""Where the routes that only read run: a small thread pool of their own.

FastAPI runs every sync route in one thread pool of 40 threads. Under load, that many
Python threads take turns at the GIL: a read that sends a few queries gives the GIL up
at each one and waits behind the others' work to get it back, so the slowest requests
take several times the median (bench/bench_api.py: the dashboard's p99 went from ~420
to ~290 ms at 20 clients when reads ran two at a time). Reads marked :func:`quick_read`
run at most ``READ_THREADS`` at a time per worker process, in the order they came; the
big pool stays for what waits on the network (installs, probes, mail), which must never
hold up the reads.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar

READ_THREADS = 2
# Uploads wait here while a reader process reads their file (certdesk.application.readpool):
# never in the big pool, where a burst of slow files would leave no thread for other requests.
INTAKE_THREADS = 16

P = ParamSpec("P")
T = TypeVar("T")

_LIMITER: RunVar[CapacityLimiter] = RunVar("certdesk_read_limiter")
_INTAKE: RunVar[CapacityLimiter] = RunVar("certdesk_intake_limiter")


def _limiter() -> CapacityLimiter:
    """The read pool of the running event loop (one per worker process)."""
    try:
        return _LIMITER.get()
    except LookupError:
        limiter = CapacityLimiter(READ_THREADS)
        _LIMITER.set(limiter)
        return limiter


def quick_read(route: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """Run a sync route that only reads the database in the read pool (see above).

    FastAPI reads the route's parameters through ``functools.wraps``."""
    return _in_read_pool(route, heavy=None)


def quick_read_unless(
    heavy: Callable[..., bool],
) -> Callable[[Callable[P, T]], Callable[P, Awaitable[T]]]:
    """As :func:`quick_read`, but a request that ``heavy(**its parameters)`` finds large
    (a whole tenant in one page) runs in the big pool: it would hold a read thread long
    enough to keep every other tenant's pages waiting."""

    def decorate(route: Callable[P, T]) -> Callable[P, Awaitable[T]]:
        return _in_read_pool(route, heavy=heavy)

    return decorate


def _in_read_pool(
    route: Callable[P, T], *, heavy: Callable[..., bool] | None
) -> Callable[P, Awaitable[T]]:
    @functools.wraps(route)
    async def in_read_pool(*args: P.args, **kwargs: P.kwargs) -> T:
        big = heavy is not None and heavy(**kwargs)
        return await anyio.to_thread.run_sync(
            functools.partial(route, *args, **kwargs), limiter=None if big else _limiter()
        )

    return in_read_pool


async def in_intake_thread(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run an intake (a staged desk use case, which waits for a reader process) in the
    intake threads of this worker process (see ``INTAKE_THREADS``)."""
    try:
        limiter = _INTAKE.get()
    except LookupError:
        limiter = CapacityLimiter(INTAKE_THREADS)
        _INTAKE.set(limiter)
    return await anyio.to_thread.run_sync(functools.partial(call, *args, **kwargs), limiter=limiter)
