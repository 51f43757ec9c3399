"""The readers of ``certdesk serve``: a small pool of worker processes that read and check
uploaded files, each job under a CPU and a wall-clock limit.

Opening a ``.pfx`` derives keys (as many rounds as the file asks for), checks RSA keys and
builds chains: seconds of CPU for a costly file. Done on the request's worker, under the
database's write lock, one such file held every other writer and the worker itself.
Here it runs in another process, before any transaction (see ``desk.context.staged``):

- **At most ``workers`` jobs at once** per server process, in ``spawn``-started worker
  processes made on the first upload and kept for the next ones.
- **A time limit per job.** The worker lowers its own ``RLIMIT_CPU`` to its CPU time so
  far plus ``cpu_seconds`` before each job (the kernel stops it past that), and the
  parent gives up after ``timeout`` seconds of wall-clock time and kills it; either way
  the upload is answered ``too-costly``, nothing is stored, and a fresh worker takes the
  place of the killed one on the next job. (``concurrent.futures.ProcessPoolExecutor``
  cannot kill one stuck job, hence a pool of its own.)
- **A limit per tenant.** One tenant (an operator counts as one of their own) has at most
  ``per_tenant`` files being read at once in a server process; one more is refused at
  once with ``rate-limited``, so a tenant that sends many costly files only ever waits
  behind its own.
- **Behind the server for the CPU.** Workers run at a lower priority (``nice`` 10), so
  busy readers leave the cores to the requests of everyone else.
- **A bounded wait.** A job that finds every worker busy waits up to ``queue_seconds``
  for one, then is refused with ``busy``.

Jobs are a module-level function and plain values (they are pickled); the password in
a job is used by the worker and dropped, never logged. A worker holds no database
connection and no secret besides the job it is running.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, ClassVar, TypeVar

from certdesk.desk.context import Actor
from certdesk.errors import CertdeskError, RateLimited, TooCostly, Unavailable

log = logging.getLogger("certdesk.application.readpool")

J = TypeVar("J")
R = TypeVar("R")

WORKER_NAME = "certdesk-reader"
NICENESS = 10
_SPAWN = multiprocessing.get_context("spawn")
_numbers = itertools.count(1)


class TooManyReads(RateLimited):
    """The tenant already has as many files being read as one tenant may."""

    code: ClassVar[str] = "rate-limited"


class ReadersBusy(Unavailable):
    """Every reader stayed busy with other tenants' files for longer than a job may wait."""

    code: ClassVar[str] = "busy"


@dataclass(frozen=True, slots=True)
class Limits:
    workers: int = 2
    cpu_seconds: int = 10
    timeout: float = 30.0
    per_tenant: int = 2
    queue_seconds: float = 30.0


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self) -> None:
        parent, child = _SPAWN.Pipe(duplex=True)
        self.conn: Connection = parent
        self.ready = False
        self.process: BaseProcess = _SPAWN.Process(
            target=_serve, args=(child,), name=f"{WORKER_NAME}-{next(_numbers)}", daemon=True
        )
        self.process.start()
        child.close()  # the worker holds it now; its end closing is how we see it die

    def wait_ready(self, seconds: float = 120.0) -> None:
        """Wait for a new worker to have loaded certdesk (not counted in a job's time)."""
        if self.ready:
            return
        if not self.conn.poll(seconds):
            raise RuntimeError(f"a reader process did not start within {seconds:g} s")
        try:
            hello = self.conn.recv()
        except (EOFError, OSError):
            hello = None
        if hello != "ready":
            raise RuntimeError("a reader process stopped while starting")
        self.ready = True

    def stop(self, *, kill: bool) -> None:
        if kill:
            self.process.kill()
        else:
            with contextlib.suppress(OSError):
                self.conn.send(None)  # "no more jobs": it exits by itself
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


