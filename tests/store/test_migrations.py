"""Migrations: a fresh database gets the whole schema, opening again changes nothing."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from certdesk.application.compose import open_desk
from certdesk.desk import Actor, add_tenant, list_tenants
from certdesk.settings import Settings
from certdesk.store.db import MIGRATIONS, Store, make_engine
from certdesk.store.models import Base, Domain
from certdesk.store.monitoring import ServedChain
from tests.database import snapshot


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_fresh_database_gets_every_table_and_column(settings: Settings) -> None:
    store = Store.open(settings.database_url)
    try:
        inspector = inspect(store.engine)
        tables = set(inspector.get_table_names())
        assert tables == {*Base.metadata.tables, "alembic_version"}
        for name, table in Base.metadata.tables.items():
            columns = {c["name"] for c in inspector.get_columns(name)}
            assert columns == {c.name for c in table.columns}, name
            foreign = {
                (tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in inspector.get_foreign_keys(name)
            }
            assert foreign == {
                ((fk.parent.name,), fk.column.table.name) for fk in table.foreign_keys
            }, name
        # The migrations make exactly what the models describe (autogenerate finds nothing).
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        with store.engine.connect() as conn:
            assert conn.scalar(text("SELECT version_num FROM alembic_version")) == _head()
    finally:
        store.close()


def test_opening_twice_is_idempotent(settings: Settings) -> None:
    first = open_desk(settings)
    try:
        first.run(Actor("test"), add_tenant, name="Reseller One", emails=["ops@one.example"])
        before = snapshot(first)
    finally:
        first.store.close()
    second = open_desk(settings)
    try:
        second.store.migrate()  # and a third time, on the same engine
        assert snapshot(second) == before
        assert before["alembic_version"] == [(_head(),)]
        names = [t.name for t in second.run(Actor("test"), list_tenants)]
        assert names == ["Reseller One"]
    finally:
        second.store.close()


def test_foreign_keys_are_enforced(settings: Settings) -> None:
    store = Store.open(settings.database_url)
    try:
        with pytest.raises(IntegrityError), store.transaction() as session:
            session.execute(
                insert(Domain).values(
                    tenant_id=12345,
                    url="https://orphan.test.com",
                    hostname="orphan.test.com",
                    port=443,
                    portal="other",
                    monitored=True,
                    created_at=datetime.now(UTC),
                )
            )
        with store.engine.connect() as conn:
            assert conn.scalar(select(Domain.id)) is None
    finally:
        store.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_runs_in_wal_mode_with_foreign_keys(settings: Settings) -> None:
    store = Store.open(settings.database_url)
    try:
        for _ in range(2):  # every pooled connection, not only the first
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        # WAL is a property of the file itself: a plain sqlite3 connection sees it too.
        path = settings.database_url.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(path)) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        store.close()


def test_0011_marks_installed_what_a_handshake_showed_served(settings: Settings) -> None:
    """Upgrading a database of 0009: the certificate a probe saw served is ``installed``
    (since that probe), any other binding only ``stored``."""
    engine = make_engine(settings.database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    now = datetime(2026, 11, 1, tzinfo=UTC)
    seen = datetime(2026, 11, 2, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0009")
        tables = Base.metadata.tables
        with engine.begin() as conn:
            conn.execute(
                insert(tables["tenants"]).values(id=1, name="T", emails=[], created_at=now)
            )
            for n in (1, 2):
                conn.execute(  # the columns of 0009 (the model has more since)
                    text(
                        "INSERT INTO domains (id, tenant_id, url, hostname, port, portal, "
                        "monitored, created_at) VALUES (:n, 1, :url, :host, 443, 'other', "
                        ":yes, :at)"
                    ),
                    {"n": n, "url": f"https://s{n}.test.com", "host": f"s{n}.test.com",
                     "yes": True, "at": now},
                )  # fmt: skip
                conn.execute(
                    insert(tables["certificates"]).values(
                        id=n, tenant_id=1, sha256=f"{n}" * 64, spki_sha256="a" * 64,
                        subject="CN=x", issuer="CN=y", serial="1", not_before=now,
                        not_after=now, dns_names=[], key_type="RSA", key_size=2048,
                        chain_pem="", source="pfx", created_at=now,
                    )
                )  # fmt: skip
                conn.execute(
                    text(
                        "INSERT INTO bindings (id, domain_id, certificate_id, bound_at) "
                        "VALUES (:n, :n, :n, :at)"
                    ),
                    {"n": n, "at": now},
                )
            # Domain 1 serves its certificate; domain 2 serves another one.
            for n, served in ((1, "1" * 64), (2, "9" * 64)):
                conn.execute(
                    insert(tables["domain_states"]).values(
                        domain_id=n, served_sha256=served, served_at=seen
                    )
                )
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, install_state, installed_at FROM bindings ORDER BY id")
            ).all()
        states = [(i, s, at is not None) for i, s, at in rows]
        assert states == [(1, "installed", True), (2, "stored", False)]
    finally:
        engine.dispose()


def _job_engine_revision() -> tuple[str, str]:
    """(the revision that made the job engine's tables, the one before it)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    for script in ScriptDirectory.from_config(config).walk_revisions():
        if (script.doc or "").startswith("the job engine"):
            assert isinstance(script.down_revision, str)
            return script.revision, script.down_revision
    raise AssertionError("no migration makes job_units")


def _migrate(store: Store, revision: str, *, down: bool = False) -> None:

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


_AT = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def _acme_at(settings: Settings, revision: str, *, domain: bool = False) -> tuple[Store, int]:
    """The store migrated to ``revision`` and no further, with one tenant, Acme (its id is
    returned), and with ``domain`` its verified domain https://s.test.com (a revision
    with ownership claims), all made at ``_AT``."""
    store = Store.open(settings.database_url, migrate=False)
    try:
        _migrate(store, revision)
        with store.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO tenants (name, emails, created_at) VALUES ('Acme', '[]', :at)"),
                {"at": _AT},
            )
            tenant = conn.scalar(text("SELECT id FROM tenants"))
            if domain:
                conn.execute(
                    text(
                        "INSERT INTO domains (tenant_id, url, hostname, port, portal, "
                        "monitored, created_at, claim) SELECT id, 'https://s.test.com', "
                        "'s.test.com', 443, 'other', :yes, :at, 'verified' FROM tenants"
                    ),
                    {"yes": True, "at": _AT},
                )
    except BaseException:
        store.close()
        raise
    assert isinstance(tenant, int)
    return store, tenant


