"""Engines, sessions and migrations. SQLite (WAL, foreign keys on) or PostgreSQL (psycopg 3)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import psycopg.sql
from sqlalchemy import (
    ColumnElement,
    Engine,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    insert,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker

from certdesk.errors import InvalidArgument, Unavailable
from certdesk.fixes import Action, fix

MIGRATIONS = Path(__file__).parent / "migrations"

V = TypeVar("V")


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


def one_of(
    session: Session, column: ColumnElement[V] | QueryableAttribute[V], values: Sequence[V]
) -> ColumnElement[bool]:
    """``column IN (values)``, for long lists of ids (or other keys): on PostgreSQL
    ``column = ANY(:array)``, one parameter (an array of the column's type), so the
    statement's text is the same whatever the list's length (psycopg and the server parse
    it once; an ``IN`` of hundreds of parameters is rendered and converted anew each time);
    elsewhere (SQLite) an ``IN``."""
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(values)
    return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))


def insert_new(session: Session, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table``, each unless a row with its ``key`` (a column with a
    unique constraint) is there already: ``INSERT … ON CONFLICT (key) DO NOTHING`` on
    PostgreSQL and SQLite alike. So two processes inserting the same new row at once do
    not fail: on PostgreSQL the second waits for the first's transaction and, once it has
    committed, inserts nothing (a statement after it sees the row)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    session.execute(stmt.on_conflict_do_nothing(index_elements=[table.c[key]]), list(rows))


def _driver(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session's transaction (PostgreSQL)."""
    raw = session.connection().connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    return raw


def insert_all(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table`` (every row has the same keys): on PostgreSQL by one
    ``COPY … FROM STDIN``, elsewhere (SQLite) by an executemany."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    _copy(session, table, rows)


def _copy(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Stream ``rows`` into ``table`` by ``COPY … FROM STDIN`` (PostgreSQL), each value
    through its column's type as an ``INSERT`` would bind it."""
    dialect = session.get_bind().dialect
    names = list(rows[0])
    binds = [table.c[name].type.bind_processor(dialect) for name in names]
    session.flush()  # what the session holds goes first, as before any statement
    raw = _driver(session)
    statement = psycopg.sql.SQL("COPY {} ({}) FROM STDIN").format(
        psycopg.sql.Identifier(table.name),
        psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, names)),
    )
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                [
                    row[name] if bind is None else bind(row[name])
                    for name, bind in zip(names, binds, strict=True)
                ]
            )


def update_rows(session: Session, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Update the rows of ``table`` whose column ``key`` has each row's ``key`` value, to
    that row's other values (every row has the same keys).

    On PostgreSQL: one ``UPDATE … FROM unnest(…)`` with one array per column (each value
    through its column's type, as an ``UPDATE`` would bind it), where an executemany
    costs the client and the server a statement per row. Elsewhere (SQLite): an
    executemany.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect
    names = [name for name in rows[0] if name != key]
    if dialect.name != "postgresql":
        session.execute(
            update(table)
            .where(table.c[key] == bindparam(f"b_{key}"))
            .values({name: bindparam(f"b_{name}") for name in names}),
            [{f"b_{name}": value for name, value in row.items()} for row in rows],
        )
        return
    columns = [key, *names]
    arrays: list[list[Any]] = []
    for name in columns:
        bind = table.c[name].type.bind_processor(dialect)
        values = [row[name] for row in rows]
        arrays.append(values if bind is None else [bind(v) for v in values])
    Sql, Id = psycopg.sql.SQL, psycopg.sql.Identifier
    statement = Sql("UPDATE {table} SET {sets} FROM unnest({arrays}) AS v ({names}) "
                    "WHERE {table}.{key} = v.{key}").format(
        table=Id(table.name),
        sets=Sql(", ").join(Sql("{} = v.{}").format(Id(n), Id(n)) for n in names),
        arrays=Sql(", ").join(
            Sql("%s::{}[]").format(Sql(table.c[n].type.compile(dialect=dialect))) for n in columns
        ),
        names=Sql(", ").join(map(Id, columns)),
        key=Id(key),
    )  # fmt: skip
    session.flush()  # what the session holds goes first, as before any statement
    raw = _driver(session)
    with raw.cursor() as cursor:
        cursor.execute(statement, arrays)


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
