"""What the sync and async clients share: the route table, bodies, retry timing, multipart, SSE parsing."""

from __future__ import annotations

import email.utils
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
import msgspec

from videoapi_client import models as m

TERMINAL = frozenset({"succeeded", "failed", "canceled"})
RETRY_STATUSES = frozenset({429, 503})
UPLOAD_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Route:
    """One HTTP route the SDK calls: tests/sdk/test_openapi.py checks each against the served OpenAPI."""

    method: str
    path: str
    body: type | None = None
    response: type | None = None
    create: bool = False
    """A create: it gets an automatic Idempotency-Key, so a retried request makes one task."""
    status: int = 200

    def url(self, **params: str) -> str:
        return self.path.format(**{k: quote(v, safe="") for k, v in params.items()})


EDIT_KINDS: dict[str, type] = {
    "audio": m.AudioRequest,
    "background": m.BackgroundRequest,
    "captions": m.CaptionsRequest,
    "composite": m.CompositeRequest,
    "lipsync": m.LipsyncRequest,
    "reframe": m.ReframeRequest,
    "subtitles": m.SubtitlesRequest,
    "thumbnails": m.ThumbnailsRequest,
    "transcode": m.TranscodeRequest,
    "trim": m.TrimRequest,
}
ANALYZE_KINDS: dict[str, type] = {
    "scenes": m.ScenesRequest,
}
GENERATE_KINDS: dict[str, type] = {
    "text-to-video": m.TextToVideoRequest,
    "image-to-video": m.ImageToVideoRequest,
    "style-transfer": m.StyleTransferRequest,
}


def _kind_routes(prefix: str, kinds: dict[str, type]) -> dict[str, Route]:
    routes: dict[str, Route] = {}
    for name, body in kinds.items():
        routes[f"{prefix}.{name}"] = Route("POST", f"/v1/video/{prefix}/{name}", body, m.TaskOut, True, 202)
        routes[f"{prefix}.{name}.estimate"] = Route("POST", f"/v1/video/{prefix}/{name}/estimate", body, m.EstimateOut)
    return routes


ROUTES: dict[str, Route] = {
    **_kind_routes("edit", EDIT_KINDS),
    **_kind_routes("analyze", ANALYZE_KINDS),
    **_kind_routes("generate", GENERATE_KINDS),
    "transcribe": Route("POST", "/v1/video/transcribe", m.TranscribeRequest, m.TaskOut, True, 202),
    "transcribe.estimate": Route("POST", "/v1/video/transcribe/estimate", m.TranscribeRequest, m.EstimateOut),
    "batch.edit": Route("POST", "/v1/video/batch/edit", m.BatchRequest, m.BatchOut, True, 202),
    "batch.generate": Route("POST", "/v1/video/batch/generate", m.BatchRequest, m.BatchOut, True, 202),
    "tasks.get": Route("GET", "/v1/video/tasks/{task_id}", None, m.TaskOut),
    "tasks.list": Route("GET", "/v1/video/tasks", None, m.TaskPage),
    "tasks.cancel": Route("POST", "/v1/video/tasks/{task_id}/cancel", None, m.TaskOut, status=202),
    "tasks.events": Route("GET", "/v1/video/tasks/{task_id}/events"),
    "pipelines.create": Route("POST", "/v1/video/pipelines", m.PipelineIn, m.PipelineOut, True, 202),
    "pipelines.get": Route("GET", "/v1/video/pipelines/{pipeline_id}", None, m.PipelineOut),
    "pipelines.list": Route("GET", "/v1/video/pipelines", None, m.PipelinePage),
    "pipelines.cancel": Route("POST", "/v1/video/pipelines/{pipeline_id}/cancel", None, m.PipelineOut, status=202),
    "pipelines.retry": Route("POST", "/v1/video/pipelines/{pipeline_id}/retry", None, m.PipelineOut, status=202),
    "assets.upload": Route("POST", "/v1/video/assets", None, m.AssetOut, status=201),
    "assets.get": Route("GET", "/v1/video/assets/{asset_id}", None, m.AssetOut),
    "assets.delete": Route("DELETE", "/v1/video/assets/{asset_id}", status=204),
    "usage": Route("GET", "/v1/video/usage", None, m.UsageOut),
    "models": Route("GET", "/v1/video/models", None, m.ModelList),
    "watermark.detect": Route("POST", "/v1/video/watermark/detect", m.DetectRequest, m.DetectOut),
    "webhooks.deliveries": Route("GET", "/v1/video/tasks/{task_id}/webhooks", None, m.WebhookLog),
    "webhooks.redeliver": Route(
        "POST", "/v1/video/tasks/{task_id}/webhooks/redeliver", None, m.DeliveryOut, status=202
    ),
    "webhooks.secrets": Route("GET", "/v1/video/webhooks/secret", None, m.WebhookSecrets),
}
# Served by the progress-events feature (issue 16, part 1); until a server has it, `wait` polls.
OPTIONAL_ROUTES = frozenset({"tasks.events"})


