"""A progress bar for long work (``probe``, ``deploy``): for people at a terminal only.

The bar is drawn on stderr while the work runs and erased when it ends (transient), so
nothing of it stays in the output; it is not drawn at all when stderr is not a terminal
(piped, redirected, captured) or for ``--json``: scripts read exactly what they read
before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from certdesk.cli.output import err


@dataclass(frozen=True, slots=True)
class Ticker:
    """The two hooks long work calls: ``started(total)`` once, ``done(item)`` per item."""

    started: Callable[[int], None]
    done: Callable[[object], None]


@contextmanager
def progress(what: str, *, quiet: bool = False) -> Iterator[Ticker]:
    """A bar titled ``what`` while the block runs; silent when ``quiet`` (``--json``) or
    when stderr is no terminal."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet or not err.is_terminal,
    ) as bar:
        task = bar.add_task(what, total=None)
        yield Ticker(
            started=lambda total: bar.update(task, total=total),
            done=lambda _item: bar.advance(task),
        )
