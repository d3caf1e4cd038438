"""Routes: batches of creates, each task's webhook delivery log with redelivery, the caller's signing secret."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Body, FromPath

from videoapi.auth.principal import CurrentPrincipal
from videoapi.gateway.batch import BatchRequest, prepare_batch
from videoapi.gateway.service import BatchOut, Gateway, submit
from videoapi.gateway.webhooks import DeliveryOut, WebhookService

BatchJson = Annotated[BatchRequest, Body(media_type="application/json")]


class WebhookLog(msgspec.Struct):
    items: list[DeliveryOut]
    """Deliveries of the task's events, oldest first, each with every attempt."""


class WebhookSecrets(msgspec.Struct):
    secrets: list[str]
    """Every `whsec_...` secret that signs the caller's webhooks now, newest first; accept any of them."""


@post(
    "/v1/video/batch/edit",
    status_code=202,
    summary="Many edit requests in one call: all validated first, created together, ids in order",
    tags=["batch"],
    opt={"scope": "edit"},
)
async def batch_edit(
    data: BatchJson, principal: CurrentPrincipal, gateway: NamedDependency[Gateway], request: Request
) -> Response[BatchOut]:
    async def prepare() -> Any:
        table = gateway.batch_kinds["edit"]
        return await prepare_batch(table, gateway.settings.gateway.max_batch_items, principal, data)

    return await submit(request, principal, prepare, batch=True)


@post(
    "/v1/video/batch/generate",
    status_code=202,
    summary="Many generation requests in one call: all validated first, created together, ids in order",
    tags=["batch"],
    opt={"scope": "generate"},
)
async def batch_generate(
    data: BatchJson, principal: CurrentPrincipal, gateway: NamedDependency[Gateway], request: Request
) -> Response[BatchOut]:
    async def prepare() -> Any:
        table = gateway.batch_kinds["generate"]
        return await prepare_batch(table, gateway.settings.gateway.max_batch_items, principal, data)

    return await submit(request, principal, prepare, batch=True)


@get(
    "/v1/video/tasks/{task_id:str}/webhooks",
    summary="The task's webhook deliveries: every attempt with time, status code, latency and error",
    tags=["tasks"],
)
async def task_webhooks(
    task_id: FromPath[str], principal: CurrentPrincipal, webhook_service: NamedDependency[WebhookService]
) -> WebhookLog:
    return WebhookLog(await webhook_service.list_for_task(task_id, principal.owner_id))


@post(
    "/v1/video/tasks/{task_id:str}/webhooks/redeliver",
    status_code=202,
    summary="Send the finished task's webhook again (same webhook-id); re-enables an endpoint that answered 410",
    tags=["tasks"],
)
async def redeliver_webhook(
    task_id: FromPath[str], principal: CurrentPrincipal, webhook_service: NamedDependency[WebhookService]
) -> DeliveryOut:
    return await webhook_service.redeliver(task_id, principal.owner_id)


@get(
    "/v1/video/webhooks/secret",
    summary="The secrets that sign the caller's webhooks: an API key's own, or a JWT subject's derived one",
    tags=["tasks"],
)
async def webhook_secret(
    principal: CurrentPrincipal, webhook_service: NamedDependency[WebhookService]
) -> WebhookSecrets:
    return WebhookSecrets(await webhook_service.secrets_for_caller(principal.owner_id))


class StreamToken(msgspec.Struct):
    token: str
    """Pass it as `?token=` to `GET /v1/video/events` or `GET /v1/video/tasks/{id}/events`; nothing else takes it."""
    expires_at: datetime
    expires_in_s: int


@post(
    "/v1/video/events/token",
    status_code=200,
    summary="A short-lived signed token that opens the caller's event streams from a browser's EventSource",
    tags=["tasks"],
    opt={"scope": "read"},
)
async def stream_token(principal: CurrentPrincipal, gateway: NamedDependency[Gateway]) -> StreamToken:
    token, expires = gateway.stream_tokens.issue(principal)
    return StreamToken(token, datetime.fromtimestamp(expires, UTC), int(gateway.stream_tokens.ttl_s))


ROUTES = [batch_edit, batch_generate, task_webhooks, redeliver_webhook, webhook_secret, stream_token]
