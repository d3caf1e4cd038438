"""The API surface, one method per route, written once for both clients.

Each method builds its call and hands it to the client's `_call`: `Client` runs it and returns the
model; `AsyncClient` returns an awaitable of the same model (and async iterators for `iterate`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from videoapi_client import models as m
from videoapi_client._core import ANALYZE_KINDS, EDIT_KINDS, GENERATE_KINDS, ROUTES

if TYPE_CHECKING:
    from videoapi_client._client import BaseClient


class _Resource:
    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def _create(self, name: str, request: Any, fields: dict[str, Any], idempotency_key: str | None) -> Any:
        return self._client._call(ROUTES[name], body=(request, fields), idempotency_key=idempotency_key)


class Edit(_Resource):
    """`POST /v1/video/edit/{kind}`: each returns the queued task (202); `estimate` prices one first."""

    def audio(
        self, request: m.AudioRequest | None = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> m.TaskOut:
        """Music, ducking, text-to-speech narration, loudness normalisation."""
        return self._create("edit.audio", request, fields, idempotency_key)

    def background(
        self, request: m.BackgroundRequest | None = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> m.TaskOut:
        """Replace a chroma-key backdrop by a colour, image or video."""
        return self._create("edit.background", request, fields, idempotency_key)

    def captions(
        self, request: m.CaptionsRequest | None = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> m.TaskOut:
        """Transcribe the speech and burn it in as captions (word highlight, karaoke) or add a soft track;
        the transcript is stored too. `segments` renders a given transcript instead."""
        return self._create("edit.captions", request, fields, idempotency_key)

    def composite(
        self, request: m.CompositeRequest | None = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> m.TaskOut:
        """Compose clips, images, colours, text and audio on tracks, with transitions."""
        return self._create("edit.composite", request, fields, idempotency_key)

    def lipsync(
        self, request: m.LipsyncRequest | None = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> m.TaskOut:
        """Regenerate the mouth of a face in sync with an audio asset or spoken narration (Wav2Lip)."""
        return self._create("edit.lipsync", request, fields, idempotency_key)

    def reframe(
        self, request: m.ReframeRequest | None = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> m.TaskOut:
        """Crop to another aspect (9:16...) with a virtual camera that follows the subject."""
        return self._create("edit.reframe", request, fields, idempotency_key)

    def subtitles(
        self, request: m.SubtitlesRequest | None = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> m.TaskOut:
        """Burn in subtitles (SRT, WebVTT or segments) or add them as a soft track."""
        return self._create("edit.subtitles", request, fields, idempotency_key)

    def thumbnails(
        self, request: m.ThumbnailsRequest | None = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> m.TaskOut:
        """Poster frame, contact sheet, or frames at given times."""
        return self._create("edit.thumbnails", request, fields, idempotency_key)

    def transcode(
        self, request: m.TranscodeRequest | None = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> m.TaskOut:
        """Resize, change fps, re-encode to MP4 or WebM."""
        return self._create("edit.transcode", request, fields, idempotency_key)

    def trim(
        self, request: m.TrimRequest | None = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> m.TaskOut:
        """Cut ranges out of a video."""
        return self._create("edit.trim", request, fields, idempotency_key)

    def estimate(self, kind: str, request: Any = None, /, **fields: Any) -> m.EstimateOut:
        """Cost and ETA of an edit (`kind` as in the route: `trim`, `composite`...), without creating a task."""
        if kind not in EDIT_KINDS:
            raise ValueError(f"unknown edit kind {kind!r}; one of {sorted(EDIT_KINDS)}")
        return self._client._call(ROUTES[f"edit.{kind}.estimate"], body=(request, fields))


class Analyze(_Resource):
    """`POST /v1/video/analyze/{kind}`: tasks whose result describes the input (and may cut it)."""

    def scenes(
        self, request: m.ScenesRequest | None = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> m.TaskOut:
        """Shot boundaries (PySceneDetect), a thumbnail per scene, optionally each scene as a clip."""
        return self._create("analyze.scenes", request, fields, idempotency_key)

    def estimate(self, kind: str, request: Any = None, /, **fields: Any) -> m.EstimateOut:
        if kind not in ANALYZE_KINDS:
            raise ValueError(f"unknown analysis kind {kind!r}; one of {sorted(ANALYZE_KINDS)}")
        return self._client._call(ROUTES[f"analyze.{kind}.estimate"], body=(request, fields))


class Generate(_Resource):
    """`POST /v1/video/generate/{kind}`."""

    def text_to_video(
        self, request: m.TextToVideoRequest | None = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> m.TaskOut:
        return self._create("generate.text-to-video", request, fields, idempotency_key)

    def image_to_video(
        self, request: m.ImageToVideoRequest | None = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> m.TaskOut:
        return self._create("generate.image-to-video", request, fields, idempotency_key)

    def style_transfer(
        self, request: m.StyleTransferRequest | None = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> m.TaskOut:
        return self._create("generate.style-transfer", request, fields, idempotency_key)

    def estimate(self, kind: str, request: Any = None, /, **fields: Any) -> m.EstimateOut:
        """Cost and ETA of a generation (`kind`: `text-to-video`, `image-to-video`, `style-transfer`)."""
        if kind not in GENERATE_KINDS:
            raise ValueError(f"unknown generation kind {kind!r}; one of {sorted(GENERATE_KINDS)}")
        return self._client._call(ROUTES[f"generate.{kind}.estimate"], body=(request, fields))

    def models(self) -> m.ModelList:
        """The installed models and the classical styles."""
        return self._client._call(ROUTES["models"])


class Batch(_Resource):
    """Many creates in one call: all validated first, created together (all or nothing)."""

    def edit(
        self, items: list[m.BatchItem] | list[dict[str, Any]], *, idempotency_key: str | None = None
    ) -> m.BatchOut:
        return self._create("batch.edit", None, {"items": items}, idempotency_key)

    def generate(
        self, items: list[m.BatchItem] | list[dict[str, Any]], *, idempotency_key: str | None = None
    ) -> m.BatchOut:
        return self._create("batch.generate", None, {"items": items}, idempotency_key)


class Tasks(_Resource):
    def get(self, task_id: str) -> m.TaskOut:
        return self._client._call(ROUTES["tasks.get"], path={"task_id": task_id})

    def list(
        self,
        *,
        status: m.Status | None = None,
        kind: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> m.TaskPage:
        """One page, newest first; `next_cursor` fetches the next (or use `iterate`)."""
        params = {"status": status, "kind": kind, "limit": limit, "cursor": cursor}
        return self._client._call(ROUTES["tasks.list"], params=params)

    def iterate(self, *, status: m.Status | None = None, kind: str | None = None, page_size: int = 100) -> Any:
        """Every task that matches, page after page (an iterator; an async iterator on `AsyncClient`)."""
        return self._client._paginate(ROUTES["tasks.list"], {"status": status, "kind": kind, "limit": page_size})

    def cancel(self, task_id: str) -> m.TaskOut:
        return self._client._call(ROUTES["tasks.cancel"], path={"task_id": task_id})


class Pipelines(_Resource):
    """Steps of any task kind run as a graph; `{"step": "<id>"}` in a step's params reads an earlier output."""

    def create(
        self,
        steps: list[m.StepIn] | list[dict[str, Any]],
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> m.PipelineOut:
        """Validate every step and create them all (202); `fields`: `priority`, `webhook_url`, `destinations`."""
        return self._create("pipelines.create", None, {"steps": steps, **fields}, idempotency_key)

    def get(self, pipeline_id: str) -> m.PipelineOut:
        return self._client._call(ROUTES["pipelines.get"], path={"pipeline_id": pipeline_id})

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> m.PipelinePage:
        """One page, newest first; `next_cursor` fetches the next."""
        return self._client._call(ROUTES["pipelines.list"], params={"limit": limit, "cursor": cursor})

    def cancel(self, pipeline_id: str) -> m.PipelineOut:
        return self._client._call(ROUTES["pipelines.cancel"], path={"pipeline_id": pipeline_id})

    def retry(self, pipeline_id: str) -> m.PipelineOut:
        """Run the failed and canceled steps again, and the steps that read them."""
        return self._client._call(ROUTES["pipelines.retry"], path={"pipeline_id": pipeline_id})


class Assets(_Resource):
    def register_url(self, url: str) -> m.AssetOut:
        """Fetch and probe a media URL now, and keep it as an asset."""
        return self._client._call(ROUTES["assets.upload"], body=(None, {"url": url}), body_type=m.InputRef)

    def get(self, asset_id: str) -> m.AssetOut:
        """Metadata and a fresh signed download URL."""
        return self._client._call(ROUTES["assets.get"], path={"asset_id": asset_id})

    def delete(self, asset_id: str) -> None:
        return self._client._call(ROUTES["assets.delete"], path={"asset_id": asset_id})


class Webhooks(_Resource):
    def deliveries(self, task_id: str) -> m.WebhookLog:
        """The task's webhook deliveries with every attempt."""
        return self._client._call(ROUTES["webhooks.deliveries"], path={"task_id": task_id})

    def redeliver(self, task_id: str) -> m.DeliveryOut:
        return self._client._call(ROUTES["webhooks.redeliver"], path={"task_id": task_id})

    def secrets(self) -> m.WebhookSecrets:
        """The `whsec_...` secrets that sign the caller's webhooks (for `verify_webhook`)."""
        return self._client._call(ROUTES["webhooks.secrets"])
