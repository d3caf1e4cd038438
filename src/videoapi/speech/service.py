"""Transcription submissions: the model, the language and the input's audio are checked before a task exists."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.assets.schemas import InputRef
from videoapi.assets.service import AssetService
from videoapi.auth.principal import Principal
from videoapi.billing.service import BillingService
from videoapi.editing.service import EditingService
from videoapi.errors import InvalidRequest, ModelNotInstalled
from videoapi.generation.registry import ASR_KIND, AsrSpec, Registry, asr_install_hint, asr_weights, load_registry
from videoapi.media.ffmpeg import run_ffmpeg
from videoapi.media.probe import MediaInfo
from videoapi.moderation.policy import PolicyService
from videoapi.moderation.service import Moderation
from videoapi.settings import Settings
from videoapi.speech.captions import CAPTIONS
from videoapi.speech.engine import SAMPLE_RATE, Options, Transcriber
from videoapi.speech.schemas import CaptionsRequest, TranscribeRequest
from videoapi.tasks.eta import queue_eta
from videoapi.tasks.schemas import EstimateOut
from videoapi.tasks.states import PRIORITIES

KIND = "speech.transcribe"
QUEUE = "cpu"


def pick_asr_model(registry: Registry, name: str | None) -> AsrSpec:
    """The named ASR model, or `[defaults] asr`; 422 for an unknown name or a model of another kind."""
    if name is None:
        name = registry.defaults.get(ASR_KIND)
        if name is None:
            raise InvalidRequest(
                "no default asr model is configured; name one in `model`",
                code="model_required",
                errors=[{"field": "model", "message": "required: this server has no default ASR model"}],
            )
    spec = registry.asr.get(name)
    if spec is not None:
        return spec
    if name in registry.models:
        raise InvalidRequest(
            f"model {name!r} does not do speech recognition; it does {', '.join(registry.models[name].kinds)}",
            code="model_kind_mismatch",
            errors=[{"field": "model", "message": f"{name} is not an asr model"}],
        )
    known = ", ".join(sorted(registry.asr)) or "none"
    raise InvalidRequest(
        f"unknown model {name!r}; ASR models: {known}",
        code="unknown_model",
        errors=[{"field": "model", "message": f"one of: {known}"}],
    )


def require_weights(settings: Settings, spec: AsrSpec) -> Path:
    """The folder of `spec`'s weights; 503 `model_not_installed` naming how to install it."""
    weights = asr_weights(settings, spec)
    if weights is None:
        raise ModelNotInstalled.named(spec.name, asr_install_hint(spec), "model")
    return weights


def decoding_language(spec: AsrSpec, language: str) -> str | None:
    """The language to decode in (None: detect it); 422 `unsupported_option` for one the model cannot do."""
    if spec.languages:
        if language == "auto" and len(spec.languages) == 1:
            return spec.languages[0]
        if language != "auto" and language not in spec.languages:
            raise InvalidRequest(
                f"model {spec.name} transcribes {', '.join(spec.languages)} only; "
                "choose a multilingual model (`videoapi models list`) for other languages",
                code="unsupported_option",
                errors=[{"field": "language", "message": f"{spec.name} supports: {', '.join(spec.languages)}"}],
            )
    if language == "auto":
        return None
    if language not in WHISPER_LANGUAGES:
        raise InvalidRequest(
            f"Whisper does not know the language {language!r}",
            code="unsupported_option",
            errors=[{"field": "language", "message": "`auto` or an ISO 639-1 code Whisper knows (en, zh, de, ...)"}],
        )
    return language


# The language codes of Whisper's tokenizer (faster_whisper.tokenizer._LANGUAGE_CODES; a test keeps them
# equal). Kept here so that the API process checks a request without importing faster-whisper, which
# pulls in CTranslate2, ONNX Runtime and PyAV (seconds on the first request).
WHISPER_LANGUAGES = frozenset(
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw he hi hr ht hu "
    "hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt my ne nl nn no oc pa pl ps pt ro "
    "ru sa sd si sk sl sn so sq sr su sv sw ta te tg th tk tl tr tt uk ur uz vi yi yo zh yue".split()
)


def extract_audio_args(source: Path, wav: Path) -> list[str]:
    """ffmpeg arguments writing the first audio stream of `source` as 16 kHz mono 16-bit WAV (what Whisper reads)."""
    return ["-i", str(source), "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", str(SAMPLE_RATE),
            "-c:a", "pcm_s16le", "-f", "wav", str(wav)]  # fmt: skip


def require_audio(media: MediaInfo, field: str = "input") -> None:
    if media.audio is None:
        raise InvalidRequest(
            f"`{field}` has no audio stream: there is no speech to transcribe",
            code="input_no_audio",
            errors=[{"field": field, "message": "has no audio stream"}],
        )


