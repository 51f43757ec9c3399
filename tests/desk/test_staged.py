"""Intake reads its file outside any transaction: while the reader runs, another
connection can write (on SQLite, a transaction of the intake's own that held the write
lock would make that write wait for the busy timeout, and then fail).

The reader here is the command line's (in this process); between being called and
reading, it writes through a second desk on the same database with no patience at all
for a lock (``PRAGMA busy_timeout = 0`` on SQLite).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from certdesk import desk as d
from certdesk.application.compose import open_desk
from certdesk.desk import Actor, Desk
from certdesk.desk.context import read_here
from certdesk.settings import Settings
from certdesk.store import StoreUnavailable
from tests.flows import new_tenant, order, signed, submit_leaf
from tests.openssl_pki import OpenSSLPKI


def impatient(settings: Settings) -> Desk:
    """A second desk on the same database that never waits for a lock."""
    other = open_desk(settings)
    if settings.is_sqlite:

        @event.listens_for(other.store.engine, "connect")
        def no_wait(connection: Any, _record: Any) -> None:
            connection.execute("PRAGMA busy_timeout = 0")

        other.store.engine.dispose()
    return other


def writing_reader(other: Desk, operator: Actor, names: list[str]) -> Any:
    def reader(actor: Actor, read: Callable[[Any], Any], job: Any, /) -> Any:
        name = f"Written while reading {len(names)}"
        new_tenant(other, operator, name)  # would fail: "database is locked"
        names.append(name)
        return read_here(actor, read, job)

    return reader


def test_submit_and_complete_read_their_files_with_no_transaction_open(
    desk: Desk, settings: Settings, operator: Actor, pki: OpenSSLPKI, tmp_path: Any
) -> None:
    new_tenant(desk, operator)
    other = impatient(settings)
    names: list[str] = []
    try:
        staged = dataclasses.replace(desk, reader=writing_reader(other, operator, names))
        submitted = submit_leaf(staged, operator, pki)
        assert len(names) == 1
        view = order(desk, operator, cn="shop.example.org")
        done = staged.run(operator, d.complete_order, data=signed(pki, view, tmp_path).read_bytes())
        assert len(names) == 3  # the file read, then its chain checked
    finally:
        other.store.close()
    assert done.order_id == view.id
    tenants = {t.name for t in desk.run(operator, d.list_tenants)}
    assert set(names) <= tenants
    assert submitted.sha256 in {c.certificate_sha256 for c in desk.run(operator, d.list_domains)}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_reader_under_the_write_lock_would_have_failed(
    desk: Desk, settings: Settings, operator: Actor
) -> None:
    """The check above can fail: inside a write transaction, the impatient write fails."""
    other = impatient(settings)
    try:
        with desk.context(operator) as ctx:
            ctx.session.execute(text("SELECT 1"))  # the transaction begins (IMMEDIATE)
            with pytest.raises(StoreUnavailable) as caught:
                new_tenant(other, operator, "Never written")
            # Translated once, at the store, from SQLAlchemy's error.
            assert isinstance(caught.value.__cause__, OperationalError)
            assert "locked" in str(caught.value.__cause__)
    finally:
        other.store.close()
