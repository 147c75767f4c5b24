"""Alembic environment for the case store: run programmatically by :func:`riskstream.console.store.migrate`,
which hands over its open connection in ``config.attributes["connection"]``."""

from alembic import context

from riskstream.console.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
