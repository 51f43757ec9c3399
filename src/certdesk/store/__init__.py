"""Persistence: SQLAlchemy models, migrations, sessions and the key vault."""

from certdesk.store import accounts as _accounts  # noqa: F401  (registers the tables)
from certdesk.store import jobs as _jobs  # noqa: F401
from certdesk.store import monitoring as _monitoring  # noqa: F401
from certdesk.store.db import Store, StoreUnavailable
from certdesk.store.vault import Vault, VaultLocked

__all__ = ["Store", "StoreUnavailable", "Vault", "VaultLocked"]
