"""Routes marked quick_read run in a small pool of their own, with their parameters and
dependencies as FastAPI reads them; other sync routes keep the big pool."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Query

from certdesk.http.threads import READ_THREADS, quick_read, quick_read_unless


class Gauge:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = 0

    def hold(self, seconds: float) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(seconds)
        with self.lock:
            self.now -= 1


def dependency(x: int = Query(1)) -> int:
    return x * 10


def make_app(reads: Gauge, others: Gauge) -> FastAPI:
    app = FastAPI()

    @app.get("/read")
    @quick_read
    def read(n: int, scaled: Annotated[int, Depends(dependency)]) -> dict[str, int]:
        reads.hold(0.1)
        return {"n": n, "scaled": scaled}

    @app.get("/maybe")
    @quick_read_unless(lambda n, **_: n > 100)
    def maybe(n: int) -> dict[str, int]:
        (others if n > 100 else reads).hold(0.1)
        return {"n": n}

    @app.get("/other")
    def other() -> dict[str, bool]:
        others.hold(0.1)
        return {"ok": True}

    return app


def test_reads_run_a_few_at_a_time_others_do_not() -> None:
    reads, others = Gauge(), Gauge()
    app = make_app(reads, others)

    async def main() -> tuple[list[httpx.Response], list[httpx.Response]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await asyncio.gather(
                asyncio.gather(*(client.get("/read", params={"n": n, "x": n}) for n in range(8))),
                asyncio.gather(*(client.get("/other") for _ in range(8))),
            )

    read_answers, other_answers = asyncio.run(main())
    assert [r.json() for r in read_answers] == [{"n": n, "scaled": 10 * n} for n in range(8)]
    assert all(r.status_code == 200 for r in other_answers)
    assert reads.most == READ_THREADS
    assert others.most > READ_THREADS


def test_parameters_are_still_checked() -> None:
    app = make_app(Gauge(), Gauge())

    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/read", params={"n": "many"})

    assert asyncio.run(main()).status_code == 422


def test_a_heavy_request_leaves_the_read_pool_to_the_others() -> None:
    reads, others = Gauge(), Gauge()
    app = make_app(reads, others)

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await asyncio.gather(
                *(client.get("/maybe", params={"n": n}) for n in (1, 2, 3, 4, 501, 502, 503, 504))
            )

    answers = asyncio.run(main())
    assert [a.json()["n"] for a in answers] == [1, 2, 3, 4, 501, 502, 503, 504]
    assert reads.most == READ_THREADS  # the light ones, two at a time
    assert others.most > READ_THREADS  # the heavy ones, side by side in the big pool
