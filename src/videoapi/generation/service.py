"""Generation submissions: pick the model, map the request onto it, refuse what cannot run, create the task."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.assets.service import AssetService
from videoapi.auth.principal import Principal
from videoapi.billing.service import BillingService
from videoapi.errors import InvalidRequest, ModelNotInstalled
from videoapi.generation.cache import install_hint, public_install_hint
from videoapi.generation.kinds import CPU_QUEUE, GPU_QUEUE, KIND_OF_TASK, TASK_KINDS
from videoapi.generation.plan import pick_model, plan_generation
from videoapi.generation.registry import Registry, asr_install_hint, asr_weights, availability, load_registry
from videoapi.generation.schemas import (
    PROMPT_MAX_CHARS,
    AsrModelOut,
    ImageToVideoRequest,
    ModelList,
    ModelOut,
    StyleTransferRequest,
    TextToVideoRequest,
    VisionModelOut,
    VoiceOut,
    VoicePrompt,
)
from videoapi.generation.styles import (
    CLASSICAL_PRICE,
    CLASSICAL_STYLES,
    CLASSICAL_TASK_KIND,
    check_classical,
    classical_output_size,
    is_classical,
    plan_classical,
)
from videoapi.media.probe import MediaInfo
from videoapi.media.voices import install_hint as voice_install_hint
from videoapi.media.voices import load_voices, voice_weights
from videoapi.moderation.policy import PolicyService
from videoapi.moderation.service import Moderation
from videoapi.outputs.schemas import destination_ids
from videoapi.outputs.step import OutputStep
from videoapi.settings import Settings
from videoapi.tasks.eta import queue_eta
from videoapi.tasks.schemas import EstimateOut
from videoapi.tasks.states import PRIORITIES
from videoapi.vision import vision_install_hint, vision_weights


def classical_estimate(billing: BillingService, req: StyleTransferRequest, media: MediaInfo) -> float:
    """Credits of a classical style on a probed input: the planned length at the size it outputs."""
    plan = plan_classical(req, media, Path("input0"), Path("output"))  # a 422 now rather than a failed task
    size = classical_output_size(req, media.video.width, media.video.height) if media.video else (None, None)
    return billing.estimate(CLASSICAL_TASK_KIND, plan.duration_s, *size, model=CLASSICAL_PRICE).credits


class GenerationService:
    """Generation submissions for the API: pick the model, map the request onto it, refuse what cannot run."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        assets: AssetService,
        policies: PolicyService,
        moderation: Moderation,
        billing: BillingService,
        step: OutputStep,
        voice_prompt: VoicePrompt | None = None,
    ) -> None:
        self.settings = settings
        self.voice_prompt = voice_prompt
        """Transcribes `prompt_audio`; None: the field is refused."""
        self.sessions = sessions
        self.assets = assets
        self.policies = policies
        self.moderation = moderation
        self.billing = billing
        self.step = step

    async def prepare(self, principal: Principal, kind: str, req: Any) -> dict[str, Any]:
        """Validate `req` and return the keyword arguments of `TaskService.create` for it.

        `kind` is a task kind (`generate.text_to_video`) or a registry kind (`text-to-video`).
        Diffusion requests go to the `gpu` queue with a `batch_key` naming what must match to share one
        pipeline call; classical styles go to the `cpu` queue. A model whose weights are not installed
        is refused here (503 `model_not_installed`), not discovered by a failed task later.
        """
        gen_kind = KIND_OF_TASK.get(kind) or kind
        if gen_kind not in TASK_KINDS:
            raise InvalidRequest(f"unknown generation kind {kind!r}", code="unknown_kind")
        settings = self.settings
        policy = await self.policies.get(principal.owner_id)
        # The prompt, the negative prompt and any text.
        self.moderation.screen(req, policy.moderation_rules)
        req = await self._with_spoken_prompt(principal, req, policy.moderation_rules)
        req = msgspec.structs.replace(
            req, watermark=await self.step.resolve_watermark(principal.owner_id, req.watermark, policy)
        )
        owner = principal.owner_id
        params = msgspec.to_builtins(req)
        params.pop("webhook_url", None)
        params.pop("priority", None)
        params.pop("destinations", None)
        common = {
            "owner_id": owner,
            "kind": TASK_KINDS[gen_kind],  # type: ignore[index]
            "priority": PRIORITIES[req.priority],
            "webhook_url": req.webhook_url,
            "destinations": destination_ids(req),
            "time_limit_s": None,
        }
        if isinstance(req, StyleTransferRequest) and is_classical(req.style):
            check_classical(req)
            media = await self.assets.check_input(owner, req.video)
            if media is not None:
                estimate = classical_estimate(self.billing, req, media)
            else:  # a URL input: the worker tops the reservation up to the real estimate once it has probed it
                size = (req.width or req.height, req.height or req.width)
                estimate = self.billing.estimate(
                    CLASSICAL_TASK_KIND, settings.billing.unprobed_reserve_s, *size, model=CLASSICAL_PRICE
                ).credits
            return {**common, "queue": CPU_QUEUE, "params": params, "batch_key": None, "estimate_credits": estimate}
        registry = load_registry(settings)
        spec = pick_model(registry, gen_kind, req.model)  # type: ignore[arg-type]
        if availability(settings, spec) == "missing":
            raise ModelNotInstalled.named(spec.name, public_install_hint(spec), "model")
        duration = None
        ref = getattr(req, "image", None) or getattr(req, "video", None)
        if ref is not None:
            media = await self.assets.check_input(owner, ref)
            field_name = "image" if isinstance(req, ImageToVideoRequest) else "video"
            if media is not None and media.video is None:
                raise InvalidRequest(f"`{field_name}` has no picture", code="input_not_video")
            if isinstance(req, StyleTransferRequest) and media is not None:
                if media.is_image:
                    raise InvalidRequest("`video` is a still image; use image-to-video", code="input_not_video")
                duration = media.duration_s
            unknown_length = media is None and isinstance(req, StyleTransferRequest)
        else:
            unknown_length = False
        seed = req.seed if req.seed is not None else secrets.randbelow(2**32)
        plan = plan_generation(registry, spec, gen_kind, req, seed, input_duration_s=duration)  # type: ignore[arg-type]
        params.update(seed=seed, model=spec.name)
        # A URL video's length (hence its frame count) is known only in the worker: it runs alone.
        batch_key = f"solo:{secrets.token_hex(8)}" if unknown_length else plan.batch_key
        seconds = plan.frames / plan.fps if not unknown_length else settings.billing.unprobed_reserve_s
        estimate = self.billing.estimate(TASK_KINDS[gen_kind], seconds, plan.width, plan.height, spec.name).credits
        return {**common, "queue": GPU_QUEUE, "params": params, "batch_key": batch_key, "estimate_credits": estimate}

    async def _with_spoken_prompt(self, principal: Principal, req: Any, rules: dict[str, Any] | None) -> Any:
        """`req` with the speech of `prompt_audio` added to its prompt (screened first, the error naming
        `prompt_audio`); a 422 naming `prompt` for a text-to-video request with neither."""
        if req.prompt_audio is None:
            if isinstance(req, TextToVideoRequest) and not req.prompt.strip():
                raise InvalidRequest(
                    "give a `prompt` or a `prompt_audio`",
                    code="invalid_request",
                    errors=[{"field": "prompt", "message": "required (or give prompt_audio)"}],
                )
            return req
        if self.voice_prompt is None:
            raise InvalidRequest(
                "this server does not transcribe prompt audio",
                code="unsupported_option",
                errors=[{"field": "prompt_audio", "message": "not supported here"}],
            )
        spoken = (await self.voice_prompt(principal.owner_id, req.prompt_audio)).strip()
        if not spoken:
            raise InvalidRequest(
                "no speech was heard in `prompt_audio`",
                code="invalid_request",
                errors=[{"field": "prompt_audio", "message": "no speech heard"}],
            )
        self.moderation.screen({}, rules, [("prompt_audio", spoken)])
        prompt = f"{req.prompt.strip()} {spoken}".strip()
        if len(prompt) > PROMPT_MAX_CHARS:
            raise InvalidRequest(
                f"the prompt with the transcribed speech is {len(prompt)} characters; the limit is {PROMPT_MAX_CHARS}",
                code="limit_exceeded",
                errors=[{"field": "prompt_audio", "message": f"prompt and speech over {PROMPT_MAX_CHARS} characters"}],
            )
        return msgspec.structs.replace(req, prompt=prompt)

    async def estimate(self, principal: Principal, kind: str, req: Any) -> EstimateOut:
        """What submitting `req` would do, without creating anything (same validation as a create)."""
        prepared = await self.prepare(principal, kind, req)
        eta = await queue_eta(self.sessions, prepared["queue"], prepared["kind"], prepared["priority"])
        solo = (prepared.get("batch_key") or "").startswith("solo:")  # a URL video: its length is not known yet
        return EstimateOut(
            kind=prepared["kind"],
            valid=True,
            output_seconds=None if solo else prepared["params"].get("duration_s"),
            estimate_credits=prepared["estimate_credits"],
            queue=prepared["queue"],
            tasks_ahead=eta.ahead,
            eta_s=eta.eta_s,
        )


