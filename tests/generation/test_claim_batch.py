"""TaskService.claim_batch: the best ready task plus its compatible siblings, in one transaction."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.app import migrate, run_async
from videoapi.composition import build_services
from videoapi.settings import Settings


async def _scenario(settings: Settings) -> None:
    services = await build_services(settings, None)
    try:
        tasks = services.tasks

        async def make(key: str | None, priority: int = 1):
            return await tasks.create(owner_id="o", kind="generate.text_to_video", queue="gpu", params={},
                                      priority=priority, batch_key=key)  # fmt: skip

        a1 = await make("A")
        b1 = await make("B")
        a2 = await make("A")
        a3 = await make("A")
        a4 = await make("A", priority=0)
        solo = await make(None)
        # The best task is a1 (oldest, normal priority); its siblings follow by priority then age.
        batch = await tasks.claim_batch("gpu", "w1", limit=3)
        assert [t.id for t in batch] == [a1.id, a2.id, a3.id]
        assert all(t.status == "running" and t.lease_owner == "w1" and t.attempts == 1 for t in batch)
        # Topping up a batch: only tasks with that key.
        assert [t.id for t in await tasks.claim_batch("gpu", "w1", "A", 5)] == [a4.id]
        assert [t.id for t in await tasks.claim_batch("gpu", "w2", limit=4)] == [b1.id]
        assert [t.id for t in await tasks.claim_batch("gpu", "w2", limit=4)] == [solo.id]  # no key: alone
        assert await tasks.claim_batch("gpu", "w2", limit=4) == []
    finally:
        await services.close()


def test_claim_batch_on_sqlite(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    migrate(settings.database_url)
    run_async(_scenario(settings))


@pytest.mark.postgres
def test_claim_batch_on_postgres(make_settings: Callable[..., Settings], pg_url: str) -> None:
    run_async(_scenario(make_settings(**{"database.url": pg_url})))
