"""store.insert_rows on SQLite and PostgreSQL: each row gets its own new id, returned in
the order of the rows, also while another transaction inserts into the same table (on
PostgreSQL; SQLite has one writer at a time)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Table, insert, select

from certdesk.desk import Actor, Desk
from certdesk.store.db import insert_rows
from certdesk.store.models import Tenant
from certdesk.store.monitoring import Probe
from tests.flows import new_tenant

AT = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
PROBES: Table = Probe.__table__  # type: ignore[assignment]


def rows(domain_id: int, messages: list[str]) -> list[dict[str, object]]:
    return [
        {"domain_id": domain_id, "at": AT, "ok": False, "error_kind": "refused",
         "error_message": m}
        for m in messages
    ]  # fmt: skip


def test_ids_in_the_order_of_the_rows(desk: Desk, operator: Actor) -> None:
    new_tenant(desk, operator)
    with desk.store.transaction() as session:
        tenant = session.scalars(select(Tenant.id)).one()
        domain = session.execute(
            insert(Tenant.metadata.tables["domains"]).returning(
                Tenant.metadata.tables["domains"].c.id
            ),
            [{"tenant_id": tenant, "url": "https://store.test.com", "hostname": "store.test.com",
              "port": 443, "portal": "other", "monitored": True, "created_at": AT}],
        ).scalar_one()  # fmt: skip
    first = [f"first {i}" for i in range(300)]
    second = [f"second {i}" for i in range(5)]
    if desk.store.engine.dialect.name == "sqlite":  # one writer at a time: one after the other
        with desk.store.transaction() as one:
            ids_one = insert_rows(one, PROBES, rows(domain, first))
            assert insert_rows(one, PROBES, []) == []
        with desk.store.transaction() as other:
            ids_other = insert_rows(other, PROBES, rows(domain, second))
    else:  # two transactions drawing ids from the sequence in turn
        with desk.store.transaction() as one, desk.store.transaction() as other:
            ids_one = insert_rows(one, PROBES, rows(domain, first[:150]))
            ids_other = insert_rows(other, PROBES, rows(domain, second))
            ids_one += insert_rows(one, PROBES, rows(domain, first[150:]))
            assert insert_rows(one, PROBES, []) == []
    with desk.store.transaction() as session:
        found = session.execute(select(Probe.id, Probe.error_message))
        stored = {row.id: row.error_message for row in found}
    assert [stored[i] for i in ids_one] == first
    assert [stored[i] for i in ids_other] == second
    assert len(stored) == len(first) + len(second)
