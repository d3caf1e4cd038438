"""Migration 0007 (templates) on SQLite and PostgreSQL: it builds what the models describe, and rolls back."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.support.services import empty_pg_database
from videoapi.db.migrate import downgrade, upgrade
from videoapi.settings import Settings
from videoapi.tables import metadata

TABLES = {"templates", "template_versions"}


def check_up_down_up(async_url: str, sync_url: str) -> None:
    upgrade(async_url)
    engine = sa.create_engine(sync_url)
    try:
        with engine.connect() as conn:
            assert TABLES <= set(sa.inspect(conn).get_table_names())
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
            ours = [d for d in diff if isinstance(d, tuple) and "template" in str(d)]
            assert ours == []
        downgrade(async_url, "0006")
        with engine.connect() as conn:
            assert not TABLES & set(sa.inspect(conn).get_table_names())
            assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0006"
        upgrade(async_url, "0007")
        with engine.connect() as conn:
            assert TABLES <= set(sa.inspect(conn).get_table_names())
            assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) != "0006"
    finally:
        engine.dispose()


def test_templates_migration_on_sqlite(make_settings: Callable[..., Settings]) -> None:
    url = make_settings().database_url
    check_up_down_up(url, url.replace("+aiosqlite", ""))


@pytest.mark.postgres
def test_templates_migration_on_postgres() -> None:
    with empty_pg_database("videoapi_templates") as url:
        check_up_down_up(url, url.replace("+asyncpg", "+psycopg2"))
