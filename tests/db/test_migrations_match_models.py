"""The migrations build exactly the schema the models describe (no column or table is missing from one)."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from videoapi.db.migrate import upgrade
from videoapi.settings import Settings
from videoapi.tables import metadata


def test_upgraded_database_matches_the_models(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    upgrade(settings.database_url)
    engine = sa.create_engine(settings.database_url.replace("+aiosqlite", ""))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
    finally:
        engine.dispose()
    # Index differences on SQLite (partial/expression indexes it reflects differently) are not schema drift.
    tables_and_columns = [d for d in diff if not (isinstance(d, tuple) and d[0] in ("add_index", "remove_index"))]
    assert tables_and_columns == []
