"""`Client` (blocking) and `AsyncClient` (asyncio): the transport, retries, upload, wait, pagination."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Any

import httpx

from videoapi_client import models as m
from videoapi_client._core import (
    ROUTES,
    TERMINAL,
    Backoff,
    Progress,
    Route,
    SseParser,
    Upload,
    decode,
    idempotency_key,
    request_body,
    retry_delay_s,
    task_from_event,
)
from videoapi_client._errors import WaitTimeoutError, error_for
from videoapi_client._resources import Analyze, Assets, Batch, Edit, Generate, Pipelines, Tasks, Webhooks

__version__ = "0.1.0"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# A stream's read timeout: the server sends a heartbeat every 15 s, so silence past this is a dead link.
STREAM_READ_TIMEOUT_S = 45.0

Source = str | os.PathLike[str] | IO[bytes]


class BaseClient:
    """Configuration and the request building that both clients share."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        max_retries: int = 3,
        max_retry_wait_s: float = 60.0,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        headers: dict[str, str] | None = None,
    ) -> None:
        base_url = base_url or os.environ.get("VIDEOAPI_URL") or "http://127.0.0.1:8000"
        api_key = api_key or os.environ.get("VIDEOAPI_KEY")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        """Retries of a 429 or 503 answer (each after its `Retry-After`)."""
        self.max_retry_wait_s = max_retry_wait_s
        """A `Retry-After` longer than this is not waited out: the error is raised."""
        self.timeout = timeout
        self.headers = {"user-agent": f"videoapi-client-python/{__version__}", **(headers or {})}
        if api_key:
            self.headers["authorization"] = f"Bearer {api_key}"
        self._events_supported: bool | None = None
        self.edit = Edit(self)
        self.generate = Generate(self)
        self.analyze = Analyze(self)
        self.batch = Batch(self)
        self.tasks = Tasks(self)
        self.pipelines = Pipelines(self)
        self.assets = Assets(self)
        self.webhooks = Webhooks(self)

    def _build(
        self,
        route: Route,
        path: dict[str, str] | None,
        params: dict[str, Any] | None,
        body: tuple[Any, dict[str, Any]] | None,
        body_type: type | None,
        idempotency: str | None,
    ) -> tuple[str, dict[str, Any]]:
        """The URL and httpx keyword arguments of one call (the same for every retry)."""
        kwargs: dict[str, Any] = {"headers": {}}
        if params:
            kwargs["params"] = {k: v for k, v in params.items() if v is not None}
        if body is not None:
            kwargs["content"] = request_body(body_type or route.body or dict, *body)
            kwargs["headers"]["content-type"] = "application/json"
        if route.create:
            kwargs["headers"]["idempotency-key"] = idempotency or idempotency_key()
        return self.base_url + route.url(**(path or {})), kwargs

    def _no_stream(self, response: httpx.Response) -> bool:
        """A 404 or 405 from the events route: the server has no stream (remembered), or no such task.

        Either way the caller polls; polling raises `NotFoundError` for a task that does not exist.
        """
        if response.status_code not in (404, 405):
            return False
        if error_for(response).code in ("not_found", "method_not_allowed"):
            self._events_supported = False
        return True

    def _download_request(self, http: httpx.Client | httpx.AsyncClient, url: str) -> httpx.Request:
        """GET of a signed URL. The API key goes only to the API's own origin: a presigned S3 URL
        refuses a second credential, and another host has no business seeing the key."""
        request = http.build_request("GET", url)
        if request.url.copy_with(path="/", query=None, fragment=None) != httpx.URL(self.base_url).copy_with(
            path="/", query=None, fragment=None
        ):
            request.headers.pop("authorization", None)
        return request

    def _call(self, route: Route, **kw: Any) -> Any:
        raise NotImplementedError

    def _paginate(self, route: Route, params: dict[str, Any]) -> Any:
        raise NotImplementedError


def _finish(route: Route, response: httpx.Response) -> Any:
    if response.is_success:
        return decode(response, route.response)
    raise error_for(response)


