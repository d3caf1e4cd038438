"""Migration 0010 (pipelines) on SQLite and PostgreSQL: it builds what the models describe and rolls back."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.support.services import empty_pg_database
from videoapi.db.migrate import current, downgrade, upgrade
from videoapi.settings import Settings
from videoapi.tables import metadata

TASK_COLUMNS = {"pipeline_id", "step_id", "depends_on", "bindings"}


def check_up_down_up(async_url: str, sync_url: str) -> None:
    upgrade(async_url)
    engine = sa.create_engine(sync_url)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            assert "pipelines" in inspector.get_table_names()
            assert TASK_COLUMNS <= {c["name"] for c in inspector.get_columns("tasks")}
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
            assert [d for d in diff if "pipeline" in str(d) or any(c in str(d) for c in TASK_COLUMNS)] == []
        downgrade(async_url, "0009")
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            assert "pipelines" not in inspector.get_table_names()
            assert not TASK_COLUMNS & {c["name"] for c in inspector.get_columns("tasks")}
        upgrade(async_url)
        assert current(async_url).endswith("(head)")
    finally:
        engine.dispose()


def test_pipelines_migration_on_sqlite(make_settings: Callable[..., Settings]) -> None:
    url = make_settings().database_url
    check_up_down_up(url, url.replace("+aiosqlite", ""))


@pytest.mark.postgres
def test_pipelines_migration_on_postgres() -> None:
    with empty_pg_database("videoapi_pipelines") as url:
        check_up_down_up(url, url.replace("+asyncpg", "+psycopg2"))
