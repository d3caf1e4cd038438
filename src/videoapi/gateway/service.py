"""The gateway of one API process, and `submit`: the one path every create request takes.

`submit` turns validated requests into tasks with the promises of the API: idempotency keys,
per-key priority caps and task caps, load shedding, webhook target checks, the caller's destinations,
one transaction for all the tasks of a batch (with their planned deliveries), and `Prefer: wait=N`.
`submit_pipeline` is the same path for a pipeline: one transaction for its row and all its steps.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.auth.jwt import JwtVerifier
from videoapi.auth.principal import Principal
from videoapi.auth.service import KeyService
from videoapi.destinations.service import DestinationService
from videoapi.errors import FetchError, Forbidden, InvalidRequest, ServiceUnavailable
from videoapi.gateway.clientip import parse_networks
from videoapi.gateway.idempotency import HEADER, IdempotencyStore, Replay, check_key, fingerprint
from videoapi.gateway.keycache import KeyCache
from videoapi.gateway.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from videoapi.gateway.streamtokens import StreamTokens
from videoapi.media.fetch import check_target
from videoapi.settings import Settings
from videoapi.tasks.counters import queue_depth as queued_in
from videoapi.tasks.models import Pipeline, Task
from videoapi.tasks.pipelines import present_pipeline
from videoapi.tasks.schemas import TaskOut, present_task
from videoapi.tasks.service import TaskService
from videoapi.tasks.states import PRIORITIES, PRIORITY_NAMES, TERMINAL
from videoapi.tasks.views import TaskView

_QUEUE_DEPTH_CACHE_S = 1.0
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?", re.IGNORECASE)


class Gateway:
    """Per-process state of the gateway: JWT keys, trusted proxies, rate limiter, queue depth cache.

    `sign(key)` gives a signed URL for a stored object (AssetService.sign); `batch_kinds` names,
    per family, the kinds a batch may hold (built by the composition root from the features' tables).
    """

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        tasks: TaskService,
        keys: KeyService,
        sign: Callable[[str], Awaitable[str]],
        batch_kinds: dict[str, dict[str, Any]] | None = None,
        *,
        stream_tokens: StreamTokens,
        destinations: DestinationService | None = None,
    ) -> None:
        self.settings = settings
        self.stream_tokens = stream_tokens
        """Signs and checks the `?token=` of the event streams (POST /v1/video/events/token)."""
        self.sessions = sessions
        self.tasks = tasks
        self.keys = keys
        self.sign = sign
        self.batch_kinds = batch_kinds or {}
        self.destinations = destinations
        self.jwt = JwtVerifier(self.settings.auth)
        self.trusted_proxies = parse_networks(self.settings.server.trusted_proxies)
        self.limiter: RateLimiter = (
            RedisRateLimiter(self.settings.rate_limit_redis_url, self.settings.queue.namespace)
            if self.settings.gateway.rate_limit_backend == "redis"
            else MemoryRateLimiter()
        )
        self.idempotency = IdempotencyStore(sessions, self.settings.gateway)
        # Keys are cached only where revokes are announced (the Redis limiter reads the epoch for free).
        self.key_cache = KeyCache() if keys.revocations is not None else None
        self._depths: dict[str, tuple[float, int]] = {}

    async def close(self) -> None:
        await self.limiter.close()

    async def queue_depth(self, queue: str) -> int:
        """Queued tasks of a queue, read at most once a second per process (shedding needs no precision).

        The read is the queue's counter rows (tasks/counters.py), not a count of the backlog.
        """
        now = time.monotonic()
        cached = self._depths.get(queue)
        if cached and now - cached[0] < _QUEUE_DEPTH_CACHE_S:
            return cached[1]
        async with self.tasks.read_sessions() as session:
            depth = await queued_in(session, queue)
        self._depths[queue] = (now, depth)
        return depth


@dataclass(frozen=True)
class Item:
    """One task to create: `TaskService.create` keyword arguments and where its fields sit in the request."""

    kwargs: dict[str, Any]
    field_prefix: str = ""


class BatchOut(msgspec.Struct):
    task_ids: list[str]
    """In the order of the request's items."""
    tasks: list[TaskOut]


def prefer_wait_s(header: str | None, cap_s: float) -> float | None:
    """The N of `Prefer: wait=N`, capped; None when absent."""
    if not header:
        return None
    match = _PREFER_WAIT.search(header)
    return min(float(match.group(1)), cap_s) if match else None


async def submit(
    request: Request,
    principal: Principal,
    prepare: Callable[[], Awaitable[Sequence[Item]]],
    *,
    batch: bool = False,
) -> Response[Any]:
    """Create the tasks `prepare` validates, honouring Idempotency-Key and Prefer: wait; answer 202 (or 200)."""
    gateway: Gateway = request.app.state.gateway
    settings = gateway.settings.gateway
    wait_s = prefer_wait_s(request.headers.get("prefer"), settings.max_wait_s)
    key = request.headers.get(HEADER.lower())
    record_id: str | None = None
    if key is not None:
        check_key(key)
        begun = await gateway.idempotency.begin(
            principal.owner_id,
            key,
            fingerprint(request.method, request.url.path, await request.body()),
            batch=batch,
        )
        if isinstance(begun, Replay):
            tasks = [await gateway.tasks.read(task_id, principal.owner_id) for task_id in begun.task_ids]
            return await _respond(gateway, tasks, begun.status_code, batch, wait_s, replayed=True)
        record_id = begun
    try:
        items = list(await prepare())
        _check_priorities(principal, items)
        await _check_webhooks(principal, items, gateway.settings)
        refs = await _check_destinations(gateway, principal, items)
        await _shed(gateway, items)

        async def in_transaction(session: AsyncSession, tasks: list[Task]) -> None:
            if gateway.destinations is not None and any(refs):
                await gateway.destinations.plan(session, tasks, refs)
            if record_id is not None:
                await gateway.idempotency.complete(session, record_id, 202, [t.id for t in tasks])

        tasks = await gateway.tasks.create_many(
            [i.kwargs for i in items],
            in_transaction=in_transaction,
            max_active=principal.max_active_tasks or settings.default_max_active_tasks,
        )
    except BaseException:
        if record_id is not None:
            await gateway.idempotency.release(record_id)
        raise
    return await _respond(gateway, tasks, 202, batch, wait_s, replayed=False)


@dataclass(frozen=True)
class PipelineSubmission:
    """A validated pipeline: its row, one item per step (with ids and pipeline columns), and delivery."""

    pipeline: Pipeline
    items: list[Item]
    sinks: list[int]
    """Indexes of the steps no other step reads: their outputs are the pipeline's, sent to `destinations`."""
    destinations: list[str]


async def submit_pipeline(
    request: Request, principal: Principal, prepare: Callable[[], Awaitable[PipelineSubmission]]
) -> Response[Any]:
    """Create the pipeline `prepare` validates with the promises of `submit`; answer 202 with it."""
    gateway: Gateway = request.app.state.gateway
    key = request.headers.get(HEADER.lower())
    record_id: str | None = None
    if key is not None:
        check_key(key)
        begun = await gateway.idempotency.begin(
            principal.owner_id, key, fingerprint(request.method, request.url.path, await request.body()), batch=False
        )
        if isinstance(begun, Replay):
            pipeline, steps = await gateway.tasks.get_pipeline(begun.task_ids[0], principal.owner_id)
            return _pipeline_response(pipeline, await present_pipeline(pipeline, steps, gateway.sign), True)
        record_id = begun
    try:
        plan = await prepare()
        items = plan.items
        _check_priorities(principal, items)
        await _check_webhooks(principal, [Item({"webhook_url": plan.pipeline.webhook_url})], gateway.settings)
        await _check_destinations(gateway, principal, [Item({"destinations": plan.destinations})])
        await _shed(gateway, items)

        async def in_transaction(session: AsyncSession, tasks: list[Task]) -> None:
            if gateway.destinations is not None and plan.destinations:
                sinks = [tasks[i] for i in plan.sinks]
                await gateway.destinations.plan(session, sinks, [plan.destinations] * len(sinks))
            if record_id is not None:
                await gateway.idempotency.complete(session, record_id, 202, [plan.pipeline.id])

        await gateway.tasks.create_pipeline(
            plan.pipeline,
            [i.kwargs for i in items],
            in_transaction=in_transaction,
            max_active=principal.max_active_tasks or gateway.settings.gateway.default_max_active_tasks,
        )
    except BaseException:
        if record_id is not None:
            await gateway.idempotency.release(record_id)
        raise
    pipeline, steps = await gateway.tasks.get_pipeline(plan.pipeline.id, principal.owner_id)
    return _pipeline_response(pipeline, await present_pipeline(pipeline, steps, gateway.sign), False)


def _pipeline_response(pipeline: Pipeline, body: Any, replayed: bool) -> Response[Any]:
    headers = {"Location": f"/v1/video/pipelines/{pipeline.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(body, status_code=202, headers=headers)


def _check_priorities(principal: Principal, items: Sequence[Item]) -> None:
    cap = PRIORITIES[principal.max_priority]
    for item in items:
        asked = item.kwargs.get("priority", PRIORITIES["normal"])
        if asked > cap:
            field = f"{item.field_prefix}priority"
            raise Forbidden(
                f"{field}: this key may ask for priority {principal.max_priority} at most, not {PRIORITY_NAMES[asked]}",
                code="priority_not_allowed",
                errors=[{"field": field, "message": f"at most {principal.max_priority}"}],
            )


async def _check_webhooks(principal: Principal, items: Sequence[Item], settings: Settings) -> None:
    """Refuse webhook targets the delivery would refuse; they are checked again on every delivery."""
    for item in items:
        url = item.kwargs.get("webhook_url")
        if not url:
            continue
        field = f"{item.field_prefix}webhook_url"
        if principal.key_id is None and not settings.gateway.webhook_secret:
            raise InvalidRequest(
                f"{field}: this server has no webhook signing secret for token-authenticated callers",
                code="webhooks_unavailable",
                errors=[{"field": field, "message": "set gateway.webhook_secret to enable webhooks for JWT callers"}],
            )
        try:
            await check_target(url, settings.gateway.webhook_allow_cidrs, settings.gateway.webhook_allow_ports)
        except FetchError as exc:
            if exc.code == "url_forbidden":
                raise InvalidRequest(
                    f"{field}: {exc.detail}", code=exc.code, errors=[{"field": field, "message": exc.detail}]
                ) from None
            # A name that does not resolve now may resolve later: deliveries retry.


async def _check_destinations(gateway: Gateway, principal: Principal, items: Sequence[Item]) -> list[list[str]]:
    """Per item, the destination ids it names: each must be the caller's (422 naming `destinations[i].id`)."""
    refs = [list(item.kwargs.get("destinations") or []) for item in items]
    if not any(refs):
        return refs
    if gateway.destinations is None:
        raise InvalidRequest("this server delivers to no destinations", code="unknown_destination")
    for item, ids in zip(items, refs, strict=True):
        await gateway.destinations.check_refs(principal.owner_id, ids, item.field_prefix)
    return refs


async def _shed(gateway: Gateway, items: Sequence[Item]) -> None:
    limit = gateway.settings.gateway.max_queue_depth
    if limit <= 0:
        return
    for queue in {i.kwargs["queue"] for i in items}:
        depth = await gateway.queue_depth(queue)
        if depth >= limit:
            retry_s = gateway.settings.gateway.shed_retry_after_s
            raise ServiceUnavailable(
                f"the {queue} queue is full ({depth} tasks waiting); retry in {retry_s} s",
                code="overloaded",
                headers={"Retry-After": str(retry_s)},
            )


async def _respond(
    gateway: Gateway,
    tasks: Sequence[Task | TaskView],
    status_code: int,
    batch: bool,
    wait_s: float | None,
    *,
    replayed: bool,
) -> Response[Any]:
    headers: dict[str, str] = {}
    if wait_s is not None:
        tasks = await _wait(gateway.tasks, tasks, wait_s)
        headers["Preference-Applied"] = f"wait={wait_s:g}"
        if all(t.status in TERMINAL for t in tasks):
            status_code = 200
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    presented = [await present_task(t, gateway.sign) for t in tasks]
    if batch:
        return Response(BatchOut([t.id for t in tasks], presented), status_code=status_code, headers=headers)
    headers["Location"] = f"/v1/video/tasks/{tasks[0].id}"
    return Response(presented[0], status_code=status_code, headers=headers)


async def _wait(service: TaskService, tasks: Sequence[Task | TaskView], wait_s: float) -> list[Task | TaskView]:
    """Poll until every task is finished or `wait_s` passed; the poll interval grows to 250 ms."""
    deadline = time.monotonic() + wait_s
    delay_s = 0.02
    current = list(tasks)
    while True:
        pending = [i for i, t in enumerate(current) if t.status not in TERMINAL]
        if not pending:
            return current
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return current
        await asyncio.sleep(min(delay_s, remaining))
        delay_s = min(delay_s * 2, 0.25)
        for i in pending:
            current[i] = await service.read(current[i].id, None)
