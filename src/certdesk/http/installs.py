"""What a reseller reads of an install that failed: a plain sentence and a reference.

A TLS terminator's own words (nginx's ``-t`` output names the server's files and paths)
are for the platform's operators: they read them in the command line, the log, and the
API or portal when logged in as operators. A reseller is told that the certificate is
stored but not installed, and given the request to quote.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol, TypeVar

from certdesk.desk import Actor
from certdesk.desk.claims import HELD_REASON
from certdesk.desk.installs import plain_failure


class _Outcome(Protocol):
    @property
    def ok(self) -> bool: ...
    @property
    def target(self) -> str: ...
    @property
    def message(self) -> str: ...


Outcome = TypeVar("Outcome", bound=_Outcome)


def for_reader(outcomes: Sequence[Outcome], actor: Actor, request_id: int | None) -> list[Outcome]:
    """``outcomes`` as ``actor`` may read them: whole for an operator; for a reseller,
    each failed one's message is :func:`plain_failure` (but an install held until the
    domain's ownership is verified says so: it names nothing of the platform's)."""
    if actor.is_operator:
        return list(outcomes)
    return [
        o
        if o.ok or o.message.startswith(HELD_REASON)
        else dataclasses.replace(o, message=plain_failure(request_id))  # type: ignore[type-var]
        for o in outcomes
    ]
