"""The options every create request takes: priority, webhook, visible watermark."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from videoapi.outputs.watermark import VisibleWatermark
from videoapi.tasks.schemas import Priority

WebhookUrl = Annotated[str, Meta(max_length=2048, pattern=r"^https?://")]


class CommonOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    priority: Priority = "normal"
    webhook_url: WebhookUrl | None = None
    watermark: VisibleWatermark | None = None
    """A visible text or logo on the output; a key may have a default one, and trial keys always get one."""
