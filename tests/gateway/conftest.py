"""Gateway fixtures: keys with options, a queue without workers, a webhook receiver, a real HTTP server."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from tests.support.app import Api, running_app
from tests.support.gateway import Receiver
from videoapi.settings import Settings


@pytest.fixture
def queued_api(
    make_settings: Callable[..., Settings], pg_url: str, redis_url: str
) -> Callable[..., AbstractContextManager[Api]]:
    """An API on PostgreSQL with a Redis broker and no workers: created tasks stay queued."""

    def make(**overrides: Any) -> AbstractContextManager[Api]:
        settings = make_settings(
            **{
                "database.url": pg_url,
                "queue.broker": "redis",
                "queue.url": redis_url,
                "queue.namespace": f"t{uuid.uuid4().hex[:10]}",
                "server.embedded_workers": False,
                **overrides,
            }
        )
        return running_app(settings)

    return make


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()
