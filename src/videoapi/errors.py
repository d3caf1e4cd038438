"""One exception hierarchy with stable codes, mapped once to problem+json and to task errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# An absolute filesystem path (or a file: URL); not a URL's path (after "host/" or "scheme:"), not
# an API route (/v1/...).
_SERVER_PATH_RE = re.compile(r"file:/[^\s'\",;]*|(?<![\w./:~])/(?!v1/)[^\s'\",;]*")


def scrub_paths(text: str) -> str:
    """`text` with each absolute filesystem path replaced by its last component ("input-0.mp4").

    Messages a caller sees (task errors, problem details) go through it: they never name the
    server's directories.
    """
    return _SERVER_PATH_RE.sub(_last_component, text)


def _last_component(match: re.Match[str]) -> str:
    path = match.group().removeprefix("file:")
    dot = "." if path.endswith(".") else ""  # a sentence's final dot stays
    name = path.rstrip(".").rstrip("/").rsplit("/", 1)[-1]
    return (name or "<path>") + dot


class AppError(Exception):
    """Base of every error we raise on purpose.

    `code` is stable and machine-readable; `detail` is for humans. `status` is the HTTP status
    used when the error reaches a client directly; `transient` marks errors worth retrying.
    """

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"
    transient: bool = False

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status: int | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.errors = errors or []
        self.headers = headers or {}


class InvalidRequest(AppError):
    status = 422
    code = "invalid_request"
    title = "Invalid request"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    title = "Unauthorized"


class PaymentRequired(AppError):
    status = 402
    code = "quota_exceeded"
    title = "Quota exceeded"


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(AppError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Gone(AppError):
    status = 410
    code = "gone"
    title = "Gone"


class TooLarge(AppError):
    status = 413
    code = "too_large"
    title = "Payload too large"


class TooManyRequests(AppError):
    """Rate limit or a per-key cap reached; `Retry-After` says when to come back."""

    status = 429
    code = "rate_limited"
    title = "Too many requests"


class ServiceUnavailable(AppError):
    status = 503
    code = "unavailable"
    title = "Service unavailable"
    transient = True


class MediaError(AppError):
    """The media itself is unusable (unreadable, too long, too large, unsupported).

    Never transient: the same input fails the same way on every attempt.
    """

    status = 422
    code = "input_unreadable"
    title = "Unusable media"


class FetchError(AppError):
    """A URL input could not be fetched, or is not allowed to be fetched."""

    status = 422
    code = "fetch_failed"
    title = "Input URL refused or unreachable"


class ProcessingError(AppError):
    """ffmpeg or another processing step failed for a reason other than the input."""

    status = 500
    code = "processing_failed"
    title = "Processing failed"


class TaskTimeout(AppError):
    status = 500
    code = "timeout"
    title = "Time limit exceeded"


class TransientError(AppError):
    """Infrastructure hiccup (storage, network): the task is retried with backoff."""

    status = 503
    code = "transient"
    title = "Temporary failure"
    transient = True


class ModelNotInstalled(ServiceUnavailable):
    """The model's weights are not on this server: refused at submission, or failed in the worker."""

    code = "model_not_installed"
    title = "Model not installed"
    transient = False  # retrying cannot install it; `videoapi models download` does

    @classmethod
    def named(cls, name: str, hint: str, field: str, what: str = "model") -> ModelNotInstalled:
        """The refusal of a request naming `name` (in `field`), with how an operator installs it."""
        return cls(
            f"{what} {name} is not installed on this server; an operator can install it: {hint}",
            errors=[{"field": field, "message": f"{name} is not installed"}],
        )


@dataclass(frozen=True)
class ErrorCode:
    """One stable code: the HTTP status it is sent with, and what it means to a client."""

    code: str
    status: int
    meaning: str


