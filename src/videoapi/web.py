"""HTTP plumbing shared by all routes: RFC 9457 problem responses, body decoding, request ids."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any, TypeVar

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from videoapi.errors import AppError, InvalidRequest, TooLarge
from videoapi.observability.logging import get_logger
from videoapi.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = get_logger(__name__)
T = TypeVar("T")
PROBLEM = "application/problem+json"
PROBLEM_BASE = "https://videoapi.dev/problems/"

_FIELD_PATH = re.compile(r" - at `\$\.?([^`]*)`")


def problem(
    status: int, title: str, detail: str, code: str, errors: list[dict[str, Any]] | None = None, **extra: Any
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id:
        body["request_id"] = request_id
    return Response(body, status_code=status, media_type=PROBLEM, headers=extra.get("headers") or {})


def app_error_handler(_: Request, exc: AppError) -> Response[dict[str, Any]]:
    return problem(exc.status, exc.title, exc.detail, exc.code, exc.errors, headers=exc.headers)


def validation_handler(_: Request, exc: ValidationException) -> Response[dict[str, Any]]:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            message = str(item.get("message", ""))
            field = item.get("key") or _field_from_message(message)
            errors.append({"field": field, "message": _FIELD_PATH.sub("", message), "source": item.get("source")})
    detail = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
    return problem(422, "Invalid request", detail or str(exc.detail), "invalid_request", errors)


def http_error_handler(_: Request, exc: HTTPException) -> Response[dict[str, Any]]:
    code = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 400: "bad_request"}.get(
        exc.status_code, "http_error"
    )
    if isinstance(exc, NotFoundException):
        return problem(404, "Not found", "no such route", code)
    return problem(exc.status_code, "Request refused", str(exc.detail), code, headers=exc.headers)


def internal_error_handler(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
    return problem(500, "Internal server error", "the server failed to handle this request", "internal")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    AppError: app_error_handler,
    ValidationException: validation_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}


def _field_from_message(message: str) -> str | None:
    match = _FIELD_PATH.search(message)
    return match.group(1) if match else None


def msgspec_problem(exc: msgspec.ValidationError) -> InvalidRequest:
    message = str(exc)
    field = _field_from_message(message)
    text = _FIELD_PATH.sub("", message)
    return InvalidRequest(
        f"{field}: {text}" if field else text, errors=[{"field": field, "message": text, "source": "body"}]
    )


async def decode_body(request: Request, type_: type[T], *, max_bytes: int) -> T:
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"the JSON body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    try:
        return msgspec.json.decode(b"".join(chunks), type=type_)
    except msgspec.ValidationError as exc:
        raise msgspec_problem(exc) from exc
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}", code="malformed_json", status=400) from exc


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    from litestar._multipart import parse_content_header

    return parse_content_header(value)


class RequestContextMiddleware:
    """Binds a request id to the logs (echoed as X-Request-ID) and records HTTP metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if re.fullmatch(r"[A-Za-z0-9._-]{8,64}", incoming) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("path_template") or _route_template(scope)
            method = scope.get("method", "GET")
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels(method, route, str(status_holder["status"])).inc()
            HTTP_LATENCY.labels(method, route).observe(elapsed)
            log.info("request", method=method, route=route, status=status_holder["status"], ms=round(elapsed * 1000, 1))


def _route_template(scope: Scope) -> str:
    handler = scope.get("route_handler")
    paths = getattr(handler, "paths", None)
    return sorted(paths)[0] if paths else "unmatched"
