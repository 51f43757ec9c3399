"""The reader pool on its own: real worker processes, jobs from ``tests.readpool.jobs``.

What is held: a job over its wall-clock or CPU time is stopped and answered
``too-costly``, and its worker is replaced; a refusal raised in a worker comes back whole;
one tenant never has more than its share of jobs at once, and waits behind nobody else's;
nothing is left running after ``close`` (the autouse ``no_reader_left`` fixture checks
every test).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from certdesk.application.compose import reader_limits
from certdesk.application.readpool import Limits, ReaderPool, ReadersBusy, TooManyReads
from certdesk.desk import Actor, Refused
from certdesk.errors import InvalidArgument, TooCostly
from certdesk.settings import load_settings
from tests.readpool import jobs

ALPHA = Actor(name="alpha", tenant_id=1)
BETA = Actor(name="beta", tenant_id=2)


@pytest.fixture
def make_pool() -> Iterator[Callable[..., ReaderPool]]:
    made: list[ReaderPool] = []

    def make(**limits: Any) -> ReaderPool:
        pool = ReaderPool(Limits(**limits))
        made.append(pool)
        return pool

    yield make
    for pool in made:
        pool.close()


def in_background(call: Callable[[], Any]) -> Future[Any]:
    executor = ThreadPoolExecutor(max_workers=1)
    future = executor.submit(call)
    executor.shutdown(wait=False)
    return future


def wait_until(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.02)


def test_jobs_run_in_other_processes_that_are_kept(make_pool: Callable[..., ReaderPool]) -> None:
    pool = make_pool(workers=1)
    first, value = pool(ALPHA, jobs.echo, {"bytes": b"\x00\x01"})
    second, _ = pool(BETA, jobs.echo, None)
    assert value == {"bytes": b"\x00\x01"}
    assert first == second  # the same worker, kept for the next job
    assert first != os.getpid()
    assert [p.pid for p in pool.processes] == [first]


def test_a_job_over_its_time_is_killed_and_its_worker_replaced(
    make_pool: Callable[..., ReaderPool],
) -> None:
    pool = make_pool(workers=1, timeout=1.0, cpu_seconds=30)
    worker, _ = pool(ALPHA, jobs.echo, None)
    with pytest.raises(TooCostly) as refused:
        pool(ALPHA, jobs.sleep, 600.0)
    assert "took too long to read" in refused.value.message
    assert refused.value.hint
    assert pool.processes == []  # killed, not left sleeping
    replacement, _ = pool(ALPHA, jobs.echo, None)
    assert replacement != worker


def test_a_job_over_its_cpu_time_is_stopped_by_the_kernel(
    make_pool: Callable[..., ReaderPool], caplog: pytest.LogCaptureFixture
) -> None:
    pool = make_pool(workers=1, timeout=300.0, cpu_seconds=1)
    # The CPU limit counts from the job's start, not from the worker's: earlier jobs' CPU
    # time does not count against the next one.
    for _ in range(3):
        assert pool(ALPHA, jobs.spin, 0.6) > 0
    with (
        caplog.at_level(logging.WARNING, logger="certdesk.application.readpool"),
        pytest.raises(TooCostly),
    ):
        pool(ALPHA, jobs.spin, 600.0)
    assert "more than 1 s of CPU" in caplog.text  # the kernel's limit, not the wall clock
    assert pool(ALPHA, jobs.spin, 0.1) > 0  # a fresh worker


def test_a_refusal_in_the_worker_comes_back_whole(make_pool: Callable[..., ReaderPool]) -> None:
    pool = make_pool(workers=1)
    with pytest.raises(Refused) as refused:
        pool(ALPHA, jobs.refuse, "chain-incomplete")
    error = refused.value
    assert (error.code, error.message, error.hint) == (
        "refused",
        "refused in the worker",
        "the hint",
    )
    assert [(f.code, f.host) for f in error.findings] == [("chain-incomplete", "a.example")]
    assert error.to_dict()["findings"][0]["fix"] == "what to do"
    # A bug in a job is an internal error, and the worker goes on serving.
    with pytest.raises(RuntimeError):
        pool(ALPHA, jobs.fail, "a bug")
    assert pool(ALPHA, jobs.echo, 1)[1] == 1


def test_one_tenant_has_at_most_its_share_and_others_do_not_wait_for_it(
    make_pool: Callable[..., ReaderPool],
) -> None:
    pool = make_pool(workers=2, per_tenant=1, timeout=120.0)
    slow = in_background(lambda: pool(ALPHA, jobs.sleep, 3.0))
    wait_until(lambda: len(pool.processes) == 1)
    with pytest.raises(TooManyReads) as refused:
        pool(ALPHA, jobs.echo, None)
    assert refused.value.code == "rate-limited"
    assert "at most 1 at a time" in refused.value.message
    # Another tenant's job runs on the other worker while alpha's is still running.
    assert pool(BETA, jobs.echo, "beta")[1] == "beta"
    assert not slow.done()
    slow.result(timeout=120)
    assert pool(ALPHA, jobs.echo, "again")[1] == "again"  # alpha's share is free again


def test_a_job_waits_a_bounded_time_for_a_busy_reader(
    make_pool: Callable[..., ReaderPool],
) -> None:
    pool = make_pool(workers=1, per_tenant=1, queue_seconds=0.5, timeout=120.0)
    slow = in_background(lambda: pool(ALPHA, jobs.sleep, 30.0))
    wait_until(lambda: len(pool.processes) == 1)
    time.sleep(0.5)  # alpha's job has been sent to the worker
    with pytest.raises(ReadersBusy) as refused:
        pool(BETA, jobs.echo, None)
    assert refused.value.code == "busy"
    assert not slow.done()
    pool.close()  # stops the sleeping job too
    with pytest.raises(ReadersBusy, match="shutting down"):
        slow.result(timeout=60)
    assert pool.processes == []
    with pytest.raises(ReadersBusy):
        pool(BETA, jobs.echo, None)


def test_the_limits_come_from_the_settings(tmp_path: Path) -> None:
    (tmp_path / "certdesk.toml").write_text("intake_workers = 3\nintake_timeout = 12.5\n")
    env = {"CERTDESK_INTAKE_PER_TENANT": "4", "CERTDESK_INTAKE_CPU_SECONDS": "7"}
    limits = reader_limits(load_settings(tmp_path, env=env))
    assert limits == Limits(
        workers=3, cpu_seconds=7, timeout=12.5, per_tenant=4, queue_seconds=30.0
    )
    assert reader_limits(load_settings(tmp_path, env={"CERTDESK_INTAKE_WORKERS": "2"})).workers == 2
    for name, value in [
        ("CERTDESK_INTAKE_WORKERS", "0"),
        ("CERTDESK_INTAKE_PER_TENANT", "many"),
        ("CERTDESK_INTAKE_TIMEOUT", "-1"),
        ("CERTDESK_INTAKE_QUEUE_SECONDS", "inf"),
    ]:
        with pytest.raises(InvalidArgument, match=name.removeprefix("CERTDESK_").lower()):
            load_settings(tmp_path, env={name: value})
