"""Alembic environment: runs migrations on the async engine that settings describe."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from videoapi.db.engine import make_engine
from videoapi.settings import load_settings
from videoapi.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs table copies for ALTERs
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    settings = load_settings()
    engine = make_engine(settings, url=config.get_main_option("sqlalchemy.url") or None)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_main())
