"""Wire types of POST /v1/video/pipelines (the read types live with the task table: tasks.pipelines)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from videoapi.destinations.schemas import DestinationRef
from videoapi.outputs.schemas import WebhookUrl
from videoapi.tasks.schemas import Priority

StepId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="letters, digits, `_` and `-`")]


class StepIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One step: a task of any kind, whose params may name an earlier step's output.

    Anywhere an input goes (`{"asset_id": ...}`), `{"step": "<id>"}` or `{"step": "<id>", "output": n}`
    takes that step's main output or its `n`th (`result.outputs[n]`); in `edit.subtitles`' `srt`
    it takes the SRT of a `speech.transcribe` step."""

    id: StepId
    kind: Annotated[str, Meta(max_length=64)]
    """A task kind (`generate.text_to_video`, `edit.composite`, `speech.transcribe`, ...) or `template.render`."""
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    """The body of that kind's create route, without `priority`, `webhook_url` and `destinations`
    (they are the pipeline's). For `template.render`: `template_id` and the body of its render route."""


class PipelineIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Steps run as a graph: each one once the steps it reads have succeeded."""

    steps: Annotated[list[StepIn], Meta(min_length=1, max_length=20)]
    priority: Priority = "normal"
    """Of every step."""
    webhook_url: WebhookUrl | None = None
    """Called once the pipeline ends: `pipeline.succeeded`, `pipeline.failed` or `pipeline.canceled`."""
    destinations: Annotated[list[DestinationRef], Meta(max_length=5)] | None = None
    """The caller's destinations the final steps' outputs (of steps no other step reads) are copied to."""
