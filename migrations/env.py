"""Alembic environment: the models' metadata and the URL from the app (or ``sqlalchemy.url``)."""
from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

import core.all_models  # noqa: F401  (imports every model so the metadata is complete)
from core.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
