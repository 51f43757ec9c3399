"""store.insert_all, update_rows, insert_new and one_of on SQLite and PostgreSQL, where
the first two bypass the ORM (``COPY``, one ``UPDATE … FROM unnest``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Table, insert, select

from certdesk.desk import Actor, Desk
from certdesk.store.db import insert_all, insert_new, one_of, update_rows
from certdesk.store.models import Tenant
from certdesk.store.monitoring import DomainState, ServedChain
from tests.flows import new_tenant

AT = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
STATES: Table = DomainState.__table__  # type: ignore[assignment]
CHAINS: Table = ServedChain.__table__  # type: ignore[assignment]


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


def test_insert_new_skips_the_rows_whose_key_is_there_and_one_of_takes_text(
    desk: Desk,
) -> None:
    """``insert_new`` (``ON CONFLICT … DO NOTHING``) adds only the rows whose unique key is
    new and leaves the others as they were; ``one_of`` finds rows by a text column (an
    array of its type on PostgreSQL)."""
    with desk.store.transaction() as session:
        insert_new(session, CHAINS, "sha256", [
            {"sha256": "a" * 64, "chain_pem": "A", "first_seen_at": AT},
            {"sha256": "b" * 64, "chain_pem": "B", "first_seen_at": AT},
        ])  # fmt: skip
        insert_new(session, CHAINS, "sha256", [])
    with desk.store.transaction() as session:
        later = AT + timedelta(hours=1)
        insert_new(session, CHAINS, "sha256", [
            {"sha256": "b" * 64, "chain_pem": "B again", "first_seen_at": later},
            {"sha256": "c" * 64, "chain_pem": "C", "first_seen_at": later},
        ])  # fmt: skip
    with desk.store.transaction() as session:
        rows = session.execute(
            select(ServedChain.sha256, ServedChain.chain_pem, ServedChain.first_seen_at)
            .where(one_of(session, ServedChain.sha256, ["b" * 64, "c" * 64, "d" * 64]))
            .order_by(ServedChain.sha256)
        ).all()
        total = session.scalars(select(ServedChain.id)).all()
    assert [tuple(r) for r in rows] == [("b" * 64, "B", AT), ("c" * 64, "C", later)]
    assert len(total) == 3