def test_report_deliveries_move_into_the_job_engine_and_back(settings: Settings) -> None:
    """The report history of a database made before the job engine is kept: each delivery
    becomes a unit of its report job (and goes back on a downgrade)."""
    engine_revision, before = _job_engine_revision()
    store, tenant = _acme_at(settings, before)
    try:
        at = _AT
        with store.engine.begin() as conn:
            deliveries = [
                ("daily", "2026-11-01", "operators", None, "sent", None, 3, "<m1@certdesk>"),
                ("daily", "2026-11-01", f"tenant:{tenant}", tenant, "empty", None, 0, None),
                ("monthly", "2026-11", "operators", None, "failed", at, 0, None),
                ("monthly", "2026-10", "operators", None, "failed", None, 0, None),
            ]
            for kind, period, recipient, owner, status, retry, rows, msg in deliveries:
                conn.execute(
                    text(
                        "INSERT INTO report_deliveries (kind, period, recipient, tenant_id, "
                        "status, claimed_by, claimed_at, attempts, next_attempt_at, "
                        "last_error, sent_at, late, rows, message_id) VALUES (:kind, "
                        ":period, :recipient, :owner, :status, 'host:1', :at, 1, :retry, "
                        ":error, :sent, :late, :rows, :msg)"
                    ),
                    {
                        "kind": kind,
                        "period": period,
                        "recipient": recipient,
                        "owner": owner,
                        "status": status,
                        "at": at,
                        "retry": retry,
                        "error": "451 try later" if status == "failed" else None,
                        "sent": at if status in ("sent", "empty") else None,
                        "late": kind == "monthly",
                        "rows": rows,
                        "msg": msg,
                    },
                )
        _migrate(store, engine_revision)
        with store.engine.connect() as conn:
            units = conn.execute(
                text(
                    "SELECT job, period, unit, tenant_id, status, outcome, attempts, "
                    "last_error, late FROM job_units ORDER BY id"
                )
            ).all()
            assert [tuple(u) for u in units] == [
                ("report.daily", "2026-11-01", "operators", None, "done", "sent", 1, None, False),
                (
                    "report.daily",
                    "2026-11-01",
                    f"tenant:{tenant}",
                    tenant,
                    "done",
                    "empty",
                    1,
                    None,
                    False,
                ),
                (
                    "report.monthly",
                    "2026-11",
                    "operators",
                    None,
                    "failed",
                    None,
                    1,
                    "451 try later",
                    True,
                ),
                (
                    "report.monthly",
                    "2026-10",
                    "operators",
                    None,
                    "gave-up",
                    None,
                    1,
                    "451 try later",
                    True,
                ),
            ]
            assert "report_deliveries" not in inspect(conn).get_table_names()
        _migrate(store, before, down=True)
        with store.engine.connect() as conn:
            back = conn.execute(
                text(
                    "SELECT kind, period, recipient, status, rows, message_id "
                    "FROM report_deliveries ORDER BY id"
                )
            ).all()
        assert [tuple(b) for b in back] == [
            ("daily", "2026-11-01", "operators", "sent", 3, "<m1@certdesk>"),
            ("daily", "2026-11-01", f"tenant:{tenant}", "empty", 0, None),
            ("monthly", "2026-11", "operators", "failed", 0, None),
            ("monthly", "2026-10", "operators", "failed", 0, None),
        ]
    finally:
        store.close()


