"""Probing many targets at once: bounded concurrency, a timeout each, a result each.

``probe_many`` runs ``concurrency`` probes at a time on the running event loop; each
probe has ``timeout`` seconds for its resolution, connection and handshake. A target
that fails is a result with an error, never an exception: the batch always returns
one result per target, in the order given. With ``workers > 1`` the batch is split
over that many processes (each with its own event loop), for when one core is not
enough; the results and their order are the same.

Without a running loop (:func:`probe_all`: the CLI, the on-demand workers, the sweeps) the
batch runs on uvloop's event loop where it is installed (it is with certdesk's
dependencies on Linux and macOS): its readiness callbacks cost less CPU than asyncio's
own loop per handshake, and a batch completes sooner (see bench/bench_sweep.py).
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certdesk.errors import InvalidArgument
from certdesk.monitor.address import AddressRefused, ResolveFailed, literal_ip, resolve
from certdesk.monitor.handshake import ClientContext, HandshakeFailed, client_context, handshake
from certdesk.monitor.judge import Judge
from certdesk.pki.probes import ErrorKind, ProbeResult, ProbeTarget

try:
    from uvloop import new_event_loop as _new_loop
except ImportError:  # a platform without uvloop: asyncio's own loop
    _new_loop = None  # type: ignore[assignment]

Clock = Callable[[], datetime]
Progress = Callable[[ProbeResult], object]

# Below this many targets per worker, extra processes cost more than they bring.
_MIN_PER_WORKER = 200


class _Batch:
    """What every probe of one batch shares: the TLS context, the judge, the options."""

    def __init__(
        self,
        roots: Sequence[x509.Certificate],
        now: datetime | Clock,
        timeout: float,
        allow_private: bool,
    ) -> None:
        self.ctx: ClientContext = client_context()
        self.judge = Judge(roots)
        self.now = now
        self.timeout = timeout
        self.allow_private = allow_private

    def instant(self) -> datetime:
        moment = self.now() if callable(self.now) else self.now
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise InvalidArgument("the probe clock must give timezone-aware instants")
        return moment

    async def probe(self, target: ProbeTarget) -> ProbeResult:
        started_at = self.instant()
        loop = asyncio.get_running_loop()
        begin = loop.time()
        address: tuple[str, int] | None = None
        phase = "resolving"
        host, port = target.connect_to or (target.host, target.port)

        def failed(kind: ErrorKind, message: str) -> ProbeResult:
            return ProbeResult(
                target=target,
                started_at=started_at,
                ok=False,
                error=kind,
                message=message,
                address=address,
                duration=loop.time() - begin,
            )

        # What ``asyncio.timeout`` does, at a fraction of its CPU (~10 µs less per
        # probe): one timer that cancels this task, its cancellation told apart from one
        # that comes from outside (which is passed on).
        task = asyncio.current_task()
        assert task is not None
        expired = False
        cancelling = task.cancelling()  # requests from outside so far, as asyncio.timeout

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = loop.call_at(begin + self.timeout, expire)
        try:
            try:
                family, address = await resolve(loop, host, port, allow_private=self.allow_private)
                phase = "handshake"
                server_name = None if literal_ip(target.host) is not None else target.host
                hs = await handshake(self.ctx, family, address, server_name)
            except asyncio.CancelledError:
                if expired and task.uncancel() <= cancelling:
                    raise TimeoutError from None
                raise
            finally:
                timer.cancel()
        except ResolveFailed as exc:
            return failed(ErrorKind.DNS, str(exc))
        except AddressRefused as exc:
            return failed(ErrorKind.BLOCKED_ADDRESS, str(exc))
        except HandshakeFailed as exc:
            return failed(exc.kind, exc.message)
        except TimeoutError:
            if phase == "resolving":
                return failed(ErrorKind.DNS, f"{host} did not resolve within {self.timeout:g} s")
            return failed(
                ErrorKind.TIMEOUT,
                f"no TLS handshake with {host}:{port} within {self.timeout:g} s",
            )
        except (OSError, ValueError) as exc:  # the batch goes on whatever happens
            return failed(ErrorKind.TLS_ERROR, f"the probe failed: {exc}")
        try:
            return self.judge.judge(target, started_at, address, loop.time() - begin, hs)
        except ValueError as exc:  # a served certificate pyca cannot parse
            return failed(ErrorKind.TLS_ERROR, f"the server sent an unreadable certificate: {exc}")

    async def run(
        self, targets: Sequence[ProbeTarget], concurrency: int, progress: Progress | None
    ) -> list[ProbeResult]:
        results: list[ProbeResult | None] = [None] * len(targets)
        queue = iter(enumerate(targets))

        async def runner() -> None:
            for index, target in queue:  # each runner takes the next target when free
                result = await self.probe(target)
                results[index] = result
                if progress is not None:
                    progress(result)

        await asyncio.gather(*(runner() for _ in range(min(concurrency, len(targets)))))
        return [r for r in results if r is not None]


def _check_options(now: datetime | Clock, concurrency: int, timeout: float, workers: int) -> None:
    if isinstance(now, datetime) and now.utcoffset() is None:
        raise InvalidArgument("the instant of a batch must be timezone-aware (UTC)")
    if concurrency < 1:
        raise InvalidArgument("concurrency must be at least 1")
    if not timeout > 0:
        raise InvalidArgument("the timeout must be a positive number of seconds")
    if workers < 1:
        raise InvalidArgument("workers must be at least 1")


async def probe_many(
    targets: Sequence[ProbeTarget],
    *,
    roots: Sequence[x509.Certificate],
    now: datetime | Clock,
    concurrency: int = 100,
    timeout: float = 10.0,
    allow_private: bool = False,
    progress: Progress | None = None,
    workers: int = 1,
) -> list[ProbeResult]:
    """Probe every target; one result per target, in the order given.

    ``now`` is the instant of the batch (every result's ``started_at``, and the
    instant trust is judged at), or a clock called as each probe starts.
    ``progress`` is called with each result as it is ready. ``workers > 1`` spreads
    a large batch over that many processes (a clock must then be picklable, such as
    :func:`certdesk.clock.now`).
    """
    _check_options(now, concurrency, timeout, workers)
    targets = list(targets)
    if not targets:
        return []
    workers = min(workers, max(1, len(targets) // _MIN_PER_WORKER))
    if workers == 1:
        batch = _Batch(roots, now, timeout, allow_private)
        return await batch.run(targets, concurrency, progress)
    return await _probe_in_processes(
        targets, roots, now, concurrency, timeout, allow_private, progress, workers
    )


def probe_all(
    targets: Sequence[ProbeTarget],
    *,
    roots: Sequence[x509.Certificate],
    now: datetime | Clock,
    concurrency: int = 100,
    timeout: float = 10.0,
    allow_private: bool = False,
    progress: Progress | None = None,
    workers: int = 1,
) -> list[ProbeResult]:
    """:func:`probe_many` for callers without an event loop (the CLI), on uvloop's loop
    where it is installed."""
    return _run(
        probe_many(
            targets,
            roots=roots,
            now=now,
            concurrency=concurrency,
            timeout=timeout,
            allow_private=allow_private,
            progress=progress,
            workers=workers,
        )
    )


def _run(batch: Coroutine[Any, Any, list[ProbeResult]]) -> list[ProbeResult]:
    with asyncio.Runner(loop_factory=_new_loop) as runner:
        return runner.run(batch)


# --- several processes --------------------------------------------------------------

_worker_batch: _Batch | None = None


def _init_worker(
    roots_der: list[bytes], now: datetime | Clock, timeout: float, allow_private: bool
) -> None:
    global _worker_batch  # one batch (context, judge caches) per worker process
    roots = [x509.load_der_x509_certificate(der) for der in roots_der]
    _worker_batch = _Batch(roots, now, timeout, allow_private)


def _run_chunk(targets: list[ProbeTarget], concurrency: int) -> list[ProbeResult]:
    assert _worker_batch is not None
    return _run(_worker_batch.run(targets, concurrency, None))


async def _probe_in_processes(
    targets: list[ProbeTarget],
    roots: Sequence[x509.Certificate],
    now: datetime | Clock,
    concurrency: int,
    timeout: float,
    allow_private: bool,
    progress: Progress | None,
    workers: int,
) -> list[ProbeResult]:
    loop = asyncio.get_running_loop()
    roots_der = [r.public_bytes(serialization.Encoding.DER) for r in roots]
    per_worker = max(1, math.ceil(concurrency / workers))
    # Several chunks per worker, so that progress flows and a slow chunk does not idle
    # the other worker; large enough that the cost of passing them stays small.
    size = max(50, math.ceil(len(targets) / (workers * 8)))
    chunks = [targets[i : i + size] for i in range(0, len(targets), size)]
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(roots_der, now, timeout, allow_private),
    )
    finished = False
    try:
        pending = {
            loop.run_in_executor(pool, _run_chunk, chunk, per_worker): n
            for n, chunk in enumerate(chunks)
        }
        done_chunks: list[list[ProbeResult]] = [[] for _ in chunks]
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                n = pending.pop(future)
                done_chunks[n] = future.result()
                if progress is not None:
                    for result in done_chunks[n]:
                        progress(result)
        finished = True
    finally:
        if finished:
            await asyncio.to_thread(pool.shutdown, wait=True)
        else:
            pool.shutdown(wait=False, cancel_futures=True)
    return [result for chunk in done_chunks for result in chunk]
