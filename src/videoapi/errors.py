"""One exception hierarchy with stable codes, mapped once to problem+json and to task errors."""

from __future__ import annotations

import re
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