def _revision_starting(words: str) -> tuple[str, str]:
    """(the revision whose docstring starts with ``words``, the one before it)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    for script in ScriptDirectory.from_config(config).walk_revisions():
        if (script.doc or "").startswith(words):
            assert isinstance(script.down_revision, str)
            return script.revision, script.down_revision
    raise AssertionError(f"no migration starts with {words!r}")


def test_domains_known_before_claims_are_verified_and_pending_claims_share_a_name(
    settings: Settings,
) -> None:
    """Upgrading a database of before ownership claims: every domain is verified (its
    tenant keeps it); then two tenants' pending claims of one name fit beside it, a second
    verified owner does not; the downgrade goes back (once only verified rows are left)."""
    claims, before = _revision_starting("ownership claims of domains")
    store = Store.open(settings.database_url)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    row = (
        "INSERT INTO domains (tenant_id, url, hostname, port, portal, monitored, created_at"
        "{extra}) VALUES (:t, :url, :host, 443, 'other', :yes, :at{values})"
    )
    try:
        _migrate(store, before, down=True)
        with store.engine.begin() as conn:
            for n in (1, 2):
                conn.execute(
                    insert(Base.metadata.tables["tenants"]).values(
                        id=n, name=f"T{n}", emails=[], created_at=now
                    )
                )
            conn.execute(
                text(row.format(extra="", values="")),
                {"t": 1, "url": "https://a.test.com", "host": "a.test.com", "yes": True, "at": now},
            )
        _migrate(store, claims)
        with store.engine.begin() as conn:
            assert conn.execute(text("SELECT claim, claim_attempts FROM domains")).all() == [
                ("verified", 0)
            ]
            for t in (1, 2):
                conn.execute(
                    text(row.format(extra=", claim", values=", 'pending'")),
                    {"t": t, "url": "https://b.test.com", "host": "b.test.com", "yes": True,
                     "at": now},
                )  # fmt: skip
        with pytest.raises(IntegrityError), store.engine.begin() as conn:
            conn.execute(
                text(row.format(extra=", claim", values=", 'verified'")),
                {"t": 2, "url": "https://a.test.com", "host": "a.test.com", "yes": True, "at": now},
            )
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM domains WHERE claim = 'pending'"))
        _migrate(store, before, down=True)
        _migrate(store, "head")
    finally:
        store.close()


def test_probe_requests_become_work_requests_and_back(settings: Settings) -> None:
    """The queued "probe now" requests are kept when the queue is generalised: each becomes
    a work request of kind ``probe`` (one left running is free to be taken over), new
    requests get new ids after them, and a downgrade gives the probes back."""
    revision, before = _revision_starting("on-demand work requests")
    store, tenant = _acme_at(settings, before)
    try:
        at = _AT
        with store.engine.begin() as conn:
            for n, (status, started) in enumerate((("queued", None), ("running", at)), start=7):
                conn.execute(
                    text(
                        "INSERT INTO probe_requests (id, tenant_id, requested_by, urls, key, "
                        "status, created_at, started_at, claimed_by, targets, ok) VALUES "
                        "(:id, :tenant, 'user:alpha', :urls, :key, :status, :at, :started, "
                        ":by, 0, 0)"
                    ),
                    {
                        "id": n,
                        "tenant": tenant,
                        "urls": f'["https://s{n}.test.com"]',
                        "key": f"k{n}",
                        "status": status,
                        "at": at,
                        "started": started,
                        "by": "host:1:probe-0" if started else None,
                    },
                )
        _migrate(store, revision)
        with store.engine.begin() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, kind, tenant_id, status, attempts, lease_until IS NOT NULL, urls "
                    "FROM work_requests ORDER BY id"
                )
            ).all()
            assert [tuple(r[:6]) for r in rows] == [
                (7, "probe", tenant, "queued", 0, False),
                (8, "probe", tenant, "running", 1, True),
            ]
            assert "probe_requests" not in inspect(conn).get_table_names()
            conn.execute(
                text(
                    "INSERT INTO work_requests (kind, tenant_id, requested_by, urls, key, "
                    "status, created_at, attempts, targets, ok) VALUES ('install', :tenant, "
                    "'user:alpha', '[]', 'k', 'queued', :at, 0, 0, 0)"
                ),
                {"tenant": tenant, "at": at},
            )
            assert conn.scalar(text("SELECT MAX(id) FROM work_requests")) == 9
        _migrate(store, before, down=True)
        with store.engine.connect() as conn:
            back = conn.execute(
                text("SELECT id, status, key FROM probe_requests ORDER BY id")
            ).all()
        assert [tuple(b) for b in back] == [(7, "queued", "k7"), (8, "running", "k8")]
    finally:
        store.close()


def test_domain_states_lose_their_probe_ids_and_get_them_back_empty(
    settings: Settings,
) -> None:
    """0017 drops ``domain_states.last_probe_id`` and ``served_probe_id`` (and their
    foreign keys to ``probes``) and keeps every state; a downgrade brings the columns and
    their foreign keys back, empty."""
    revision, before = _revision_starting("domain states without probe ids")
    store, _ = _acme_at(settings, before, domain=True)
    at = _AT
    try:
        with store.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO probes (domain_id, at, ok) SELECT id, :at, :no FROM domains"),
                {"at": at, "no": False},
            )
            conn.execute(
                text(
                    "INSERT INTO domain_states (domain_id, last_probe_id, last_probe_at, "
                    "last_ok, served_probe_id) SELECT domain_id, id, at, ok, id FROM probes"
                )
            )
        _migrate(store, revision)
        with store.engine.begin() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("domain_states")}
            assert {"last_probe_id", "served_probe_id"}.isdisjoint(columns)
            assert _referred(conn, "domain_states") == {"domains"}
            last_ok = conn.execute(text("SELECT last_ok FROM domain_states")).scalar_one()
            assert last_ok in (False, 0)  # SQLite says 0
        _migrate(store, before, down=True)
        with store.engine.connect() as conn:
            back = conn.execute(
                text("SELECT last_probe_id, served_probe_id, last_ok FROM domain_states")
            ).one()
            assert (back[0], back[1]) == (None, None)
            assert back[2] in (False, 0)
            assert _referred(conn, "domain_states") == {"domains", "probes"}
    finally:
        store.close()


def _referred(conn: Connection, table: str) -> set[str]:
    return {fk["referred_table"] for fk in inspect(conn).get_foreign_keys(table)}


def test_probes_chains_are_stored_once_and_come_back(settings: Settings) -> None:
    """0018 moves each distinct ``probes.chain_pem`` into ``served_chains`` once (keyed
    by the SHA-256 of its text, first seen at its earliest probe) and sets each probe's
    ``chain_id`` (NULL where no chain was read); a downgrade gives every probe its PEM
    back."""
    revision, before = _revision_starting("served chains stored once")
    store, _ = _acme_at(settings, before, domain=True)
    one = "-----BEGIN CERTIFICATE-----\nMIIBone\n-----END CERTIFICATE-----\n"
    two = "-----BEGIN CERTIFICATE-----\nMIIBtwo\n-----END CERTIFICATE-----\n" + one
    probes = [  # (hours after _AT, chain)
        (5, one), (1, one), (3, None), (2, two), (6, two), (0, None),
    ]  # fmt: skip
    try:
        with store.engine.begin() as conn:
            for hours, pem in probes:
                conn.execute(
                    text(
                        "INSERT INTO probes (domain_id, at, ok, chain_pem) "
                        "SELECT id, :at, :ok, :pem FROM domains"
                    ),
                    {"at": _AT + timedelta(hours=hours), "ok": pem is not None, "pem": pem},
                )
        _migrate(store, revision)
        with store.engine.connect() as conn:
            assert "chain_pem" not in {c["name"] for c in inspect(conn).get_columns("probes")}
            assert _referred(conn, "probes") == {"domains", "served_chains"}
            chains = conn.execute(
                select(ServedChain.id, ServedChain.sha256, ServedChain.chain_pem,
                       ServedChain.first_seen_at).order_by(ServedChain.id)
            ).all()  # fmt: skip
            assert sorted((sha, pem, seen) for _, sha, pem, seen in chains) == sorted(
                [
                    (hashlib.sha256(one.encode()).hexdigest(), one, _AT + timedelta(hours=1)),
                    (hashlib.sha256(two.encode()).hexdigest(), two, _AT + timedelta(hours=2)),
                ]
            )
            id_of = {pem: chain_id for chain_id, _, pem, _ in chains}
            chain_ids = conn.scalars(text("SELECT chain_id FROM probes ORDER BY id")).all()
            assert chain_ids == [None if pem is None else id_of[pem] for _, pem in probes]
        _migrate(store, before, down=True)
        with store.engine.connect() as conn:
            back = conn.scalars(text("SELECT chain_pem FROM probes ORDER BY id")).all()
            assert back == [pem for _, pem in probes]
            assert "chain_id" not in {c["name"] for c in inspect(conn).get_columns("probes")}
            assert "served_chains" not in inspect(conn).get_table_names()
            assert _referred(conn, "probes") == {"domains"}
        _migrate(store, "head")  # and up again
    finally:
        store.close()
