"""The composition root: builds every service of a process and wires jobs and background loops.

Only `app.py`, `cli/` and the worker entry use this module. Everything below it receives the
collaborators it uses as arguments and imports no module above its layer (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dramatiq
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from videoapi.assets.retention import Retention
from videoapi.assets.service import AssetService
from videoapi.auth.principal import Principal
from videoapi.auth.service import KeyService
from videoapi.billing.service import BillingService
from videoapi.db.engine import make_engine, make_read_sessionmaker, make_sessionmaker
from videoapi.destinations.copier import Copier, Deliveries
from videoapi.destinations.crypto import CredentialBox
from videoapi.destinations.service import DestinationService
from videoapi.editing.jobs import EditJobs
from videoapi.editing.kinds import KINDS as EDIT_KINDS
from videoapi.editing.service import EditingService
from videoapi.gateway.batch import BatchKind, batch_kind_table
from videoapi.gateway.deps import provide_principal, provide_stream_principal
from videoapi.gateway.idempotency import IdempotencyStore
from videoapi.gateway.keycache import Revocations
from videoapi.gateway.service import Gateway
from videoapi.gateway.streamtokens import StreamTokens, derive_secret
from videoapi.gateway.webhooks import Dispatcher, WebhookService
from videoapi.generation.batch import GenerationRunner
from videoapi.generation.jobs import GenerationJobs
from videoapi.generation.kinds import KINDS as GENERATION_KINDS
from videoapi.generation.service import GenerationService
from videoapi.generation.styles import priced_model
from videoapi.media.hardware import usable_encoders
from videoapi.moderation.policy import PolicyService
from videoapi.moderation.service import Moderation
from videoapi.outputs.step import OutputStep
from videoapi.pipelines.service import PipelineService
from videoapi.provenance.service import Detector
from videoapi.provenance.watermark import WatermarkKey, watermark_key
from videoapi.queue.broker import make_publisher, publishes_in_memory
from videoapi.queue.jobs import JobSpec
from videoapi.queue.runtime import Background, Periodic, Runtime, WorkerLifecycle
from videoapi.settings import Settings
from videoapi.speech.captions import CAPTIONS
from videoapi.speech.engine import Transcriber
from videoapi.speech.jobs import SpeechJobs
from videoapi.speech.service import SpeechService
from videoapi.storage import load_signing_secret, make_store
from videoapi.storage.base import ObjectStore
from videoapi.tasks.events import EventHub, RedisChanges
from videoapi.tasks.publishing import BatchedPublisher
from videoapi.tasks.service import TaskService
from videoapi.tasks.streams import TaskStreams
from videoapi.tasks.views import TaskViewCache
from videoapi.templates.service import TemplateService


@dataclass
class Services:
    """Everything one process uses, built once. Only the composition root's users hold the whole of it."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    store: ObjectStore
    broker: dramatiq.Broker | None
    tasks: TaskService
    keys: KeyService
    assets: AssetService
    moderation: Moderation
    billing: BillingService
    policies: PolicyService
    retention: Retention
    step: OutputStep
    edits: EditingService
    templates: TemplateService
    pipelines: PipelineService
    generations: GenerationService
    speech: SpeechService
    webhooks: WebhookService
    destinations: DestinationService
    detector: Detector
    watermark: WatermarkKey
    events: EventHub
    streams: TaskStreams

    async def close(self) -> None:
        await self.tasks.flush_publishes()
        if self.tasks.cache is not None:
            await self.tasks.cache.close()
        await self.events.close()
        await self.keys.close()
        await self.store.close()
        await self.engine.dispose()


def credential_box_for(settings: Settings) -> CredentialBox:
    """Production refuses an empty key (settings.secret_problems); elsewhere the signing secret stands in."""
    return CredentialBox(
        settings.destinations.encryption_key or load_signing_secret(settings),
        settings.destinations.previous_encryption_keys,
    )


def watermark_key_for(settings: Settings) -> WatermarkKey:
    return watermark_key(settings.watermark.secret, load_signing_secret(settings))


