"""Alembic's entry point for siform's server: runs the migrations on the engine ``db.upgrade`` passes.

There is no alembic.ini: the database URL comes from the server's settings, never from a file in the
package, and the engine arrives in ``config.attributes``.
"""

from __future__ import annotations

from alembic import context

from siform.server.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # pragma: no cover - only `alembic` run by hand without siform's db.upgrade
    raise RuntimeError("run migrations through siform.server.db.upgrade(engine)")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()
