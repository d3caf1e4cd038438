"""The options every create request takes: priority, webhook, visible watermark, destinations."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from videoapi.destinations.schemas import DestinationRef
from videoapi.outputs.watermark import VisibleWatermark
from videoapi.tasks.schemas import Priority

WebhookUrl = Annotated[str, Meta(max_length=2048, pattern=r"^https?://")]


class CommonOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    priority: Priority = "normal"
    webhook_url: WebhookUrl | None = None
    watermark: VisibleWatermark | None = None
    """A visible text or logo on the output; a key may have a default one, and trial keys always get one."""
    destinations: Annotated[list[DestinationRef], Meta(max_length=5)] | None = None
    """The caller's destinations (`/v1/video/destinations`) the outputs are copied to once the task succeeds."""


def destination_ids(req: CommonOptions) -> list[str]:
    """The ids of a request's destinations, for the task's `destinations` argument."""
    return [d.id for d in req.destinations or []]
