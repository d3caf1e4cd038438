"""The MCP tools: each one is an API route, and its input schema is its request type's JSON Schema.

Nothing here is written twice: the edit and generation tools come from the kind tables that the
routes are built from (`editing.kinds.KINDS`, `generation.kinds.KINDS`), and every schema is
`msgspec.json.schema` of the struct that the route decodes, so a new request field shows up in the
tool the moment the route accepts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from videoapi.assets.schemas import AssetFromUrl, AssetOut
from videoapi.editing.kinds import KINDS as EDIT_KINDS
from videoapi.generation.kinds import KINDS as GENERATION_KINDS
from videoapi.speech.schemas import CaptionsRequest, TranscribeRequest
from videoapi.tasks.schemas import TaskOut

WAIT_TIMEOUT_MAX_S = 600.0
"""The longest one `wait_task` call waits: a client that needs longer calls it again."""


class TaskRef(msgspec.Struct, forbid_unknown_fields=True):
    """A task, by the id that the create call answered."""

    task_id: Annotated[str, Meta(min_length=1, max_length=64)]


class WaitTask(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Wait until a task succeeds, fails or is canceled, reporting its progress meanwhile."""

    task_id: Annotated[str, Meta(min_length=1, max_length=64)]
    timeout_s: Annotated[float, Meta(gt=0, le=WAIT_TIMEOUT_MAX_S)] = 120.0
    """How long to wait; the task as it is then comes back when it is still running."""


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    method: str
    path: str
    """The API route; `{task_id}` is filled from the arguments."""
    request_type: type
    """The struct the route (or, for get/wait, the tool) decodes: the input schema is its JSON Schema."""
    answer_type: type
    """The struct of the route's answer: the output schema is its JSON Schema."""
    body: bool = True
    """Whether the arguments are the route's JSON body (else they only fill the path)."""


def struct_schema(struct: type) -> dict[str, Any]:
    """The JSON Schema of a msgspec struct as an MCP tool schema: the struct's object at the root.

    msgspec answers `{"$ref": "#/$defs/Name", "$defs": {...}}`; MCP wants `type: object` at the
    root, so the struct's own definition is lifted there and `$defs` stays beside it, where every
    `#/$defs/...` reference (the struct's own included, for recursive types) still resolves.
    """
    schema = msgspec.json.schema(struct)
    defs: dict[str, Any] = schema.get("$defs", {})
    root_ref = schema.get("$ref", "")
    name = root_ref.removeprefix("#/$defs/")
    if name not in defs:
        return schema
    return {**defs[name], "$defs": defs}


IDEMPOTENCY_KEY = "idempotency_key"
"""The argument a creating tool takes besides its route's body, sent as the `Idempotency-Key` header."""
_IDEMPOTENCY_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "description": (
        "Optional. The same key on a repeated call (one whose answer was lost) answers what the first call "
        "created instead of creating it again; a new request needs a new key."
    ),
}


def _creates_task(spec: ToolSpec) -> bool:
    """The tools whose route creates tasks: those take an Idempotency-Key (registering an asset does not)."""
    return spec.method == "POST" and spec.answer_type is TaskOut


def input_schema(spec: ToolSpec) -> dict[str, Any]:
    """The tool's input schema: its request type's, plus `idempotency_key` on the tools that create tasks."""
    schema = struct_schema(spec.request_type)
    if not _creates_task(spec):
        return schema
    return {**schema, "properties": {**schema.get("properties", {}), IDEMPOTENCY_KEY: _IDEMPOTENCY_SCHEMA}}


def split_idempotency_key(spec: ToolSpec, arguments: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The route's JSON body and the request headers of a creating tool's arguments."""
    key = arguments.get(IDEMPOTENCY_KEY) if _creates_task(spec) else None
    if not isinstance(key, str):
        return arguments, {}
    body = {name: value for name, value in arguments.items() if name != IDEMPOTENCY_KEY}
    return body, {"Idempotency-Key": key}


def _describe(summary: str, struct: type) -> str:
    """The route's summary, the request type's docstring when it says more, and what the tool answers."""
    doc = " ".join((struct.__doc__ or "").split())
    parts = [summary.rstrip(".") + "."] if summary else []
    if doc and not (summary and doc.startswith(summary.rstrip("."))):
        parts.append(doc)
    return " ".join([*parts, "Answers the new task; wait_task follows it."])


def _edit_tools() -> list[ToolSpec]:
    wanted = ("trim", "transcode", "composite", "subtitles")
    by_path = {spec.path: spec for spec in EDIT_KINDS.values() if spec.group == "edit"}
    return [
        ToolSpec(
            name=path,
            description=_describe(by_path[path].summary, by_path[path].request_type),
            method="POST",
            path=f"/v1/video/edit/{path}",
            request_type=by_path[path].request_type,
            answer_type=TaskOut,
        )
        for path in wanted
        if path in by_path
    ]


def _generation_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="generate_" + path.replace("-", "_"),
            description=_describe(spec.summary, spec.request_type),
            method="POST",
            path=f"/v1/video/generate/{path}",
            request_type=spec.request_type,
            answer_type=TaskOut,
        )
        for path, spec in GENERATION_KINDS.items()
        if path in ("text-to-video", "image-to-video")
    ]


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec(
            name="upload_from_url",
            description=(
                "Register a media file by its http(s) URL as an asset: the server fetches it. "
                "Answers the asset, whose `id` goes in `input.asset_id` of the edit tools."
            ),
            method="POST",
            path="/v1/video/assets",
            request_type=AssetFromUrl,
            answer_type=AssetOut,
        ),
        *_edit_tools(),
        ToolSpec(
            name="captions",
            description=_describe(
                "Captions from speech: transcribe the input and burn the words in (or add a subtitle track)",
                CaptionsRequest,
            ),
            method="POST",
            path="/v1/video/edit/captions",
            request_type=CaptionsRequest,
            answer_type=TaskOut,
        ),
        ToolSpec(
            name="transcribe",
            description=_describe("", TranscribeRequest),
            method="POST",
            path="/v1/video/transcribe",
            request_type=TranscribeRequest,
            answer_type=TaskOut,
        ),
        *_generation_tools(),
        ToolSpec(
            name="get_task",
            description="A task: its status, progress (0 to 1), result with fresh download URLs, or error.",
            method="GET",
            path="/v1/video/tasks/{task_id}",
            request_type=TaskRef,
            answer_type=TaskOut,
            body=False,
        ),
        ToolSpec(
            name="wait_task",
            description=(
                f"{WaitTask.__doc__} Sends MCP progress notifications when the call carries a progress "
                f"token. At most {WAIT_TIMEOUT_MAX_S:g} s per call."
            ),
            method="GET",
            path="/v1/video/tasks/{task_id}",
            request_type=WaitTask,
            answer_type=TaskOut,
            body=False,
        ),
    )
}
