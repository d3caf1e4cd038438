"""The services of one process, built the same way for the API, the workers and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import dramatiq
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from videoapi.assets.service import AssetService
from videoapi.auth.service import KeyService
from videoapi.billing.service import BillingService
from videoapi.db.engine import make_engine, make_read_sessionmaker, make_sessionmaker
from videoapi.moderation.policy import PolicyService
from videoapi.moderation.service import Moderation
from videoapi.queue.broker import make_publisher
from videoapi.settings import Settings
from videoapi.storage import make_store
from videoapi.tasks.service import TaskService

if TYPE_CHECKING:
    from videoapi.storage.base import ObjectStore


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    store: ObjectStore
    broker: dramatiq.Broker | None
    tasks: TaskService
    keys: KeyService
    assets: AssetService
    moderation: Moderation
    billing: BillingService
    policies: PolicyService

    async def close(self) -> None:
        await self.keys.close()
        await self.store.close()
        await self.engine.dispose()


async def build_services(settings: Settings, broker: dramatiq.Broker | None) -> Services:
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    store = make_store(settings)
    publish = make_publisher(broker) if broker is not None else None
    billing = BillingService(sessions, settings)
    tasks = TaskService(sessions, settings, publish, billing)
    tasks.read_sessions = make_read_sessionmaker(engine)
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        store=store,
        broker=broker,
        tasks=tasks,
        keys=KeyService(sessions, _revocations(settings)),
        assets=AssetService(sessions, store, settings),
        moderation=Moderation(settings),
        billing=billing,
        policies=PolicyService(sessions),
    )


def _revocations(settings: Settings) -> object | None:
    """Where revokes are announced to API processes that cache keys (only with the Redis rate limiter)."""
    if settings.gateway.rate_limit_backend != "redis":
        return None
    from videoapi.gateway.keycache import Revocations

    return Revocations(settings.rate_limit_redis_url, settings.queue.namespace)
