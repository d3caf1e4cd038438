"""Typed errors: one `ApiError` subclass per status, each carrying the problem body's stable `code`."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec


class VideoApiError(Exception):
    """Base of every error this package raises."""


class ApiError(VideoApiError):
    """The server answered with an RFC 9457 problem (or another non-2xx answer)."""

    status: int = 0

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        errors: list[dict[str, Any]] | None = None,
        headers: httpx.Headers | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        """The problem's stable code (docs/errors.md), e.g. `input_unreadable`."""
        self.title = title
        self.detail = detail
        self.errors = errors or []
        """Per-field errors: `{"field": "end_s", "message": ..., "source": "body"}`."""
        self.headers = headers or httpx.Headers()


class BadRequestError(ApiError):
    status = 400


class AuthenticationError(ApiError):
    status = 401


class PermissionDeniedError(ApiError):
    status = 403


class NotFoundError(ApiError):
    status = 404


class ConflictError(ApiError):
    status = 409


class GoneError(ApiError):
    status = 410


class PayloadTooLargeError(ApiError):
    status = 413


class UnprocessableEntityError(ApiError):
    status = 422


class RateLimitedError(ApiError):
    status = 429


class ServerError(ApiError):
    status = 500


class ServiceUnavailableError(ServerError):
    status = 503


_BY_STATUS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        GoneError,
        PayloadTooLargeError,
        UnprocessableEntityError,
        RateLimitedError,
        ServiceUnavailableError,
    )
}


class WaitTimeoutError(VideoApiError, TimeoutError):
    """`wait` gave up before the task reached a terminal state; `task` is the last one seen."""

    def __init__(self, task_id: str, timeout_s: float, task: Any) -> None:
        super().__init__(f"task {task_id} not finished after {timeout_s} s")
        self.task = task


class WebhookVerificationError(VideoApiError, ValueError):
    """A webhook request is not signed by any of the given secrets, or its timestamp is out of range."""


class _Problem(msgspec.Struct):
    code: str = "unknown"
    title: str = ""
    detail: str = ""
    errors: list[dict[str, Any]] = []


def error_for(response: httpx.Response) -> ApiError:
    """The typed error of a non-2xx answer; a body that is no problem still gives its status."""
    try:
        problem = msgspec.json.decode(response.content, type=_Problem)
    except (msgspec.DecodeError, msgspec.ValidationError):
        problem = _Problem(code=f"http_{response.status_code}", title=response.reason_phrase, detail=response.text)
    status = response.status_code
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return cls(status, problem.code, problem.title, problem.detail, problem.errors, response.headers)