# Every code the API sends, in a problem body or as a failed task's `error.code`. docs/errors.md is
# generated from this table and tests/test_errors_catalogue.py keeps both equal to the code.
CATALOGUE: tuple[ErrorCode, ...] = (
    ErrorCode("asset_deleted", 410, "The asset was deleted and its file is gone."),
    ErrorCode("asset_not_found", 404, "No asset with this id belongs to the caller."),
    ErrorCode("bad_request", 400, "The request could not be read (generic)."),
    ErrorCode("clip_too_short", 422, "A timeline clip starts at or after the end of the timeline."),
    ErrorCode(
        "codec_unsupported", 422, "The output format cannot hold the requested codec (ProRes in MP4, H.264 in WebM)."
    ),
    ErrorCode("conflict", 409, "The request conflicts with the current state (generic)."),
    ErrorCode("dependency_failed", 424, "A pipeline step did not run: a step whose output it reads failed."),
    ErrorCode(
        "destination_credentials_unreadable",
        503,
        "A destination's credentials do not decrypt with the current `destinations.encryption_key` (a delivery error).",
    ),
    ErrorCode("destination_not_found", 404, "No destination with this id belongs to the caller."),
    ErrorCode("empty_timeline", 422, "The timeline has no video, image, colour or text clip."),
    ErrorCode("encode_failed", 500, "Encoding generated frames into a video failed."),
    ErrorCode(
        "encoder_unavailable",
        503,
        "The requested hardware encoder (`encoder`) is not usable on the worker that ran the task (a task error).",
    ),
    ErrorCode("fade_too_long", 422, "A clip's fade-in and fade-out together are longer than the clip."),
    ErrorCode("fast_trim_unsupported", 422, "A stream-copy trim cannot hold these codecs; use mode `accurate`."),
    ErrorCode("fetch_failed", 422, "An input URL could not be fetched."),
    ErrorCode("fetch_timeout", 422, "Fetching an input URL took longer than the limit."),
    ErrorCode("ffmpeg_failed", 500, "ffmpeg failed for a reason other than the input."),
    ErrorCode("font_unavailable", 422, "The server has no font for this text or script."),
    ErrorCode("forbidden", 403, "The credentials may not do this (generic)."),
    ErrorCode("generation_invalid_input", 500, "The generation pipeline refused its input."),
    ErrorCode("gone", 410, "The resource existed but is gone (generic)."),
    ErrorCode("gpu_out_of_memory", 500, "The GPU ran out of memory, even after splitting the batch."),
    ErrorCode("http_error", 400, "The HTTP layer refused the request (other statuses than those listed)."),
    ErrorCode("idempotency_in_flight", 409, "A request with this Idempotency-Key is still running; retry later."),
    ErrorCode("idempotency_key_reused", 409, "This Idempotency-Key was used with a different request."),
    ErrorCode("input_no_audio", 422, "An input that must carry sound has no audio stream."),
    ErrorCode("input_no_media", 422, "The input has no video stream."),
    ErrorCode("input_not_image", 422, "A still image is needed where a video was given."),
    ErrorCode("input_not_video", 422, "A video is needed where the input has none."),
    ErrorCode("input_out_of_range", 422, "A time lies outside the input's duration."),
    ErrorCode("input_too_large", 413, "The input file or its frames exceed the size limits."),
    ErrorCode("input_too_long", 422, "The input lasts longer than the duration limit."),
    ErrorCode("input_unreadable", 422, "The input is empty, damaged or not media."),
    ErrorCode("input_unsupported_format", 422, "The input's container or codec is not on the allow-list."),
    ErrorCode("insufficient_scope", 403, "The credentials lack the scope this route needs."),
    ErrorCode("internal", 500, "An unexpected server error; the request id identifies it in the logs."),
    ErrorCode("invalid_api_key", 401, "The API key is missing, malformed, unknown or revoked."),
    ErrorCode("invalid_batch", 422, "One or more items of a batch are invalid; `errors` names them."),
    ErrorCode("invalid_cidr", 422, "An IP allowlist entry is not a CIDR network."),
    ErrorCode("invalid_color", 422, "A colour is not #RRGGBB, #RRGGBBAA, #RGB or a known name."),
    ErrorCode("invalid_cursor", 422, "A pagination cursor was not issued by this API."),
    ErrorCode("invalid_idempotency_key", 422, "The Idempotency-Key header is not 1 to 255 visible ASCII characters."),
    ErrorCode("invalid_last_event_id", 422, "A Last-Event-ID header is not an event id the stream sends."),
    ErrorCode("invalid_limit", 422, "A key's limit must be positive."),
    ErrorCode("invalid_merge", 422, "A render's merge value is missing, unknown, mistyped or out of limits."),
    ErrorCode("invalid_moderation_rule", 422, "A moderation rule's pattern does not compile."),
    ErrorCode("invalid_multipart", 422, "The multipart body cannot be parsed."),
    ErrorCode("invalid_priority", 422, "The priority is not one of the known names."),
    ErrorCode("invalid_range", 422, "A range's start is not before its end."),
    ErrorCode("invalid_request", 422, "The body does not match the schema; `errors` names each field."),
    ErrorCode("invalid_scope", 422, "An unknown scope was asked for."),
    ErrorCode("invalid_stream_token", 401, "A stream token (`?token=`) is malformed or its signature is wrong."),
    ErrorCode("invalid_subtitles", 422, "The subtitle file or segments cannot be parsed."),
    ErrorCode("invalid_template", 422, "A template's fields and placeholders differ, or it is not a valid composite."),
    ErrorCode("invalid_text", 422, "A text is blank, or has nothing the narration's voice can speak."),
    ErrorCode("invalid_token", 401, "The JWT is malformed, expired, or its signature, issuer or audience is wrong."),
    ErrorCode("invalid_transition", 422, "A transition has nothing to transition from."),
    ErrorCode("ip_not_allowed", 403, "The key may not be used from the caller's IP address."),
    ErrorCode("limit_exceeded", 422, "The request exceeds a configured limit; the detail names the setting."),
    ErrorCode("malformed_json", 400, "The body is not valid JSON."),
    ErrorCode("method_not_allowed", 405, "The route does not accept this HTTP method."),
    ErrorCode("missing_credentials", 401, "No `Authorization: Bearer` header was sent."),
    ErrorCode("missing_file", 422, "The multipart upload has no `file` part."),
    ErrorCode("model_kind_mismatch", 422, "The named model does not do this kind of generation."),
    ErrorCode(
        "model_misconfigured",
        500,
        "The model registry names a pipeline class diffusers does not have, or ASR weights CTranslate2 cannot load.",
    ),
    ErrorCode(
        "model_not_installed", 503, "The model's weights are not installed; the detail names the download command."
    ),
    ErrorCode("model_required", 422, "No default model is configured for this kind; name one in `model`."),
    ErrorCode("moderation_blocked", 422, "A prompt, text or output frame was blocked by moderation."),
    ErrorCode("no_face_found", 422, "Lip sync found no frontal face in the video on any sampled frame."),
    ErrorCode("no_gpu", 500, "The model is configured for CUDA but the worker has no GPU."),
    ErrorCode("no_webhook_url", 422, "The task has no webhook URL to redeliver to."),
    ErrorCode("not_found", 404, "No such route or resource."),
    ErrorCode(
        "output_mismatch",
        500,
        "A rendered output did not match its plan (length, sound, size or codec); nothing stored.",
    ),
    ErrorCode("overlapping_clips", 422, "Clips of one track overlap."),
    ErrorCode("overloaded", 503, "The queue is full; retry after `Retry-After` seconds."),
    ErrorCode("pipeline_cycle", 422, "Pipeline steps read each other's outputs in a cycle."),
    ErrorCode("pipeline_not_cancelable", 409, "The pipeline has already ended."),
    ErrorCode("pipeline_not_found", 404, "No pipeline with this id belongs to the caller."),
    ErrorCode("pipeline_not_retryable", 409, "Only a failed or canceled pipeline can be retried."),
    ErrorCode("priority_not_allowed", 403, "The key may not ask for this priority."),
    ErrorCode("processing_failed", 500, "Processing failed for a reason other than the input."),
    ErrorCode(
        "quantization_unavailable",
        503,
        "The model loads with quantized weights (`quantize` in the registry) and the worker cannot quantize: "
        "torchao is not installed (`pip install 'videoapi[quantization]'`), or float8 needs a CUDA GPU of "
        "compute capability 8.9 or newer (a task error).",
    ),
    ErrorCode("quota_exceeded", 402, "The quota cannot cover the request's estimate."),
    ErrorCode("rate_limited", 429, "Too many requests; retry after `Retry-After` seconds."),
    ErrorCode("signature_invalid", 403, "A download URL's signature is invalid or expired."),
    ErrorCode("step_output_mismatch", 422, "A step reads an earlier step's output of the wrong type."),
    ErrorCode("storage_quota_exceeded", 402, "Storing the file would pass the caller's storage quota in bytes."),
    ErrorCode(
        "stream_token_expired", 401, "A stream token has expired; get a new one from POST /v1/video/events/token."
    ),
    ErrorCode("task_not_cancelable", 409, "The task has already finished."),
    ErrorCode("task_not_finished", 409, "The task has not finished, so there is nothing to redeliver."),
    ErrorCode("task_not_found", 404, "No task with this id belongs to the caller."),
    ErrorCode("template_not_found", 404, "No template with this id belongs to the caller."),
    ErrorCode("template_version_not_found", 404, "The template has no such version."),
    ErrorCode("timeout", 500, "The task ran past its time limit."),
    ErrorCode("too_large", 413, "The request body is too large."),
    ErrorCode(
        "too_many_concurrent",
        429,
        "The caller or the server has as many URL fetches and file reads running as allowed.",
    ),
    ErrorCode("too_many_tasks", 429, "The key has as many unfinished (waiting, queued or running) tasks as it may."),
    ErrorCode("transient", 503, "A temporary infrastructure failure; the task is retried with backoff."),
    ErrorCode("transition_too_long", 422, "A transition is shorter than a frame or longer than its clips."),
    ErrorCode("tts_unavailable", 503, "The text-to-speech engine is not installed on this server."),
    ErrorCode("unauthorized", 401, "The credentials are not valid (generic)."),
    ErrorCode("unavailable", 503, "A dependency is unavailable; retry later."),
    ErrorCode("unknown_destination", 422, "A request's `destinations[i].id` is not one of the caller's destinations."),
    ErrorCode("unknown_font", 422, "The font family is not installed."),
    ErrorCode("unknown_kind", 422, "A batch item names an unknown task kind."),
    ErrorCode("unknown_model", 422, "The model is not in the registry."),
    ErrorCode("unknown_step", 422, 'A `{"step": ...}` reference names no step of the pipeline.'),
    ErrorCode("unknown_style", 422, "The style is not one the model offers."),
    ErrorCode("unknown_voice", 422, "The voice is neither an installed espeak-ng voice nor a registry voice."),
    ErrorCode("unsupported_content_type", 422, "Uploads are multipart/form-data or JSON with a URL."),
    ErrorCode("unsupported_option", 422, "The model or voice has no support for this option."),
    ErrorCode("upload_too_large", 413, "The upload exceeds the size limit."),
    ErrorCode("url_forbidden", 422, "The input URL is not allowed (scheme, host or address)."),
    ErrorCode("webhooks_unavailable", 422, "The server has no webhook signing secret for token callers."),
    ErrorCode("worker_lost", 500, "The worker running the task stopped answering on every attempt."),
)


def render_catalogue() -> str:
    """docs/errors.md, generated: one row per code."""
    lines = [
        "# Error codes",
        "",
        "<!-- Generated from `CATALOGUE` in src/videoapi/errors.py by `scripts/gen_errors_docs.py`;",
        "     tests/test_errors_catalogue.py fails when this page or the table is out of date. -->",
        "",
        "Every error carries a stable `code`. A refused request gets it in an RFC 9457 problem body",
        "(`application/problem+json`) with the status below; a task that fails after it was accepted",
        "carries it in `error.code`, with a human `error.message`. Match on the code, not on the text.",
        "",
        "| Code | Status | Meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{e.code}` | {e.status} | {e.meaning} |" for e in CATALOGUE]
    return "\n".join(lines) + "\n"