async def build_services(settings: Settings, broker: dramatiq.Broker | None) -> Services:
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    store = make_store(settings)
    publish = make_publisher(broker) if broker is not None else None
    if publish is not None and not publishes_in_memory(broker):
        publish = BatchedPublisher(publish)  # a network round trip: off the event loop, batched
    assets = AssetService(sessions, store, settings)
    billing = BillingService(sessions, settings, storage=assets, price_model=priced_model)
    # One channel object per process: TaskService publishes on it, the hub (API) listens on it.
    changes = RedisChanges(settings.events_redis_url, settings.queue.namespace) if settings.events_redis_url else None
    tasks = TaskService(sessions, settings, publish, billing, events=changes)
    read_sessions = make_read_sessionmaker(engine)
    tasks.read_sessions = read_sessions
    if settings.tasks.read_cache:
        tasks.cache = TaskViewCache(
            settings.rate_limit_redis_url, settings.queue.namespace, settings.tasks.read_cache_ttl_s
        )
    hub = EventHub(settings.events, tasks.changes_since, changes)
    keys = KeyService(sessions, _revocations(settings))
    moderation = Moderation(settings)
    policies = PolicyService(sessions, read_sessions)
    step = OutputStep(settings, assets, policies)
    key = watermark_key_for(settings)
    edits = EditingService(settings, sessions, assets, policies, moderation, billing, step)
    templates = TemplateService(settings, sessions, policies, moderation, edits)
    speech = SpeechService(settings, sessions, assets, policies, moderation, billing, edits, Transcriber(settings))
    generations = GenerationService(
        settings, sessions, assets, policies, moderation, billing, step, voice_prompt=speech.prompt_text
    )
    destinations = DestinationService(settings.destinations, sessions, tasks, credential_box_for(settings))
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        store=store,
        broker=broker,
        tasks=tasks,
        keys=keys,
        assets=assets,
        moderation=moderation,
        billing=billing,
        policies=policies,
        retention=Retention(sessions, store, settings.retention),
        step=step,
        edits=edits,
        templates=templates,
        pipelines=PipelineService(tasks, destinations, edits, generations, speech, templates),
        generations=generations,
        speech=speech,
        webhooks=WebhookService(settings.gateway, sessions, tasks, keys, assets.sign),
        destinations=destinations,
        detector=Detector(sessions, assets, key, settings.watermark.detect_max_frames, settings.limits),
        watermark=key,
        events=hub,
        streams=TaskStreams(hub, tasks, assets.sign, settings.events),
    )


def _revocations(settings: Settings) -> Revocations | None:
    """Where revokes are announced to API processes that cache keys (only with the Redis rate limiter)."""
    if settings.gateway.rate_limit_backend != "redis":
        return None
    return Revocations(settings.rate_limit_redis_url, settings.queue.namespace)


# ---- workers ------------------------------------------------------------------------------


def job_table(services: Services) -> dict[str, JobSpec]:
    """Every job kind of every feature module, bound to its collaborators."""
    edits = EditJobs(services.settings, services.assets, services.step, services.billing)
    runner = GenerationRunner(services.settings, services.assets, services.step, services.watermark)
    generations = GenerationJobs(services.assets, services.step, runner, services.billing)
    # One Transcriber per process: in the embedded shape the API (prompt_audio) and the jobs share its models.
    speech = SpeechJobs(
        services.settings,
        services.assets,
        services.step,
        services.speech.transcriber,
        edits,
        services.moderation,
        services.policies,
    )
    return {spec.kind: spec for spec in [*edits.specs(), *generations.specs(), *speech.specs()]}


def background_loops(services: Services) -> list[Background]:
    """What a worker process runs beside its tasks: reconciler, retention, webhook and destination deliveries."""
    settings = services.settings

    async def purge() -> None:
        await services.retention.purge_expired(datetime.now(UTC))

    return [
        Periodic("reconcile", services.tasks.reconcile, settings.tasks.reconcile_interval_s),
        Periodic("purge", purge, settings.retention.interval_s),
        # Webhook deliveries (and the idempotency sweep) run wherever workers run.
        Dispatcher(services.webhooks, IdempotencyStore(services.sessions, settings.gateway)),
        Deliveries(
            Copier(
                settings.destinations, services.sessions, services.store, services.destinations.box, settings.work_dir
            )
        ),
    ]