class ReaderPool:
    """The desk's :class:`~certdesk.desk.context.Reader` in ``certdesk serve`` (see above)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._lock = threading.Condition()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._starting = 0
        self._per_tenant: dict[Hashable, int] = {}
        self._closed = False

    def __call__(self, actor: Actor, read: Callable[[J], R], job: J, /) -> R:
        with self._tenant_slot(actor):
            worker = self._acquire()
            healthy = False
            try:
                reply = self._run(worker, actor, read, job)
                healthy = True
            finally:
                del job
                self._release(worker, healthy=healthy)
        return _unpack(reply)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop every worker (a running job is killed); the pool takes no more jobs."""
        with self._lock:
            self._closed = True
            idle, busy = list(self._idle), self._all - set(self._idle)
            self._idle.clear()
            self._all.clear()
            self._lock.notify_all()
        for worker in idle:
            worker.stop(kill=False)
        for worker in busy:
            worker.stop(kill=True)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def processes(self) -> list[BaseProcess]:
        """The worker processes alive now."""
        with self._lock:
            return [w.process for w in self._all if w.process.is_alive()]

    # --- one job ---------------------------------------------------------------------

    def _run(
        self, worker: _Worker, actor: Actor, read: Callable[[J], R], job: J
    ) -> tuple[Any, ...]:
        limits = self.limits
        try:
            worker.wait_ready()
        except RuntimeError:
            if self.closed:
                raise _shutting_down() from None
            raise
        worker.conn.send((read, job, limits.cpu_seconds))
        if not worker.conn.poll(limits.timeout):
            log.warning(
                "a file sent by %s was still being read after %g s: its reader was stopped",
                actor.name,
                limits.timeout,
            )
            raise _too_costly(limits)  # the worker is killed on release
        try:
            reply: tuple[Any, ...] = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(5)
            if self.closed:
                raise _shutting_down() from None
            if worker.process.exitcode in (-signal.SIGXCPU, -signal.SIGKILL):
                # Over its CPU time (or killed by the kernel for its memory).
                log.warning(
                    "a file sent by %s took more than %d s of CPU to read: its reader stopped",
                    actor.name,
                    limits.cpu_seconds,
                )
                raise _too_costly(limits) from None
            raise RuntimeError(
                f"a reader process stopped while reading a file (exit code "
                f"{worker.process.exitcode})"
            ) from None
        return reply

    @contextlib.contextmanager
    def _tenant_slot(self, actor: Actor) -> Iterator[None]:
        key: Hashable = (
            ("operator", actor.name) if actor.tenant_id is None else ("tenant", actor.tenant_id)
        )
        limit = self.limits.per_tenant
        with self._lock:
            running = self._per_tenant.get(key, 0)
            if running >= limit:
                raise TooManyReads(
                    f"{running} of your files are being read now, and certdesk reads at most "
                    f"{limit} at a time for one account",
                    hint="wait for their answers, then send this file again",
                )
            self._per_tenant[key] = running + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._per_tenant[key] - 1
                if left:
                    self._per_tenant[key] = left
                else:
                    del self._per_tenant[key]

    def _acquire(self) -> _Worker:
        deadline = time.monotonic() + self.limits.queue_seconds
        with self._lock:
            while True:
                if self._closed:
                    raise _shutting_down()
                while self._idle:
                    worker = self._idle.pop()
                    if worker.process.is_alive():
                        return worker
                    self._all.discard(worker)  # gone while idle (killed from outside)
                    worker.conn.close()
                if len(self._all) + self._starting < self.limits.workers:
                    self._starting += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ReadersBusy(
                        f"every reader stayed busy with other files for "
                        f"{self.limits.queue_seconds:g} s, so this one was not read",
                        hint="send it again in a minute; nothing was stored",
                    )
                self._lock.wait(left)
        try:
            worker = _Worker()
        except BaseException:
            with self._lock:
                self._starting -= 1
                self._lock.notify()
            raise
        with self._lock:
            self._starting -= 1
            if self.closed:  # while it started
                worker.stop(kill=True)
                raise _shutting_down()
            self._all.add(worker)
        return worker

    def _release(self, worker: _Worker, *, healthy: bool) -> None:
        with self._lock:
            keep = healthy and not self._closed and worker in self._all
            if keep:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
            self._lock.notify()
        if not keep:
            worker.stop(kill=True)


def _shutting_down() -> ReadersBusy:
    return ReadersBusy(
        "certdesk is shutting down and reads no more files",
        hint="send the file again in a minute; nothing was stored",
    )


def _too_costly(limits: Limits) -> TooCostly:
    return TooCostly(
        f"the file took too long to read (more than {limits.cpu_seconds} s of work or "
        f"{limits.timeout:g} s in all), so certdesk stopped reading it and stored nothing",
        hint="check that it is the right file; if it is, export it again with the usual "
        "settings of the tool that made it (a .pfx whose password protection is set to an "
        "extreme number of rounds, or a very large key, costs too much to open)",
    )


def _unpack(reply: tuple[Any, ...]) -> Any:
    kind = reply[0]
    if kind == "ok":
        return reply[1]
    if kind == "error":
        _, cls, args, state = reply
        error = cls.__new__(cls)
        error.args = args
        error.__dict__.update(state)
        raise error
    raise RuntimeError(f"reading the file failed in a reader process: {reply[1]}")


# --- in the worker process -----------------------------------------------------------------


def _serve(conn: Connection) -> None:
    """A worker's life: one job at a time until the parent says stop or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a killed job leaves no core (no key)
    # Behind the server's own processes for the CPU: while readers are busy with costly
    # files, the requests of every other tenant keep the cores they need.
    os.nice(NICENESS)
    # The jobs' modules (certdesk.desk) were loaded with this one, before the first job.

    try:
        conn.send("ready")
    except (EOFError, OSError):
        return
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        read, job, cpu_seconds = message
        del message
        _limit_cpu(cpu_seconds)
        try:
            reply: tuple[Any, ...] = ("ok", read(job))
        except CertdeskError as exc:
            reply = ("error", type(exc), exc.args, dict(exc.__dict__))
        except Exception as exc:  # a bug: the parent answers with an internal error
            reply = ("crash", type(exc).__name__)
        del job
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception as exc:  # the result would not pickle: a bug as well
            conn.send(("crash", type(exc).__name__))


def _limit_cpu(seconds: int) -> None:
    """Let this process use ``seconds`` more CPU time from now on (SIGXCPU past that)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(used) + max(1, seconds)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
