"""Dramatiq broker setup: one actor per queue, whose message means "work is waiting on this queue".

Messages carry no state: the worker claims the best ready task from the task table, so priority,
retries and recovery work the same with every broker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dramatiq
from dramatiq.middleware import CurrentMessage, Middleware

from videoapi.queue.names import QUEUES, actor_name, queue_name
from videoapi.queue.runtime import current_runtime
from videoapi.settings import Settings


def make_broker(settings: Settings, extra_middleware: Sequence[Middleware] = ()) -> dramatiq.Broker:
    # No Retries/TimeLimit/AgeLimit middleware: the task table owns retries and time limits.
    # Processes that consume pass WorkerLifecycle, which runs the asyncio loop async actors need.
    middleware = [CurrentMessage(), *extra_middleware]
    broker: dramatiq.Broker
    if settings.queue.broker == "redis":
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=settings.queue.url, namespace=settings.queue.namespace, middleware=middleware)
    elif settings.queue.broker == "rabbitmq":
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=settings.queue.url, middleware=middleware)
    else:
        from dramatiq.brokers.stub import StubBroker

        broker = StubBroker(middleware=middleware)
    dramatiq.set_broker(broker)
    for queue in QUEUES:
        _declare_actor(broker, settings, queue)
    return broker


def _declare_actor(broker: dramatiq.Broker, settings: Settings, queue: str) -> None:
    async def drain(task_id: str | None = None) -> None:
        runtime = await current_runtime()
        await runtime.drain(queue)

    dramatiq.actor(
        drain,
        actor_name=actor_name(queue),
        queue_name=queue_name(settings, queue),
        broker=broker,
    )


def make_publisher(broker: dramatiq.Broker) -> Callable[[str, str, int], None]:
    def publish(queue: str, task_id: str, delay_ms: int = 0) -> None:
        actor = broker.get_actor(actor_name(queue))
        actor.send_with_options(args=(task_id,), delay=delay_ms or None)

    return publish


def publishes_in_memory(broker: dramatiq.Broker) -> bool:
    """The embedded shape's in-process broker: a send is a queue put, cheap enough for the event loop."""
    from dramatiq.brokers.stub import StubBroker

    return isinstance(broker, StubBroker)
