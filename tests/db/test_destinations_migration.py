"""Migration 0009 (destinations) on SQLite and PostgreSQL: it builds what the models describe, rolls back,
and on PostgreSQL the copier's outbox and claim queries (FOR UPDATE OF ... SKIP LOCKED) run on it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.support.services import empty_pg_database
from videoapi.db.base import utcnow
from videoapi.db.engine import make_engine, make_sessionmaker, transaction
from videoapi.db.migrate import downgrade, upgrade
from videoapi.destinations.copier import Copier
from videoapi.destinations.crypto import CredentialBox
from videoapi.destinations.models import DestinationDelivery
from videoapi.settings import DestinationSettings, Settings
from videoapi.storage.local import LocalStore
from videoapi.tables import metadata
from videoapi.tasks.models import Task

TABLES = {"destinations", "destination_deliveries"}


def check_up_down_up(async_url: str, sync_url: str) -> None:
    upgrade(async_url)
    engine = sa.create_engine(sync_url)
    try:
        with engine.connect() as conn:
            assert TABLES <= set(sa.inspect(conn).get_table_names())
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
            assert [d for d in diff if "destination" in str(d)] == []
        downgrade(async_url, "0008")
        with engine.connect() as conn:
            assert not TABLES & set(sa.inspect(conn).get_table_names())
            assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0008"
        upgrade(async_url, "0009")
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0009"
    finally:
        engine.dispose()


def test_destinations_migration_on_sqlite(make_settings: Callable[..., Settings]) -> None:
    url = make_settings().database_url
    check_up_down_up(url, url.replace("+aiosqlite", ""))


async def release_and_claim(url: str, tmp_path: Path) -> None:
    engine = make_engine(Settings(), url)
    sessions = make_sessionmaker(engine)
    copier = Copier(
        DestinationSettings(),
        sessions,
        LocalStore(tmp_path / "store", public_url="http://x", secret=b"s"),
        CredentialBox("k" * 32),
        tmp_path,
    )
    now = utcnow()
    try:
        async with transaction(sessions) as session:
            for task_id, status in (("t-ok", "succeeded"), ("t-bad", "failed"), ("t-run", "running")):
                finished = None if status == "running" else now
                session.add(Task(id=task_id, kind="edit.trim", queue="cpu", owner_id="o", status=status,
                                 params={}, finished_at=finished))  # fmt: skip
                session.add(DestinationDelivery(id=f"d-{task_id}", task_id=task_id, owner_id="o", destination_id="x",
                                                status="waiting", attempts=0, next_attempt_at=now, object_keys=[],
                                                created_at=now, updated_at=now))  # fmt: skip
        assert await copier.release_finished() == 2
        (claimed,) = await copier.claim_due(10)
        assert (claimed.id, claimed.attempts) == ("d-t-ok", 1)
        assert claimed.next_attempt_at > utcnow() + timedelta(seconds=60)  # leased past the attempt's deadline
        assert await copier.claim_due(10) == []
        async with sessions() as session:
            states = dict((await session.execute(sa.select(DestinationDelivery.id, DestinationDelivery.status))).all())
        assert states == {"d-t-ok": "pending", "d-t-bad": "skipped", "d-t-run": "waiting"}
    finally:
        await engine.dispose()


@pytest.mark.postgres
def test_destinations_migration_and_copier_queries_on_postgres(tmp_path: Path) -> None:
    with empty_pg_database("videoapi_destinations") as url:
        check_up_down_up(url, url.replace("+asyncpg", "+psycopg2"))
        upgrade(url)  # the task model is the head's (later migrations add task columns)
        asyncio.run(release_and_claim(url, tmp_path))
