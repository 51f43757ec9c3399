"""Alembic environment: migrations run on the connection certdesk hands over."""

from __future__ import annotations

from alembic import context

import certdesk.store.accounts
import certdesk.store.acme
import certdesk.store.jobs
import certdesk.store.monitoring  # noqa: F401
from certdesk.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - certdesk always passes its connection
    raise RuntimeError("certdesk runs its migrations itself: use 'certdesk' commands")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
