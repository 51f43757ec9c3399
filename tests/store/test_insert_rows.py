"""store.insert_rows on SQLite and PostgreSQL: each row gets its own new id, returned in
the order of the rows, also while another transaction inserts into the same table (on
PostgreSQL; SQLite has one writer at a time). And its kin ``insert_all`` and
``update_rows``, which bypass the ORM on PostgreSQL (COPY, ``UPDATE … FROM unnest``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Table, insert, select

from certdesk.desk import Actor, Desk
from certdesk.store.db import insert_all, insert_rows, update_rows
from certdesk.store.models import Tenant
from certdesk.store.monitoring import DomainState, Probe
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


STATES: Table = DomainState.__table__  # type: ignore[assignment]


def test_insert_all_and_update_rows_bind_each_value_through_its_column(
    desk: Desk, operator: Actor
) -> None:
    """``insert_all`` and ``update_rows`` (COPY and one ``UPDATE … FROM unnest`` on
    PostgreSQL): every value stored as an ``INSERT``/``UPDATE`` would bind it (a
    non-UTC instant in UTC, a column of NULLs), only the rows named changed."""
    new_tenant(desk, operator)
    domains = Tenant.metadata.tables["domains"]
    with desk.store.transaction() as session:
        tenant = session.scalars(select(Tenant.id)).one()
        ids = list(
            session.scalars(
                insert(domains).returning(domains.c.id, sort_by_parameter_order=True),
                [{"tenant_id": tenant, "url": f"https://s{i}.test.com", "hostname":
                  f"s{i}.test.com", "port": 443, "portal": "other", "monitored": True,
                  "created_at": AT} for i in range(4)],
            )
        )  # fmt: skip
    paris = timezone(timedelta(hours=1))
    with desk.store.transaction() as session:
        insert_all(
            session,
            STATES,
            [{"domain_id": d, "last_probe_at": AT, "last_ok": True, "last_error_kind": "x"}
             for d in ids],
        )  # fmt: skip
        insert_all(session, STATES, [])
    with desk.store.transaction() as session:
        update_rows(
            session,
            STATES,
            "domain_id",
            [{"domain_id": d, "last_probe_at": AT.astimezone(paris) + timedelta(minutes=i),
              "last_ok": i % 2 == 0, "last_error_kind": None} for i, d in enumerate(ids[:3])],
        )  # fmt: skip
        update_rows(session, STATES, "domain_id", [])
    with desk.store.transaction() as session:
        found = {
            row.domain_id: (row.last_probe_at, row.last_ok, row.last_error_kind)
            for row in session.execute(select(DomainState)).scalars().all()
        }
    assert found == {
        ids[0]: (AT, True, None),
        ids[1]: (AT + timedelta(minutes=1), False, None),
        ids[2]: (AT + timedelta(minutes=2), True, None),
        ids[3]: (AT, True, "x"),
    }
    assert all(
        at.tzinfo is not None and at.utcoffset() == timedelta(0) for at, _, _ in found.values()
    )