class Client(BaseClient):
    """Blocking client. `with Client(url, key) as client: ...` closes its connections at the end."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, **kw: Any) -> None:
        super().__init__(base_url, api_key, **kw)
        self._http = httpx.Client(headers=self.headers, timeout=self.timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request with the retry policy: 429 and 503 again after their `Retry-After`."""
        for attempt in range(self.max_retries + 1):
            response = self._http.request(method, url, **kwargs)
            delay_s = retry_delay_s(response, attempt, self.max_retry_wait_s)
            if delay_s is None or attempt == self.max_retries:
                return response
            time.sleep(delay_s)
        raise AssertionError("unreachable")

    def _call(
        self,
        route: Route,
        *,
        path: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        body: tuple[Any, dict[str, Any]] | None = None,
        body_type: type | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        url, kwargs = self._build(route, path, params, body, body_type, idempotency_key)
        return _finish(route, self._send(route.method, url, **kwargs))

    def _paginate(self, route: Route, params: dict[str, Any]) -> Iterator[m.TaskOut]:
        cursor: str | None = None
        while True:
            page = self._call(route, params={**params, "cursor": cursor})
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def upload(
        self,
        source: Source,
        *,
        progress: Progress | None = None,
        filename: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> m.AssetOut:
        """Upload a media file (a path or a binary file object), streamed in 1 MiB chunks.

        `progress(sent_bytes, total_bytes)` is called after each chunk. The file is probed by the
        server; an unusable one is a `UnprocessableEntityError` with the reason in `code`.
        """
        route = ROUTES["assets.upload"]
        upload = Upload.open(source, filename, content_type, progress)
        try:
            for attempt in range(self.max_retries + 1):
                response = self._http.post(self.base_url + route.path, content=upload.parts(), headers=upload.headers())
                delay_s = retry_delay_s(response, attempt, self.max_retry_wait_s)
                if delay_s is None or attempt == self.max_retries or not upload.rewindable:
                    return _finish(route, response)
                time.sleep(delay_s)
        finally:
            upload.close()
        raise AssertionError("unreachable")

    def download(self, url: str, dest: str | os.PathLike[str]) -> Path:
        """Stream a signed output or asset URL to `dest`."""
        path = Path(dest)
        response = self._http.send(self._download_request(self._http, url), stream=True)
        try:
            if not response.is_success:
                response.read()
                raise error_for(response)
            with path.open("wb") as fh:
                for chunk in response.iter_bytes():
                    fh.write(chunk)
        finally:
            response.close()
        return path

    def usage(self, since: str | None = None) -> m.UsageOut:
        """Credits by day and kind since `since` (YYYY-MM-DD; the start of the month by default)."""
        return self._call(ROUTES["usage"], params={"since": since})

    def transcribe(
        self, request: m.TranscribeRequest | None = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> m.TaskOut:
        """Speech to text with word timings (`POST /v1/video/transcribe`); the result has SRT/WebVTT/JSON outputs."""
        return self._call(ROUTES["transcribe"], body=(request, fields), idempotency_key=idempotency_key)

    def wait(self, task_id: str, *, timeout_s: float = 600.0, poll_max_s: float = 5.0) -> m.TaskOut:
        """The task once it is succeeded, failed or canceled; `WaitTimeoutError` after `timeout_s`.

        Over the task's event stream when the server has one, else by polling with backoff
        (0.25 s, growing by half to `poll_max_s`).
        """
        deadline = time.monotonic() + timeout_s
        if self._events_supported is not False:
            task = self._wait_events(task_id, deadline)
            if task is not None:
                return task
        backoff = Backoff(max_s=poll_max_s)
        while True:
            task = self.tasks.get(task_id)
            remaining_s = deadline - time.monotonic()
            if task.status in TERMINAL:
                return task
            if remaining_s <= 0:
                raise WaitTimeoutError(task_id, timeout_s, task)
            time.sleep(backoff.next_s(remaining_s))

    def _wait_events(self, task_id: str, deadline: float) -> m.TaskOut | None:
        """Follow `GET /tasks/{id}/events` to the final `task` event; None when the server has no stream.

        A dropped stream is resumed with `Last-Event-ID`. A 404 means no such route (or no such task:
        the polling that follows says which).
        """
        parser = SseParser()
        url, _ = self._build(ROUTES["tasks.events"], {"task_id": task_id}, None, None, None, None)
        while time.monotonic() < deadline:
            headers = {"accept": "text/event-stream"}
            if parser.last_id:
                headers["last-event-id"] = parser.last_id
            read_s = min(STREAM_READ_TIMEOUT_S, max(0.1, deadline - time.monotonic()))
            try:
                with self._http.stream(
                    "GET", url, headers=headers, timeout=httpx.Timeout(read_s, connect=10.0)
                ) as response:
                    if not response.is_success:
                        response.read()
                        if self._no_stream(response):
                            return None
                        raise error_for(response)
                    self._events_supported = True
                    for line in response.iter_lines():
                        event = parser.feed(line)
                        task = task_from_event(event) if event else None
                        if task is not None:
                            return task
                        if time.monotonic() >= deadline:  # heartbeats keep the stream alive: not the wait
                            return None
            except (httpx.TimeoutException, httpx.RemoteProtocolError):
                continue  # resume from the last event id
        return None


class AsyncClient(BaseClient):
    """asyncio client: the same methods as `Client`, each awaited (`async with AsyncClient(...)`)."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, **kw: Any) -> None:
        super().__init__(base_url, api_key, **kw)
        self._http = httpx.AsyncClient(headers=self.headers, timeout=self.timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self.max_retries + 1):
            response = await self._http.request(method, url, **kwargs)
            delay_s = retry_delay_s(response, attempt, self.max_retry_wait_s)
            if delay_s is None or attempt == self.max_retries:
                return response
            await asyncio.sleep(delay_s)
        raise AssertionError("unreachable")

    async def _call(
        self,
        route: Route,
        *,
        path: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        body: tuple[Any, dict[str, Any]] | None = None,
        body_type: type | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        url, kwargs = self._build(route, path, params, body, body_type, idempotency_key)
        return _finish(route, await self._send(route.method, url, **kwargs))

    async def _paginate(self, route: Route, params: dict[str, Any]) -> AsyncIterator[m.TaskOut]:
        cursor: str | None = None
        while True:
            page = await self._call(route, params={**params, "cursor": cursor})
            for item in page.items:
                yield item
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def upload(
        self,
        source: Source,
        *,
        progress: Progress | None = None,
        filename: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> m.AssetOut:
        """As `Client.upload`; the file is read in 1 MiB chunks on a worker thread."""
        route = ROUTES["assets.upload"]
        upload = Upload.open(source, filename, content_type, progress)

        async def body() -> AsyncIterator[bytes]:
            parts = upload.parts()
            while (chunk := await asyncio.to_thread(next, parts, None)) is not None:
                yield chunk

        try:
            for attempt in range(self.max_retries + 1):
                response = await self._http.post(self.base_url + route.path, content=body(), headers=upload.headers())
                delay_s = retry_delay_s(response, attempt, self.max_retry_wait_s)
                if delay_s is None or attempt == self.max_retries or not upload.rewindable:
                    return _finish(route, response)
                await asyncio.sleep(delay_s)
        finally:
            upload.close()
        raise AssertionError("unreachable")

    async def download(self, url: str, dest: str | os.PathLike[str]) -> Path:
        path = Path(dest)
        response = await self._http.send(self._download_request(self._http, url), stream=True)
        try:
            if not response.is_success:
                await response.aread()
                raise error_for(response)
            fh = await asyncio.to_thread(path.open, "wb")
            try:
                async for chunk in response.aiter_bytes():
                    await asyncio.to_thread(fh.write, chunk)
            finally:
                fh.close()
        finally:
            await response.aclose()
        return path

    async def usage(self, since: str | None = None) -> m.UsageOut:
        return await self._call(ROUTES["usage"], params={"since": since})

    async def transcribe(
        self, request: m.TranscribeRequest | None = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> m.TaskOut:
        return await self._call(ROUTES["transcribe"], body=(request, fields), idempotency_key=idempotency_key)

    async def wait(self, task_id: str, *, timeout_s: float = 600.0, poll_max_s: float = 5.0) -> m.TaskOut:
        """As `Client.wait`."""
        deadline = time.monotonic() + timeout_s
        if self._events_supported is not False:
            task = await self._wait_events(task_id, deadline)
            if task is not None:
                return task
        backoff = Backoff(max_s=poll_max_s)
        while True:
            task = await self._call(ROUTES["tasks.get"], path={"task_id": task_id})
            remaining_s = deadline - time.monotonic()
            if task.status in TERMINAL:
                return task
            if remaining_s <= 0:
                raise WaitTimeoutError(task_id, timeout_s, task)
            await asyncio.sleep(backoff.next_s(remaining_s))

    async def _wait_events(self, task_id: str, deadline: float) -> m.TaskOut | None:
        parser = SseParser()
        url, _ = self._build(ROUTES["tasks.events"], {"task_id": task_id}, None, None, None, None)
        while time.monotonic() < deadline:
            headers = {"accept": "text/event-stream"}
            if parser.last_id:
                headers["last-event-id"] = parser.last_id
            read_s = min(STREAM_READ_TIMEOUT_S, max(0.1, deadline - time.monotonic()))
            try:
                async with self._http.stream(
                    "GET", url, headers=headers, timeout=httpx.Timeout(read_s, connect=10.0)
                ) as response:
                    if not response.is_success:
                        await response.aread()
                        if self._no_stream(response):
                            return None
                        raise error_for(response)
                    self._events_supported = True
                    async for line in response.aiter_lines():
                        event = parser.feed(line)
                        task = task_from_event(event) if event else None
                        if task is not None:
                            return task
                        if time.monotonic() >= deadline:
                            return None
            except (httpx.TimeoutException, httpx.RemoteProtocolError):
                continue
        return None