@dataclass
class SpeechService:
    """Transcription and captions submissions for the API; the worker side is `speech.jobs`."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    assets: AssetService
    policies: PolicyService
    moderation: Moderation
    billing: BillingService
    edits: EditingService
    transcriber: Transcriber
    """For `prompt_audio` of generation requests, transcribed at submission (the model loads on first use)."""

    async def prepare(self, principal: Principal, req: TranscribeRequest) -> dict[str, Any]:
        """Validate `req` and return the keyword arguments of `TaskService.create` for it."""
        settings = self.settings
        policy = await self.policies.get(principal.owner_id)
        hints = [("initial_prompt", req.initial_prompt)] if req.initial_prompt else []
        self.moderation.screen(req, policy.moderation_rules, hints)
        spec = pick_asr_model(load_registry(settings), req.model)
        decoding_language(spec, req.language)
        require_weights(settings, spec)
        media = await self.assets.check_input(principal.owner_id, req.input)
        if media is not None:
            require_audio(media)
            seconds = media.duration_s
            time_limit: float | None = settings.time_limit_for(KIND) + settings.speech.time_limit_per_audio_s * seconds
        else:
            # A URL input is probed by the worker: reserve for the longest input it may be.
            seconds = settings.billing.unprobed_reserve_s
            time_limit = None
        params = msgspec.to_builtins(req)
        params.pop("webhook_url", None)
        params.pop("priority", None)
        params["model"] = spec.name
        return {
            "owner_id": principal.owner_id,
            "kind": KIND,
            "queue": QUEUE,
            "params": params,
            "priority": PRIORITIES[req.priority],
            "webhook_url": req.webhook_url,
            "time_limit_s": time_limit,
            "estimate_credits": self.billing.estimate(KIND, seconds, None, None).credits,
        }

    async def estimate(self, principal: Principal, req: TranscribeRequest) -> EstimateOut:
        """What submitting `req` would do, without creating anything (same validation as a create)."""
        prepared = await self.prepare(principal, req)
        eta = await queue_eta(self.sessions, prepared["queue"], KIND, prepared["priority"])
        return EstimateOut(
            kind=KIND,
            valid=True,
            output_seconds=None,
            estimate_credits=prepared["estimate_credits"],
            queue=prepared["queue"],
            tasks_ahead=eta.ahead,
            eta_s=eta.eta_s,
        )

    async def prepare_captions(self, principal: Principal, req: CaptionsRequest) -> dict[str, Any]:
        """Validate a captions request and return the keyword arguments of `TaskService.create` for it."""
        return (await self._prepare_captions(principal, req))[0]

    async def _prepare_captions(
        self, principal: Principal, req: CaptionsRequest
    ) -> tuple[dict[str, Any], float | None]:
        """The edit's checks (moderation, watermark, style, limits, the pass planned on the probe), plus the
        model, the language and the input's audio when the request is transcribed (no `segments`)."""
        spec = None
        if req.segments is None:
            spec = pick_asr_model(load_registry(self.settings), req.model)
            decoding_language(spec, req.language)
            require_weights(self.settings, spec)
            media = await self.assets.check_input(principal.owner_id, req.input)
            if media is not None:
                require_audio(media)
        kwargs, seconds = await self.edits.prepare_kind(principal, CAPTIONS, req)
        if spec is not None:
            kwargs["params"]["model"] = spec.name
            if kwargs["time_limit_s"] is not None and seconds is not None:
                kwargs["time_limit_s"] += self.settings.speech.time_limit_per_audio_s * seconds
        return kwargs, seconds

    async def estimate_captions(self, principal: Principal, req: CaptionsRequest) -> EstimateOut:
        """What submitting a captions request would do, without creating anything."""
        return await self.edits.estimate_prepared(CAPTIONS.kind, *await self._prepare_captions(principal, req))

    async def prompt_text(self, owner_id: str, ref: InputRef) -> str:
        """The speech of a generation request's `prompt_audio`, transcribed now with the default ASR model (a
        short clip: at most `speech.max_prompt_audio_s`), so that the prompt is screened before a task exists."""
        spec = pick_asr_model(load_registry(self.settings), None)
        weights = require_weights(self.settings, spec)
        limit_s = self.settings.speech.max_prompt_audio_s
        with tempfile.TemporaryDirectory(prefix="prompt-audio-") as folder:
            local = await self.assets.resolve_input(owner_id, ref, Path(folder))
            require_audio(local.media, "prompt_audio")
            if local.media.duration_s > limit_s:
                raise InvalidRequest(
                    f"prompt_audio lasts {local.media.duration_s:.1f} s; the limit is {limit_s:g} s "
                    "(speech.max_prompt_audio_s)",
                    code="limit_exceeded",
                    errors=[{"field": "prompt_audio", "message": f"at most {limit_s:g} s"}],
                )
            wav = Path(folder) / "audio.wav"
            await run_ffmpeg(extract_audio_args(local.path, wav), duration_s=local.media.duration_s, timeout_s=limit_s)
            model = await asyncio.to_thread(self.transcriber.model, spec, weights)
            language = decoding_language(spec, "auto")
            transcript = await asyncio.to_thread(self.transcriber.transcribe, model, wav, Options(language))
        return transcript.text
