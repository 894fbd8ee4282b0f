"""The database: an engine for a URL, and the Alembic migrations that bring it to the current schema.

SQLite (the default) gets foreign keys switched on, a write-ahead log and a busy timeout, so a few
uvicorn workers can share one file; a clinic group uses PostgreSQL, where nothing extra is needed.
Migrations live inside the package (``siform/server/migrations``), so an installed wheel can upgrade
its own database: ``siform serve`` applies them once, before its workers start.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from siform.server.settings import Settings, SettingsError


def make_engine(
    url: str, *, pool_size: int = 5, max_overflow: int = 10, sqlite_synchronous: str = "normal"
) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created if missing.

    ``pool_size`` connections stay open per process, ``max_overflow`` more may be opened under load
    (SQLAlchemy's defaults). ``sqlite_synchronous`` is SQLite's ``PRAGMA synchronous`` (see
    ``settings``): ``normal`` is what lets one file take a few hundred uploads per second.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError, ValueError
        raise SettingsError(
            f"The database URL is not valid ({exc}).",
            "Use sqlite:///FILE or postgresql+psycopg://USER:PASSWORD@HOST/DB.",
        ) from exc
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # the driver this extra installs
    if sqlite_synchronous not in ("normal", "full"):
        raise SettingsError(f"sqlite_synchronous must be 'normal' or 'full', not {sqlite_synchronous!r}.")
    kwargs: dict[str, Any] = {}
    if parsed.database and parsed.database != ":memory:":  # an in-memory SQLite has a pool of its own kind
        kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
    if parsed.get_backend_name() != "sqlite":
        kwargs["pool_pre_ping"] = True  # a database server may drop idle connections; a file cannot
    else:
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute(f"PRAGMA synchronous={sqlite_synchronous.upper()}")  # one of two checked words
            # SQLite copies the log into the database ("checkpoint", with a sync) inside the commit
            # that crosses this many pages, while the upload path still holds its writer lock (see
            # SqliteWriters): a pause of up to a quarter second for every writer here. The upload
            # path checkpoints in the background instead; this is the backstop (40 MB) for writes
            # that never go through it.
            cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_CHECKPOINT_PAGES}")
            cursor.close()

    return engine


def engine_for(settings: Settings) -> Engine:
    """The engine ``settings`` describe (URL, pool sizes, SQLite's sync mode)."""
    return make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        sqlite_synchronous=settings.sqlite_synchronous,
    )


BACKSTOP_CHECKPOINT_PAGES = 10_000
CHECKPOINT_EVERY_WRITES = 100
"""Uploads (a 25 KiB session is about ten 4 KiB pages of log) between background checkpoints."""


class SqliteWriters:
    """One writer at a time on a SQLite file, handed over at once: within a process by a thread
    lock, across uvicorn's worker processes by ``flock`` on a file beside the database.

    SQLite itself lets only one writer in and makes the others poll (its busy handler sleeps 1, 2,
    5, 10... ms between tries), so under a burst a writer can sleep on with the lock long free.
    Queued on a kernel lock they wake as soon as it is released. In the upload benchmark with two
    workers (two runs each, load about 1) throughput was the same within the noise, the tail was
    not: p95 32-46 ms and the slowest upload 134 ms with it, 55-68 ms and 445-647 ms without. Only
    the upload path takes it; anything else that writes still waits on SQLite's own lock, so it is
    an optimisation, never needed for correctness.
    """

    def __init__(self, database: str) -> None:
        self._thread_lock = threading.Lock()
        self._path = database + "-writers"
        self._writes = 0
        self._checkpointing = threading.Lock()

    def wrote(self, engine: Engine) -> None:
        """Count a write; every :data:`CHECKPOINT_EVERY_WRITES`, copy the log into the database in a
        background thread (``PRAGMA wal_checkpoint(PASSIVE)``: it takes no writer lock, so uploads
        go on meanwhile and nobody waits for its sync)."""
        with self._thread_lock:
            self._writes += 1
            due = self._writes >= CHECKPOINT_EVERY_WRITES
            if due:
                self._writes = 0
        if due and self._checkpointing.acquire(blocking=False):
            threading.Thread(target=self._checkpoint, args=(engine,), daemon=True).start()

    def _checkpoint(self, engine: Engine) -> None:
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:  # noqa: S110 - a checkpoint that fails is retried by the next one or the backstop
            pass
        finally:
            self._checkpointing.release()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if fcntl is None:  # pragma: no cover - not POSIX: the thread lock alone
                yield
                return
            # opened per write (some microseconds), so a process that has seen many databases
            # (a test run) keeps no descriptor open; closing it releases the lock
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)


_writers: dict[str, SqliteWriters] = {}
_writers_lock = threading.Lock()


def _sqlite_writers(engine: Engine) -> SqliteWriters | None:
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    with _writers_lock:
        found = _writers.get(url.database)
        if found is None:
            found = _writers[url.database] = SqliteWriters(url.database)
    return found


@contextlib.contextmanager
def writers(engine: Engine) -> Iterator[None]:
    """Held around a write transaction on the upload path (see :class:`SqliteWriters`); nothing for
    PostgreSQL, whose row locks queue writers themselves."""
    found = _sqlite_writers(engine)
    if found is None:
        yield
        return
    with found.held():
        yield
    found.wrote(engine)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config(engine: Engine | None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(str(resources.files("siform.server") / "migrations"))))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema (creates it on first use; a no-op when current)."""
    from alembic import command

    command.upgrade(_alembic_config(engine), "head")


def downgrade_to_empty(engine: Engine) -> None:
    """Undo every migration (tests check that each one can be reversed)."""
    from alembic import command

    command.downgrade(_alembic_config(engine), "base")


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        rev: str | None = MigrationContext.configure(conn).get_current_revision()
        return rev


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config(None))
    head = script.get_current_head()
    assert head is not None
    return head
