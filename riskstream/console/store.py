"""Opening the case store: one SQLite file by default, PostgreSQL by URL.

::

    store = CaseStore.open("var/cases.db")                       # a path: SQLite
    store = CaseStore.open("postgresql+psycopg://u@host/cases")  # a URL: anything SQLAlchemy opens

Opening runs the Alembic migrations in ``riskstream/console/migrations`` up to
the newest revision, so a new file or an empty database is ready to use and an
older one is upgraded in place.  ``RISKSTREAM_CASES_URL`` names the default store.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DEFAULT_PATH = "var/cases.db"
URL_ENV = "RISKSTREAM_CASES_URL"


class StoreError(RuntimeError):
    """The case store cannot be opened or used; the message says why and where."""


def store_url(target: str | os.PathLike | None = None) -> str:
    """A SQLAlchemy URL for ``target``: a URL as given, a path as a SQLite file, else the default."""
    target = os.fspath(target) if target is not None else os.environ.get(URL_ENV) or DEFAULT_PATH
    if "://" in target:
        return target
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


class JSONText(str):
    """A value for a JSON column that is JSON text already: written as it is, not encoded again."""

    __slots__ = ()


def json_text(value) -> str:
    """How JSON columns are written: orjson's text, or a :class:`JSONText` as it is."""
    return value if value.__class__ is JSONText else orjson.dumps(value).decode()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (the console) do not block the ingest's writes
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: a commit is not an fsync, a checkpoint is
    # checkpoint (and fsync) every 10,000 pages (about 40 MB of WAL) rather than SQLite's 1,000: a batch of
    # ingest writes several MB, and the checkpoints were half its time
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def migrate(engine: Engine) -> str:
    """Upgrade the schema to the newest migration; returns the revision now applied."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() or ""


class CaseStore:
    """An open case store: an engine, a session factory and the schema revision."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.schema_revision = ""

    @classmethod
    def open(cls, target: str | os.PathLike | None = None, *, migrate_schema: bool = True) -> "CaseStore":
        url = store_url(target)
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise StoreError(f"case store URL {url!r} is not valid: {exc}") from None
        sqlite = parsed.get_backend_name() == "sqlite"
        engine = create_engine(url, future=True, pool_pre_ping=not sqlite, json_serializer=json_text,
                               json_deserializer=orjson.loads)  # JSON columns (reasons, clusters) via orjson
        if sqlite:
            event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            if migrate_schema:
                store.schema_revision = migrate(engine)
        except OperationalError as exc:
            engine.dispose()
            shown = parsed.render_as_string(hide_password=True)
            raise StoreError(f"case store {shown} cannot be opened: {exc.orig}") from None
        return store

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on an error."""
        with self.sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "CaseStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = ["CaseStore", "JSONText", "StoreError", "json_text", "migrate", "store_url"]
