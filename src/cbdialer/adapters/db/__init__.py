"""The db adapter: the only package that imports asyncpg; all its SQL is in queries.sql and migrations/.
Connection-level failures come out of it as DatabaseUnavailable, a subclass of the port's StoreUnavailable."""

from cbdialer.adapters.db.database import Database
from cbdialer.adapters.db.errors import DatabaseUnavailable
from cbdialer.adapters.db.migrations import Migration, MigrationError, SchemaOutOfDate, load_migrations

__all__ = ["Database", "DatabaseUnavailable", "Migration", "MigrationError", "SchemaOutOfDate", "load_migrations"]
