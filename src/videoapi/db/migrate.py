"""Apply Alembic migrations programmatically (used by the CLI and the tests)."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from alembic import command
from alembic.config import Config
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from videoapi.settings import videoapi_home

ROOT = videoapi_home()
# Key of the PostgreSQL advisory lock that serialises `db upgrade` runs: any constant bigint; this one
# is "videoapi" in ASCII.
MIGRATION_LOCK_KEY = 0x766964656F617069


def alembic_config(database_url: str, stdout: TextIO | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"), stdout=stdout or sys.stdout)
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    with migration_lock(database_url):
        command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Undo migrations down to `revision` (a rollback to an older release), under the same lock."""
    with migration_lock(database_url):
        command.downgrade(alembic_config(database_url), revision)


def current(database_url: str) -> str:
    """The database's revision, marked `(head)` when it is the latest (Alembic's own wording)."""
    out = io.StringIO()
    command.current(alembic_config(database_url, stdout=out))
    return out.getvalue().strip()


@contextmanager
def migration_lock(database_url: str) -> Iterator[None]:
    """On PostgreSQL, hold a session advisory lock for the block; elsewhere do nothing.

    Several replicas that migrate at start (Kubernetes init containers) then run one after another:
    the first applies the migrations, the others wait and find the schema at head.
    """
    if make_url(database_url).get_backend_name() != "postgresql":
        yield
        return
    # The lock lives on its own connection and event loop, kept open while Alembic runs its own
    # loop (asyncio.run in migrations/env.py) in this thread.
    engine = create_async_engine(database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    loop = asyncio.new_event_loop()
    try:
        conn = loop.run_until_complete(engine.connect())
        try:
            loop.run_until_complete(conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}))
            try:
                yield
            finally:
                loop.run_until_complete(
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                )
        finally:
            loop.run_until_complete(conn.close())
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()