def make_runtime(services: Services) -> Runtime:
    return Runtime(
        settings=services.settings,
        tasks=services.tasks,
        sessions=services.sessions,
        store=services.store,
        jobs=job_table(services),
        background=background_loops(services),
    )


def worker_lifecycle(settings: Settings, background: bool = True) -> WorkerLifecycle:
    """The middleware that gives a consuming broker its Runtime (worker processes and embedded workers)."""

    async def boot(broker: dramatiq.Broker) -> tuple[Runtime, Callable[[], Awaitable[None]]]:
        if settings.outputs.probe_hardware:
            # Which hardware encoders really encode here, once per process (`/metrics`, `encoder: auto`).
            await asyncio.to_thread(usable_encoders, settings.outputs.hardware_probe_timeout_s)
        services = await build_services(settings, broker)
        return make_runtime(services), services.close

    return WorkerLifecycle(settings, boot, background=background)


# ---- API ----------------------------------------------------------------------------------


def make_gateway(services: Services) -> Gateway:
    batch_kinds: dict[str, dict[str, BatchKind]] = {
        "edit": batch_kind_table(
            [
                BatchKind(s.path, s.kind, s.request_type, services.edits.prepare)
                for s in EDIT_KINDS.values()
                if s.group == "edit"
            ]
            + [
                BatchKind(
                    CAPTIONS.path,
                    CAPTIONS.kind,
                    CAPTIONS.request_type,
                    lambda principal, _kind, req: services.speech.prepare_captions(principal, req),
                )
            ]
        ),
        "generate": batch_kind_table(
            [BatchKind(s.path, s.kind, s.request_type, services.generations.prepare) for s in GENERATION_KINDS.values()]
        ),
    }
    settings = services.settings
    tokens = StreamTokens(
        derive_secret(settings.events.token_secret, load_signing_secret(settings)), settings.events.token_ttl_s
    )
    return Gateway(
        settings,
        services.sessions,
        services.tasks,
        services.keys,
        services.assets.sign,
        batch_kinds,
        stream_tokens=tokens,
        destinations=services.destinations,
    )


def _from_services(pick: Callable[[Services], Any]) -> Provide:
    # Taking `principal` makes Litestar authenticate first, alone, in the request's own context: the
    # owner it binds to the logs stays bound for the handler (a batch of dependencies resolves in
    # child tasks, whose context variables are lost), and no collaborator is reached unauthenticated.
    def provide(state: State, principal: NamedDependency[Principal]) -> Any:
        return pick(state.services)

    return Provide(provide, sync_to_thread=False)


def _task_streams(state: State, stream_principal: NamedDependency[Principal]) -> TaskStreams:
    # Like _from_services, after authentication; the event routes authenticate with `stream_principal`.
    streams: TaskStreams = state.services.streams
    return streams


def _gateway(state: State, principal: NamedDependency[Principal]) -> Gateway:
    gateway: Gateway = state.gateway
    return gateway


DEPENDENCIES: dict[str, Provide] = {
    "principal": Provide(provide_principal),
    "stream_principal": Provide(provide_stream_principal),
    "task_streams": Provide(_task_streams, sync_to_thread=False),
    "gateway": Provide(_gateway, sync_to_thread=False),
    "settings": _from_services(lambda s: s.settings),
    "task_service": _from_services(lambda s: s.tasks),
    "asset_service": _from_services(lambda s: s.assets),
    "billing_service": _from_services(lambda s: s.billing),
    "key_service": _from_services(lambda s: s.keys),
    "webhook_service": _from_services(lambda s: s.webhooks),
    "destination_service": _from_services(lambda s: s.destinations),
    "edits": _from_services(lambda s: s.edits),
    "template_service": _from_services(lambda s: s.templates),
    "pipeline_service": _from_services(lambda s: s.pipelines),
    "generations": _from_services(lambda s: s.generations),
    "speech": _from_services(lambda s: s.speech),
    # Not "detector": Litestar reports a body field that shares a dependency's name (analyze/scenes has
    # `detector`) as a failed dependency, a 500 instead of the client's 422.
    "watermark_detector": _from_services(lambda s: s.detector),
    "sign": _from_services(lambda s: s.assets.sign),
}
"""What route handlers receive by parameter name: the collaborators they use, never the whole bag."""
