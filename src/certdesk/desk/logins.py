"""The failed-login limiter, kept in the database so that every worker process and every
replica on the same database counts the same failures.

Failures are counted per (user name, client address): five wrong passwords for ``admin``
from one address lock ``admin`` out *from that address* for a minute, and nobody else —
an attacker elsewhere cannot lock the operator out, and the users behind one address (a
proxy, an office) do not lock each other out.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from sqlalchemy import delete, func, select

from certdesk.desk.context import Ctx, reads
from certdesk.errors import RateLimited
from certdesk.store.accounts import LoginFailure

LIMIT = 5
WINDOW = timedelta(seconds=60)


class TooManyAttempts(RateLimited):
    code: ClassVar[str] = "rate-limited"


def _key(username: str, address: str) -> tuple[str, str]:
    return username.strip().lower()[:200], address[:64]


@reads
def check_login(
    ctx: Ctx, *, username: str, address: str, limit: int = LIMIT, window: timedelta = WINDOW
) -> None:
    """Refuse (``rate-limited``) while ``limit`` failures for this user from this address
    fall within ``window``."""
    user, addr = _key(username, address)
    count, oldest = ctx.session.execute(
        select(func.count(), func.min(LoginFailure.at)).where(
            LoginFailure.username == user,
            LoginFailure.address == addr,
            LoginFailure.at > ctx.now - window,
        )
    ).one()
    if count >= limit:
        wait = max(1, int((oldest + window - ctx.now).total_seconds()) + 1)
        raise TooManyAttempts(
            "too many failed logins for this user from this address",
            hint=f"wait {wait} seconds and try again",
        )


def record_failure(ctx: Ctx, *, username: str, address: str, window: timedelta = WINDOW) -> None:
    """Count one failure; failures older than the window are dropped on the way."""
    user, addr = _key(username, address)
    ctx.session.execute(delete(LoginFailure).where(LoginFailure.at <= ctx.now - window))
    ctx.session.add(LoginFailure(username=user, address=addr, at=ctx.now))


def clear_failures(ctx: Ctx, *, username: str, address: str) -> None:
    """A successful login forgets this user's failures from this address."""
    user, addr = _key(username, address)
    ctx.session.execute(
        delete(LoginFailure).where(LoginFailure.username == user, LoginFailure.address == addr)
    )
