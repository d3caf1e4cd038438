"""Webhooks per the Standard Webhooks spec: an outbox in the database, delivered by every worker process.

A finished task with a `webhook_url` whose `webhook_notified_at` is unset is the outbox: the
dispatcher turns it into a delivery row and sets the column in one transaction, so a crash loses
no event and queues none twice. Deliveries are claimed by moving `next_attempt_at` past the
attempt's timeout (a crashed sender's claim simply expires), sent, and every attempt is logged.

One attempt has one deadline (`webhook_timeout_s`) for all of it, and reads at most 64 KiB of the
answer: an endpoint that drips or never ends its body costs one in-flight slot until the deadline,
never the dispatcher. Attempts run side by side, bounded per process and per owner.

Signing: `webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, one
signature per unexpired secret of the key, space-separated, so receivers keep verifying while a
secret is rotated.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import httpx
import msgspec
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.auth.service import KeyService, subject_webhook_secret
from videoapi.db.base import utcnow
from videoapi.db.engine import transaction
from videoapi.errors import Conflict, FetchError, InvalidRequest
from videoapi.gateway.idempotency import IdempotencyStore
from videoapi.gateway.models import DisabledEndpoint, WebhookAttempt, WebhookDelivery
from videoapi.media.fetch import check_target
from videoapi.observability.logging import get_logger
from videoapi.observability.metrics import WEBHOOK_DELIVERIES, WEBHOOK_DELIVERY_SECONDS
from videoapi.settings import GatewaySettings
from videoapi.tasks.models import Pipeline, Task
from videoapi.tasks.pipelines import present_pipeline
from videoapi.tasks.schemas import present_task
from videoapi.tasks.service import TaskService
from videoapi.tasks.states import TERMINAL

log = get_logger(__name__)

_USER_AGENT = "videoapi-webhooks/1"
_CLAIM_BATCH = 20
# Due rows looked at per claim, so that owners at their in-flight bound do not hide the others.
_CLAIM_SCAN = 200
# Only the status matters; the body is read this far (so the receiver can finish) and then dropped.
_MAX_RESPONSE_BYTES = 64 * 1024
_OUTBOX_BATCH = 100
_PURGE_EVERY_S = 60.0
_ERROR_CHARS = 500
# A delivery's new status -> the outcome of the attempt on /metrics.
_OUTCOMES = {"succeeded": "delivered", "pending": "failed", "failed": "exhausted", "disabled": "disabled"}


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of a message with a `whsec_...` secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets)


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


class AttemptOut(msgspec.Struct):
    attempt: int
    attempted_at: str
    status_code: int | None
    latency_ms: float
    error: str | None


class DeliveryOut(msgspec.Struct):
    id: str
    webhook_id: str
    """The `webhook-id` header: receivers deduplicate on it."""
    event_type: str
    url: str
    status: str
    """pending | succeeded | failed | disabled"""
    attempts: list[AttemptOut]
    next_attempt_at: str | None
    created_at: str


class WebhookService:
    """Delivery log and redelivery for the API; outbox, claim and delivery for the dispatcher.

    `sign(key)` gives a signed URL for a stored object (AssetService.sign), for the payload."""

    def __init__(
        self,
        settings: GatewaySettings,
        sessions: async_sessionmaker[AsyncSession],
        tasks: TaskService,
        keys: KeyService,
        sign: Callable[[str], Awaitable[str]],
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.tasks = tasks
        self.keys = keys
        self.sign = sign

    # ---- API side -------------------------------------------------------------------------

    async def list_for_task(self, task_id: str, owner_id: str) -> list[DeliveryOut]:
        await self.tasks.get(task_id, owner_id)  # 404 unless it is the caller's
        async with self.sessions() as session:
            deliveries = (
                await session.scalars(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.task_id == task_id)
                    .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
                )
            ).all()
            attempts = (
                await session.scalars(
                    select(WebhookAttempt)
                    .where(WebhookAttempt.task_id == task_id)
                    .order_by(WebhookAttempt.attempted_at, WebhookAttempt.attempt)
                )
            ).all()
        by_delivery: dict[str, list[AttemptOut]] = {}
        for a in attempts:
            by_delivery.setdefault(a.delivery_id, []).append(
                AttemptOut(a.attempt, a.attempted_at.isoformat(), a.status_code, round(a.latency_ms, 1), a.error)
            )
        return [
            DeliveryOut(
                id=d.id,
                webhook_id=d.msg_id,
                event_type=d.event_type,
                url=d.url,
                status=d.status,
                attempts=by_delivery.get(d.id, []),
                next_attempt_at=d.next_attempt_at.isoformat() if d.status == "pending" else None,
                created_at=d.created_at.isoformat(),
            )
            for d in deliveries
        ]

    async def redeliver(self, task_id: str, owner_id: str) -> DeliveryOut:
        """Send the task's terminal event again (same webhook-id); re-enables an endpoint that said 410."""
        task = await self.tasks.get(task_id, owner_id)
        if not task.webhook_url:
            raise InvalidRequest(f"task {task_id} has no webhook_url", code="no_webhook_url")
        if task.status not in TERMINAL:
            raise Conflict(
                f"task {task_id} is {task.status}; webhooks are sent when it finishes", code="task_not_finished"
            )
        event = f"task.{task.status}"
        now = utcnow()
        async with transaction(self.sessions) as session:
            previous = await session.scalar(
                select(WebhookDelivery.msg_id)
                .where(WebhookDelivery.task_id == task_id, WebhookDelivery.event_type == event)
                .order_by(WebhookDelivery.created_at.desc())
                .limit(1)
            )
            await session.execute(
                delete(DisabledEndpoint).where(
                    DisabledEndpoint.owner_id == owner_id, DisabledEndpoint.url_hash == url_hash(task.webhook_url)
                )
            )
            delivery = _new_delivery(task, event, previous, now)
            session.add(delivery)
            await session.execute(update(Task).where(Task.id == task.id).values(webhook_notified_at=now))
        return DeliveryOut(
            id=delivery.id,
            webhook_id=delivery.msg_id,
            event_type=event,
            url=delivery.url,
            status=delivery.status,
            attempts=[],
            next_attempt_at=now.isoformat(),
            created_at=now.isoformat(),
        )

    async def secrets_for_caller(self, owner_id: str) -> list[str]:
        """The caller's signing secrets, newest first; 422 `webhooks_unavailable` when it has none."""
        found = await self.secrets(owner_id)
        if not found:
            raise InvalidRequest(
                "this server has no webhook signing secret for token-authenticated callers",
                code="webhooks_unavailable",
            )
        return found

    async def secrets(self, owner_id: str) -> list[str]:
        """An API key's unexpired secrets; for any other owner (a JWT subject), its own derived secret."""
        found = await self.keys.webhook_secrets(owner_id)
        if found:
            return found
        master = self.settings.webhook_secret
        return [subject_webhook_secret(master, owner_id)] if master else []

    # ---- dispatcher side ------------------------------------------------------------------

    async def queue_finished(self) -> int:
        """Outbox: one delivery per finished task with a webhook_url not yet announced."""
        now = utcnow()
        async with transaction(self.sessions) as session:
            rows = (
                await session.scalars(
                    select(Task)
                    .where(
                        Task.webhook_url.is_not(None), Task.webhook_notified_at.is_(None), Task.finished_at.is_not(None)
                    )
                    .order_by(Task.finished_at)
                    .limit(_OUTBOX_BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for task in rows:
                session.add(_new_delivery(task, f"task.{task.status}", None, now))
            if rows:
                await session.execute(
                    update(Task)
                    .where(Task.id.in_([t.id for t in rows]), Task.webhook_notified_at.is_(None))
                    .values(webhook_notified_at=now)
                    .execution_options(synchronize_session=False)
                )
            # Pipelines have the same outbox; the delivery's `task_id` holds the pipeline's id.
            ended = (
                await session.scalars(
                    select(Pipeline)
                    .where(
                        Pipeline.webhook_url.is_not(None),
                        Pipeline.webhook_notified_at.is_(None),
                        Pipeline.finished_at.is_not(None),
                    )
                    .order_by(Pipeline.finished_at)
                    .limit(_OUTBOX_BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for pipeline in ended:
                session.add(_new_delivery(pipeline, f"pipeline.{pipeline.status}", None, now))
                pipeline.webhook_notified_at = now
        return len(rows) + len(ended)

    async def claim_due(
        self, limit: int = _CLAIM_BATCH, busy: Mapping[str, int] | None = None
    ) -> list[WebhookDelivery]:
        """Lease up to `limit` due deliveries, oldest first, at most `webhook_max_in_flight_per_owner`
        per owner counting the `busy` ones this process is already sending."""
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.webhook_timeout_s + 30)
        per_owner = self.settings.webhook_max_in_flight_per_owner
        async with transaction(self.sessions) as session:
            due = (
                await session.execute(
                    select(WebhookDelivery.id, WebhookDelivery.owner_id)
                    .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                    .order_by(WebhookDelivery.next_attempt_at)
                    .limit(_CLAIM_SCAN)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            chosen = _fair_pick(due, limit, per_owner, busy or {})
            if not chosen:
                return []
            claimed = await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id.in_(chosen),
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                )
                .values(next_attempt_at=lease, attempts=WebhookDelivery.attempts + 1, updated_at=now)
                .returning(WebhookDelivery)
                .execution_options(synchronize_session=False)
            )
            return list(claimed.scalars().all())

    async def deliver(self, client: httpx.AsyncClient, delivery: WebhookDelivery) -> str:
        """One attempt; returns the delivery's new status."""
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        outcome = "retry"
        try:
            if await self._endpoint_disabled(delivery):
                outcome, error = "disabled", "the endpoint answered 410 Gone earlier; redeliver to enable it again"
            else:
                async with asyncio.timeout(self.settings.webhook_timeout_s):
                    status_code = await self._send(client, delivery)
                if 200 <= status_code < 300:
                    outcome = "succeeded"
                elif status_code == 410:
                    outcome, error = "disabled", "410 Gone: the endpoint is disabled"
                else:
                    error = f"HTTP {status_code}" + (
                        " (redirects are not followed)" if 300 <= status_code < 400 else ""
                    )
        except _Permanent as exc:
            outcome, error = "failed", str(exc)
        except FetchError as exc:
            outcome = "failed" if exc.code == "url_forbidden" else "retry"
            error = exc.detail
        except (TimeoutError, httpx.TimeoutException):
            error = f"timed out after {self.settings.webhook_timeout_s:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]
        latency_ms = (time.perf_counter() - started) * 1000
        return await self._record(delivery, outcome, status_code, error, latency_ms)

    async def _endpoint_disabled(self, delivery: WebhookDelivery) -> bool:
        async with self.sessions() as session:
            found = await session.get(DisabledEndpoint, (delivery.owner_id, url_hash(delivery.url)))
        return found is not None

    async def _send(self, client: httpx.AsyncClient, delivery: WebhookDelivery) -> int:
        if delivery.event_type.startswith("pipeline."):
            pipeline, steps = await self.tasks.get_pipeline(delivery.task_id, None)
            data: Any = await present_pipeline(pipeline, steps, self.sign)
        else:
            data = await present_task(await self.tasks.get(delivery.task_id, None), self.sign)
        secrets = await self.secrets(delivery.owner_id)
        if not secrets:
            raise _Permanent("no webhook signing secret for this owner")
        timestamp = int(time.time())
        body = msgspec.json.encode(
            {
                "type": delivery.event_type,
                "timestamp": utcnow().isoformat().replace("+00:00", "Z"),
                "data": data,
            }
        )
        target, ip = await check_target(
            delivery.url, self.settings.webhook_allow_cidrs, self.settings.webhook_allow_ports
        )
        headers = {
            "Host": target.netloc.decode("ascii"),
            "User-Agent": _USER_AGENT,
            "Content-Type": "application/json",
            "webhook-id": delivery.msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets, delivery.msg_id, timestamp, body),
        }
        # Connect to the checked address, not the name, so a second DNS answer cannot redirect us.
        extensions = {"sni_hostname": target.raw_host.decode("ascii")} if target.scheme == "https" else {}
        # Timed alone: the attempt's HTTP round trip, not the task read, signing or DNS check before it.
        with WEBHOOK_DELIVERY_SECONDS.time():
            async with client.stream(
                "POST",
                target.copy_with(host=str(ip), fragment=None),
                content=body,
                headers=headers,
                extensions=extensions,
            ) as response:
                await _drain(response)
        return response.status_code

    async def _record(
        self, delivery: WebhookDelivery, outcome: str, status_code: int | None, error: str | None, latency_ms: float
    ) -> str:
        now = utcnow()
        delays = self.settings.webhook_retry_delays_s
        values: dict[str, Any] = {"last_status_code": status_code, "last_error": error, "updated_at": now}
        if outcome == "retry" and delivery.attempts > len(delays):
            outcome = "failed"
        if outcome == "retry":
            delay_s = delays[delivery.attempts - 1] * random.uniform(0.9, 1.1)
            values.update(status="pending", next_attempt_at=now + timedelta(seconds=delay_s))
        else:
            values.update(status=outcome)
        async with transaction(self.sessions) as session:
            session.add(
                WebhookAttempt(
                    delivery_id=delivery.id,
                    task_id=delivery.task_id,
                    attempt=delivery.attempts,
                    attempted_at=now,
                    status_code=status_code,
                    latency_ms=latency_ms,
                    error=error,
                )
            )
            await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery.id).values(**values))
            if outcome == "disabled" and status_code == 410:
                await session.execute(_disable(session.bind.dialect.name, delivery, now))
        WEBHOOK_DELIVERIES.labels(_OUTCOMES[values["status"]]).inc()
        log.info(
            "webhook_attempt",
            task_id=delivery.task_id,
            delivery_id=delivery.id,
            attempt=delivery.attempts,
            status_code=status_code,
            outcome=values["status"],
            ms=round(latency_ms, 1),
            error=error,
        )
        return str(values["status"])


async def _drain(response: httpx.Response) -> None:
    """Read the answer up to `_MAX_RESPONSE_BYTES`, raw (an encoded body is never inflated), then stop."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read >= _MAX_RESPONSE_BYTES:
            break  # leaving the stream closes the connection instead of reading the rest


def _fair_pick(due: Sequence[Any], limit: int, per_owner: int, busy: Mapping[str, int]) -> list[str]:
    """Ids of the oldest due rows, skipping owners that already have `per_owner` deliveries in flight."""
    taken = Counter(busy)
    chosen: list[str] = []
    for delivery_id, owner_id in due:
        if len(chosen) >= limit:
            break
        if taken[owner_id] < per_owner:
            taken[owner_id] += 1
            chosen.append(delivery_id)
    return chosen


class _Permanent(Exception):
    """A delivery that no retry can fix."""


def _new_delivery(task: Task | Pipeline, event: str, msg_id: str | None, now: Any) -> WebhookDelivery:
    return WebhookDelivery(
        id=str(uuid.uuid4()),
        msg_id=msg_id or f"msg_{uuid.uuid4().hex}",
        task_id=task.id,
        owner_id=task.owner_id,
        url=task.webhook_url,
        event_type=event,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )


def _disable(dialect: str, delivery: WebhookDelivery, now: Any) -> Any:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(DisabledEndpoint)
        .values(owner_id=delivery.owner_id, url_hash=url_hash(delivery.url), url=delivery.url, disabled_at=now)
        .on_conflict_do_nothing()
    )


class Dispatcher:
    """The background loop of a worker process: outbox, due deliveries, and the idempotency sweep."""

    def __init__(self, webhooks: WebhookService, idempotency: IdempotencyStore) -> None:
        self.webhooks = webhooks
        self.idempotency = idempotency
        self.settings = webhooks.settings
        self._task: asyncio.Task[None] | None = None
        self._last_purge = 0.0
        # Attempts being sent, each with its owner: the per-owner bound counts them.
        self._in_flight: dict[asyncio.Task[str], str] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _finished(self, attempt: asyncio.Task[str]) -> None:
        self._in_flight.pop(attempt, None)
        if not attempt.cancelled() and (exc := attempt.exception()) is not None:
            log.error("webhook_attempt_failed", error=f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS])

    async def _forever(self) -> None:
        # Redirects are failures (3xx), never followed; proxies from the environment are not used
        # because they would resolve the name themselves, past the SSRF check.
        async with httpx.AsyncClient(
            follow_redirects=False, trust_env=False, timeout=self.settings.webhook_timeout_s, verify=True
        ) as client:
            try:
                while True:
                    try:
                        await self.tick(client)
                    except Exception:
                        log.exception("webhook_dispatch_failed")
                    await asyncio.sleep(self.settings.webhook_poll_interval_s)
            finally:
                # Cut attempts short before their client closes; their leases expire and they are sent again.
                for attempt in list(self._in_flight):
                    attempt.cancel()
                await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def tick(self, client: httpx.AsyncClient) -> None:
        """Queue finished tasks and start the due deliveries that fit; never waits for an attempt."""
        await self.webhooks.queue_finished()
        free = self.settings.webhook_max_in_flight - len(self._in_flight)
        if free > 0:
            for delivery in await self.webhooks.claim_due(min(free, _CLAIM_BATCH), Counter(self._in_flight.values())):
                attempt = asyncio.create_task(self.webhooks.deliver(client, delivery))
                self._in_flight[attempt] = delivery.owner_id
                attempt.add_done_callback(self._finished)
        if time.monotonic() - self._last_purge > _PURGE_EVERY_S:
            self._last_purge = time.monotonic()
            if purged := await self.idempotency.purge():
                log.info("idempotency_purged", count=purged)
