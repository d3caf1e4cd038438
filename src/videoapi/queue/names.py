"""The queues and how each broker spells them: a leaf that the broker and the runtime both read."""

from __future__ import annotations

from videoapi.settings import Settings

QUEUES = ("cpu", "gpu")


def queue_name(settings: Settings, queue: str) -> str:
    """The broker's name of a queue: RabbitMQ names are global to the vhost, Redis keys carry the namespace."""
    return f"{settings.queue.namespace}.{queue}" if settings.queue.broker == "rabbitmq" else queue


def actor_name(queue: str) -> str:
    return f"drain_{queue}"