def request_body(body_type: type, request: Any, fields: dict[str, Any]) -> bytes:
    """JSON of a request given as its Struct or as keyword fields (dicts allowed for nested types)."""
    if request is not None and fields:
        raise TypeError("give the request as a Struct or as keyword fields, not both")
    if request is None:
        # Top-level typos fail here; nested ones get the server's 422 naming the field.
        unknown = set(fields) - {f.encode_name for f in msgspec.structs.fields(body_type)}
        if unknown:
            raise TypeError(f"{body_type.__name__} has no field(s) {sorted(unknown)}")
        try:
            request = msgspec.convert(fields, body_type)
        except msgspec.ValidationError as exc:
            raise TypeError(f"{body_type.__name__}: {exc}") from None
    elif not isinstance(request, body_type):
        raise TypeError(f"expected a {body_type.__name__}, got {type(request).__name__}")
    return msgspec.json.encode(request)


def idempotency_key() -> str:
    return f"sdk-{uuid.uuid4().hex}"


def decode(response: httpx.Response, response_type: type | None) -> Any:
    if response_type is None:
        return None
    return msgspec.json.decode(response.content, type=response_type)


def retry_delay_s(response: httpx.Response, attempt: int, max_wait_s: float) -> float | None:
    """Seconds to wait before retrying this answer, or None when it must not be retried.

    429 and 503 are retried: after `Retry-After` (seconds or an HTTP date) when the server sends it,
    else with exponential backoff from 0.5 s. A `Retry-After` longer than `max_wait_s` is not waited
    out: the caller gets the error and its headers instead.
    """
    if response.status_code not in RETRY_STATUSES:
        return None
    header = response.headers.get("retry-after")
    if header is None:
        return min(0.5 * 2**attempt, max_wait_s)
    try:
        delay_s = float(header)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(header) if header else None
        delay_s = parsed.timestamp() - time.time() if parsed else 0.0
    delay_s = max(0.0, delay_s)
    return delay_s if delay_s <= max_wait_s else None


@dataclass
class Backoff:
    """Poll intervals of `wait`: start fast, grow by half each time, never past `max_s`."""

    start_s: float = 0.25
    max_s: float = 5.0
    _next_s: float = field(default=0.0, init=False)

    def next_s(self, remaining_s: float) -> float:
        self._next_s = min(self.max_s, self._next_s * 1.5) if self._next_s else self.start_s
        return max(0.0, min(self._next_s, remaining_s))


Progress = Callable[[int, int | None], None]
"""Upload progress: (bytes sent, total bytes or None when the size is unknown)."""


@dataclass
class Upload:
    """A multipart/form-data body streamed from a file in chunks; `parts()` can run again for a retry."""

    file: IO[bytes]
    filename: str
    content_type: str
    progress: Progress | None = None
    boundary: str = field(default_factory=lambda: uuid.uuid4().hex)
    owned: bool = False
    """The SDK opened the file (from a path) and closes it."""

    @classmethod
    def open(
        cls,
        source: str | os.PathLike[str] | IO[bytes],
        filename: str | None,
        content_type: str,
        progress: Progress | None,
    ) -> Upload:
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            return cls(path.open("rb"), filename or path.name, content_type, progress, owned=True)
        name = filename or Path(str(getattr(source, "name", "upload"))).name
        return cls(source, name, content_type, progress)

    def _head(self) -> bytes:
        safe = self.filename.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "")
        return (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{safe}"\r\n'
            f"Content-Type: {self.content_type}\r\n\r\n"
        ).encode()

    def _tail(self) -> bytes:
        return f"\r\n--{self.boundary}--\r\n".encode()

    def _file_size(self) -> int | None:
        """Bytes from the start position to the end; None for a pipe or socket (sent chunked)."""
        if not self.file.seekable():
            return None
        here = self.file.tell()
        end = self.file.seek(0, os.SEEK_END)
        self.file.seek(here)
        return end - self._start

    def __post_init__(self) -> None:
        self._start = self.file.tell() if self.file.seekable() else 0

    def headers(self) -> dict[str, str]:
        headers = {"content-type": f"multipart/form-data; boundary={self.boundary}"}
        size = self._file_size()
        if size is not None:
            headers["content-length"] = str(len(self._head()) + size + len(self._tail()))
        return headers

    @property
    def rewindable(self) -> bool:
        return self.file.seekable()

    def parts(self) -> Iterator[bytes]:
        """The body in chunks of at most 1 MiB: the file is never read whole."""
        if self.file.seekable():
            self.file.seek(self._start)
        total = self._file_size()
        sent = 0
        yield self._head()
        while chunk := self.file.read(UPLOAD_CHUNK_BYTES):
            sent += len(chunk)
            yield chunk
            if self.progress:
                self.progress(sent, total)
        yield self._tail()

    def close(self) -> None:
        if self.owned:
            self.file.close()


@dataclass
class SseEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None


@dataclass
class SseParser:
    """Incremental text/event-stream parser (the WHATWG rules that matter here); `last_id` resumes a stream."""

    last_id: str | None = None
    _event: str = ""
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> SseEvent | None:
        """One line without its newline; returns the event that a blank line completes."""
        if not line:
            if not self._data and not self._event:
                return None
            event = SseEvent(self._event or "message", "\n".join(self._data), self.last_id)
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None  # a comment: the heartbeat
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_id = value
        return None


def task_from_event(event: SseEvent) -> m.TaskOut | None:
    """The final task of a progress stream: its `task` event (issue 16, part 1), else None."""
    if event.event != "task":
        return None
    return msgspec.json.decode(event.data, type=m.TaskOut)
