"""create_app(settings): routes, dependencies, error mapping and the process lifecycle."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import dramatiq
from litestar import Litestar, MediaType, Request, Response, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from videoapi import __version__
from videoapi.assets.api import ROUTES as ASSET_ROUTES
from videoapi.billing.api import ROUTES as BILLING_ROUTES
from videoapi.composition import DEPENDENCIES, Services, build_services, make_gateway, worker_lifecycle
from videoapi.console import console_routes
from videoapi.destinations.api import ROUTES as DESTINATION_ROUTES
from videoapi.editing.api import ROUTES as EDIT_ROUTES
from videoapi.errors import ServiceUnavailable, Unauthorized
from videoapi.gateway.admin import ROUTES as ADMIN_ROUTES
from videoapi.gateway.api import ROUTES as GATEWAY_ROUTES
from videoapi.gateway.deps import add_rate_limit_headers
from videoapi.generation.api import ROUTES as GENERATION_ROUTES
from videoapi.mcp import mcp_mount
from videoapi.observability.collectors import install_collectors
from videoapi.observability.logging import configure_logging, get_logger
from videoapi.observability.metrics import REGISTRY
from videoapi.observability.metrics_server import serve_metrics
from videoapi.pipelines.api import ROUTES as PIPELINE_ROUTES
from videoapi.provenance.api import ROUTES as PROVENANCE_ROUTES
from videoapi.queue.broker import make_broker
from videoapi.queue.names import QUEUES
from videoapi.settings import Settings, load_settings
from videoapi.speech.api import ROUTES as SPEECH_ROUTES
from videoapi.storage import load_signing_secret
from videoapi.storage.api import download_file, stream_file
from videoapi.tasks.api import ROUTES as TASK_ROUTES
from videoapi.tasks.stats import queue_snapshot, set_task_table_gauges
from videoapi.templates.api import ROUTES as TEMPLATE_ROUTES
from videoapi.web import EXCEPTION_HANDLERS, RequestContextMiddleware

log = get_logger(__name__)
JSON_BODY_LIMIT_BYTES = 1024 * 1024


@get("/health", summary="Liveness: the process answers", tags=["ops"], include_in_schema=True)
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", summary="Readiness: database, broker and store answer", tags=["ops"])
async def ready(state: State) -> Response[dict[str, Any]]:
    services: Services = state.services
    checks: dict[str, str] = {}

    async def check(name: str, probe: Any) -> None:
        try:
            await asyncio.wait_for(probe(), timeout=5)
            checks[name] = "ok"
        except Exception as exc:
            # The reason goes to the log: its text names hosts, paths and versions a caller must not see.
            log.warning("ready_check_failed", component=name, error=f"{type(exc).__name__}: {exc}"[:300])
            checks[name] = "fail"

    async def db() -> None:
        async with services.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def broker() -> None:
        await asyncio.to_thread(_check_broker, services.broker, state.get("worker"))

    await check("database", db)
    await check("broker", broker)
    await check("store", services.store.check)
    ok = all(v == "ok" for v in checks.values())
    return Response({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)


def _check_broker(broker: dramatiq.Broker | None, worker: dramatiq.Worker | None) -> None:
    if broker is None:
        raise ServiceUnavailable("no broker configured")
    client = getattr(broker, "client", None)
    if client is not None:  # Redis
        client.ping()
    elif hasattr(broker, "connection"):  # RabbitMQ: opens (or reuses) this thread's connection
        if not broker.connection.is_open:
            raise ServiceUnavailable("RabbitMQ connection is closed")
    elif worker is None:
        raise ServiceUnavailable("the in-process broker has no embedded worker")


@get("/metrics", summary="Prometheus metrics", tags=["ops"], media_type=MediaType.TEXT)
async def metrics(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    token: str = state.metrics_token
    if token:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise Unauthorized("/metrics needs the metrics bearer token (metrics.token)")
    await refresh_task_gauges(state.services)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def refresh_task_gauges(services: Services) -> None:
    """Re-read the task-table gauges: only the API exports them (workers expose their own counters)."""
    set_task_table_gauges(await queue_snapshot(services.tasks.read_sessions, QUEUES))


@asynccontextmanager
async def metrics_listener(settings: Settings, services: Services) -> AsyncIterator[None]:
    """Serve /metrics on `metrics.listen` (if set) for the `with` block, its task gauges re-read every `refresh_s`."""
    address = settings.metrics.listen_address
    if address is None:
        yield
        return

    async def refresh_forever() -> None:
        while True:
            try:
                await refresh_task_gauges(services)
            except Exception as exc:  # a failed reading keeps the last one; the next may succeed
                log.warning("metrics_refresh_failed", error=f"{type(exc).__name__}: {exc}"[:300])
            await asyncio.sleep(settings.metrics.refresh_s)

    await refresh_task_gauges(services)
    server = serve_metrics(address[0], address[1], REGISTRY, settings.metrics.token)
    refresher = asyncio.create_task(refresh_forever())
    log.info("metrics_listening", address=settings.metrics.listen)
    try:
        yield
    finally:
        refresher.cancel()
        await asyncio.to_thread(server.shutdown)
        server.server_close()


def _media_origins(settings: Settings) -> list[str]:
    """Where output URLs point besides this origin: the S3 endpoint clients see, for the console's player."""
    if settings.storage.backend != "s3":
        return []
    scheme = "https" if settings.storage.s3_secure else "http"
    return [f"{scheme}://{settings.storage.s3_public_endpoint or settings.storage.s3_endpoint}"]


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()
    configure_logging(settings)
    mcp_endpoint, mcp_sessions = mcp_mount()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        install_collectors(settings)
        worker = None
        if settings.server.embedded_workers:
            broker = make_broker(settings, extra_middleware=[worker_lifecycle(settings)])
            worker = dramatiq.Worker(
                broker,
                queues=set(QUEUES),
                worker_threads=settings.server.worker_threads,
                worker_timeout=settings.server.worker_idle_poll_ms,
            )
            await asyncio.to_thread(worker.start)
        else:
            broker = make_broker(settings)
        services = await build_services(settings, broker)
        services.moderation.rules  # noqa: B018 - load the rules now: a broken rules file stops start-up
        services.billing.prices  # noqa: B018 - and the price sheet
        app.state.gateway = make_gateway(services)
        app.state.services = services
        app.state.store = services.store
        app.state.signing_secret = load_signing_secret(settings)
        app.state.worker = worker
        app.state.metrics_token = settings.metrics.token
        if worker is not None:
            # The in-process broker forgets its messages on restart; the task table does not.
            await services.tasks.republish_ready(QUEUES)
        log.info("api_started", broker=settings.queue.broker, embedded_workers=worker is not None)
        try:
            async with metrics_listener(settings, services), mcp_sessions():
                yield
        finally:
            if worker is not None:
                await asyncio.to_thread(worker.stop)
            await asyncio.to_thread(broker.close)
            await app.state.gateway.close()
            await services.close()

    return Litestar(
        route_handlers=[
            health,
            ready,
            # On a separate listener, /metrics leaves the API port.
            *([] if settings.metrics.listen else [metrics]),
            download_file,
            stream_file,
            *ASSET_ROUTES,
            *TASK_ROUTES,
            *EDIT_ROUTES,
            *TEMPLATE_ROUTES,
            *PIPELINE_ROUTES,
            *GENERATION_ROUTES,
            *SPEECH_ROUTES,
            *PROVENANCE_ROUTES,
            *BILLING_ROUTES,
            *GATEWAY_ROUTES,
            *ADMIN_ROUTES,
            *DESTINATION_ROUTES,
            *console_routes(_media_origins(settings)),
            mcp_endpoint,  # an ASGI mount: not in the OpenAPI document (docs/mcp.md)
        ],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[RequestContextMiddleware],
        before_send=[add_rate_limit_headers],
        lifespan=[lifespan],
        request_max_body_size=JSON_BODY_LIMIT_BYTES,
        openapi_config=OpenAPIConfig(
            title="videoapi",
            version=__version__,
            description="Self-hosted video generation and editing API. Send `Authorization: Bearer <api key or JWT>`.",
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", description="API key or JWT")}
            ),
            security=[{"bearer": []}],
            path="/schema",
        ),
        debug=False,
        logging_config=None,  # structlog owns logging (configure_logging)
    )
