"""The db adapter: the only package that imports asyncpg; all its SQL is in queries.sql and migrations/."""

from cbdialer.adapters.db.database import Database, DatabaseUnavailable
from cbdialer.adapters.db.migrations import Migration, MigrationError, load_migrations

__all__ = ["Database", "DatabaseUnavailable", "Migration", "MigrationError", "load_migrations"]
