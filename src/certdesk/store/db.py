"""Engines, sessions and migrations. SQLite (WAL, foreign keys on) or PostgreSQL (psycopg 3)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Engine, Table, create_engine, event, insert, text
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from certdesk.errors import InvalidArgument, Unavailable
from certdesk.fixes import Action, fix

MIGRATIONS = Path(__file__).parent / "migrations"


class StoreUnavailable(Unavailable):
    """The database is busy (locked, every connection in use) or cannot be reached."""

    code: ClassVar[str] = "store-unavailable"


class Store:
    """The database: one engine, sessions in transactions, migrations applied on open."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, database_url: str, *, migrate: bool = True) -> Store:
        """The database at ``database_url`` (``sqlite:///PATH`` or
        ``postgresql+psycopg://…``, as the settings normalise it)."""
        engine = make_engine(database_url)
        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent; safe at every start)."""
        # Deliberately lazy: alembic takes 0.1-0.3 s to import, and only this method needs
        # it (commands that never open the store, such as inspect and convert, skip it).
        from alembic import command  # noqa: PLC0415
        from alembic.config import Config  # noqa: PLC0415

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                if connection.dialect.name == "sqlite":
                    # Table statistics for the query planner, refreshed when they are stale.
                    connection.exec_driver_sql("PRAGMA optimize=0x10002")
        except OperationalError as exc:
            raise StoreUnavailable(
                f"cannot reach the database: {exc.orig}",
                hint="check CERTDESK_DATABASE_URL and that the database server is running",
            ) from exc

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error.

        On SQLite a writing transaction takes the write lock when it begins (so writers
        queue instead of failing half-way); a ``readonly`` one does not, so reads run
        side by side with each other and with a writer (WAL).

        A database that is locked past the busy timeout, cannot be reached, or has no free
        connection in the pool is translated here, once, into ``store-unavailable``; a value
        the database refuses (a NUL in text, a number out of range) into
        ``invalid-argument``: no caller above the store sees SQLAlchemy's errors.
        """
        try:
            if not readonly:
                with self._sessions() as session, session.begin():
                    yield session
                return
            with self.engine.connect() as connection:
                connection = connection.execution_options(certdesk_readonly=True)
                with Session(bind=connection, expire_on_commit=False) as session, session.begin():
                    yield session
        except (OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(
                "the database is busy or cannot be reached", hint="try again in a moment"
            ) from exc
        except DataError as exc:  # the caller's input: the transaction was rolled back
            raise InvalidArgument(
                "a value cannot be stored or looked up "
                "(a NUL character in text, or a number out of range)",
                hint="check the values given",
            ) from exc

    def close(self) -> None:
        self.engine.dispose()


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` into ``table`` (whose key is ``id``): their new ids, in order.

    On PostgreSQL the ids are drawn from the table's sequence in one query and the rows
    sent with them by one executemany (psycopg's pipeline, the statement prepared once):
    an ``INSERT … RETURNING`` of thousands of rows costs the client ~5 times more CPU, as
    psycopg converts each of its long statements anew. Elsewhere (SQLite): one
    ``INSERT … RETURNING``.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name != "postgresql":
        returning = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(session.scalars(returning, rows))
    ids = list(
        session.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            ),
            {"table": table.name, "n": len(rows)},
        )
    )
    session.execute(insert(table), [{**row, "id": i} for row, i in zip(rows, ids, strict=True)])
    return ids


def make_engine(url: str) -> Engine:
    sqlite = url.startswith("sqlite")
    kwargs: dict[str, Any] = {}
    if sqlite:
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            path = Path(url.removeprefix("sqlite:///"))
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                if not path.exists():  # the database is for certdesk's eyes only
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            except OSError as exc:
                raise StoreUnavailable(
                    f"cannot create the data folder {path.parent}: {exc.strerror}",
                    fix=fix(Action.CHOOSE_HOME),
                ) from exc
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache (default: 2 MiB)
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Take the write lock at the start, so two writers queue instead of failing mid-way;
    # a read-only transaction takes none.
    readonly = connection.get_execution_options().get("certdesk_readonly", False)
    connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")