def list_models(settings: Settings, registry: Registry | None = None, *, for_operator: bool = False) -> ModelList:
    """The registry's models; `for_operator` (the CLI) keeps local sources and install paths, which
    API callers never see."""
    registry = registry or load_registry(settings)
    items = []
    for name, spec in registry.models.items():
        c = spec.constraints
        status = availability(settings, spec)
        items.append(
            ModelOut(
                name=name,
                kinds=list(spec.kinds),
                description=spec.description,
                hardware=spec.hardware,
                pipeline=spec.pipeline,
                quantize=spec.quantize,
                source="local folder" if spec.is_local and not for_operator else spec.source,
                status=status,
                install_hint=None
                if status == "installed"
                else install_hint(spec, settings)
                if for_operator
                else public_install_hint(spec),
                frames={"rule": c.frames_rule, "min": c.min_frames, "max": c.max_frames, "default": c.default_frames},
                size={
                    "multiple": c.size_multiple,
                    "default_width": c.default_width,
                    "default_height": c.default_height,
                    "max_width": c.max_width,
                    "max_height": c.max_height,
                },
                defaults={
                    "fps": c.default_fps,
                    "steps": c.default_steps,
                    "max_steps": c.max_steps,
                    "guidance_scale": c.default_guidance,
                },
                styles=sorted(registry.styles_for(spec)),
                default_for=[k for k, v in registry.defaults.items() if v == name],
            )
        )
    asr = []
    for name, asr_spec in registry.asr.items():
        installed = asr_weights(settings, asr_spec) is not None
        asr.append(
            AsrModelOut(
                name=name,
                kinds=list(asr_spec.kinds),
                engine=asr_spec.engine,
                description=asr_spec.description,
                hardware=asr_spec.hardware,
                source="local folder" if asr_spec.is_local and not for_operator else asr_spec.source,
                languages=list(asr_spec.languages),
                installed=installed,
                install_hint=None if installed else asr_install_hint(asr_spec),
                default_for=[k for k, v in registry.defaults.items() if v == name],
            )
        )
    return ModelList(
        items=items,
        classical_styles=sorted(CLASSICAL_STYLES),
        asr=asr,
        voices=_voices(settings, for_operator),
        vision=_vision(settings, registry, for_operator),
    )


def _vision(settings: Settings, registry: Registry, for_operator: bool) -> list[VisionModelOut]:
    out = []
    for name, spec in registry.vision.items():
        installed = vision_weights(settings, spec) is not None
        out.append(
            VisionModelOut(
                name=name,
                kinds=list(spec.kinds),
                architecture=spec.architecture,
                description=spec.description,
                hardware=spec.hardware,
                licence=spec.licence,
                source="local folder" if spec.is_local and not for_operator else spec.source,
                status="installed" if installed else "missing",
                install_hint=None if installed else vision_install_hint(spec),
                default_for=[k for k, v in registry.defaults.items() if v == name],
            )
        )
    return out


def _voices(settings: Settings, for_operator: bool) -> list[VoiceOut]:
    out = []
    for name, spec in load_voices(settings).items():
        installed = voice_weights(settings, spec) is not None
        out.append(
            VoiceOut(
                name=name,
                engine=spec.engine,
                languages=list(spec.languages),
                description=spec.description,
                licence=spec.licence,
                source="local folder" if spec.is_local and not for_operator else spec.source,
                status="installed" if installed else "missing",
                install_hint=None if installed else voice_install_hint(spec),
            )
        )
    return out
