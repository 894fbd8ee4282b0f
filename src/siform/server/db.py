"""The database: an engine for a URL, and the Alembic migrations that bring it to the current schema.

SQLite (the default) gets foreign keys switched on, a write-ahead log and a busy timeout, so a few
uvicorn workers can share one file; a clinic group uses PostgreSQL, where nothing extra is needed.
Migrations live inside the package (``siform/server/migrations``), so an installed wheel can upgrade
its own database: ``siform serve`` applies them once, before its workers start.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from siform.server.settings import SettingsError


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created if missing."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError, ValueError
        raise SettingsError(
            f"The database URL is not valid ({exc}).",
            "Use sqlite:///FILE or postgresql+psycopg://USER:PASSWORD@HOST/DB.",
        ) from exc
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # the driver this extra installs
    kwargs: dict[str, Any] = {}
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
            cursor.close()

    return engine


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
