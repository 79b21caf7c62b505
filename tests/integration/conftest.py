"""Integration fixtures beyond tests/conftest.py: a PostgreSQL server of a test's own, for the tests that
stop or restart it (tests/support/postgres.py)."""

from tests.support.postgres import private_database_url, private_postgres

__all__ = ["private_database_url", "private_postgres"]
