"""Request and response types of the generation endpoints; validated by msgspec before anything else runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from videoapi.assets.schemas import InputRef
from videoapi.media.encoding import Format, Quality
from videoapi.outputs.schemas import CommonOptions

PROMPT_MAX_CHARS = 2000
Prompt = Annotated[str, Meta(max_length=PROMPT_MAX_CHARS)]
Preset = Literal["240p", "360p", "480p", "512p", "576p", "720p", "1080p"]
AspectRatio = Literal["16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3"]
Seed = Annotated[int, Meta(ge=0, le=2**32 - 1)]
Steps = Annotated[int, Meta(ge=1, le=1000)]
Guidance = Annotated[float, Meta(ge=0, le=100)]
Strength = Annotated[float, Meta(ge=0, le=1)]
Dimension = Annotated[int, Meta(ge=16, le=4096, description="pixels; rounded to the model's size multiple")]
ModelName = Annotated[str, Meta(max_length=128)]
StyleName = Annotated[str, Meta(max_length=64)]


# (owner id, input) -> the text spoken in it; composition hands speech's transcription in.
VoicePrompt = Callable[[str, InputRef], Awaitable[str]]


class GenerationOptions(CommonOptions, forbid_unknown_fields=True, kw_only=True):
    """Options every generation request shares."""

    model: ModelName | None = None
    """Registry name (GET /v1/video/models); default: the registry's default model for the kind."""
    duration_s: Annotated[float, Meta(gt=0, le=120)] | None = None
    """With `fps`, the frame count: rounded up to a count the model can make (the result says so)."""
    fps: Annotated[float, Meta(gt=0, le=120)] | None = None
    num_frames: Annotated[int, Meta(ge=1, le=10000)] | None = None
    """Exact frame count instead of `duration_s`; also rounded up to a legal count."""
    resolution: Preset | None = None
    """Short side of the frame; with `aspect_ratio` mapped to the nearest size the model accepts."""
    aspect_ratio: AspectRatio | None = None
    width: Dimension | None = None
    height: Dimension | None = None
    seed: Seed | None = None
    """Same seed, model and parameters: same frames. Chosen at random (and reported) when absent."""
    steps: Steps | None = None
    """Denoising steps; default and maximum per model."""
    guidance_scale: Guidance | None = None
    negative_prompt: Prompt | None = None
    prompt_audio: InputRef | None = None
    """An audio or video input whose speech is transcribed (the default ASR model) into the prompt, after
    `prompt` when both are given, and screened like any prompt; at most `speech.max_prompt_audio_s` long."""
    format: Format = "mp4"
    quality: Quality = "medium"


class TextToVideoRequest(GenerationOptions, forbid_unknown_fields=True, kw_only=True):
    """Generate a video from a text prompt (or a spoken one, `prompt_audio`)."""

    prompt: Prompt = ""
    """Required unless `prompt_audio` is given."""
    style: StyleName | None = None
    """Prompt template (e.g. `cinematic`, `anime`); GET /v1/video/models lists each model's styles."""


class ImageToVideoRequest(GenerationOptions, forbid_unknown_fields=True, kw_only=True):
    """Animate a still image (the first frame of the result)."""

    image: InputRef
    prompt: Prompt = ""
    style: StyleName | None = None
    motion_strength: Strength | None = None
    """How much the picture moves (0..1); only for models with a motion control (Stable Video Diffusion)."""


class StyleTransferRequest(GenerationOptions, forbid_unknown_fields=True, kw_only=True):
    """Restyle a video: a classical CPU filter (cartoon, sketch, ...) or a diffusion model with a style prompt."""

    video: InputRef
    style: StyleName
    strength: Strength | None = None
    """Classical styles: mix of styled and original (default 1). Diffusion: how far from the input (model default)."""
    prompt: Prompt = ""
    """Diffusion styles: what the video shows, put into the style's prompt template."""


GenerationRequest = TextToVideoRequest | ImageToVideoRequest | StyleTransferRequest


class ModelOut(msgspec.Struct):
    name: str
    kinds: list[str]
    description: str
    hardware: str
    pipeline: str
    quantize: str | None
    """Weight quantization it loads with (`int8-weight-only`, `int8-dynamic`, `float8-weight-only`, on
    `quantize_components` or the denoiser), or null: the weights run in the model's dtype."""
    source: str
    """The Hugging Face repository, or `local folder` for weights kept on the server."""
    status: str
    """`installed`, `downloadable` (the worker fetches it on first use) or `missing` (requests are refused)."""
    install_hint: str | None
    frames: dict[str, object]
    size: dict[str, int]
    defaults: dict[str, float]
    styles: list[str]
    default_for: list[str]


class AsrModelOut(msgspec.Struct):
    """A speech-recognition model (`POST /v1/video/transcribe`, `/edit/captions`)."""

    name: str
    kinds: list[str]
    """`["asr"]`."""
    engine: str
    description: str
    hardware: str
    source: str
    """`package:<module>/<folder>` (shipped in a Python package), a Hugging Face repository, or `local folder`."""
    languages: list[str]
    """ISO 639-1 codes it transcribes; empty: every language Whisper knows."""
    installed: bool
    """Its weights are on this server (requests naming a model that is not are refused with 503)."""
    install_hint: str | None
    default_for: list[str]


class VoiceOut(msgspec.Struct):
    """A neural text-to-speech voice, usable as a narration's `voice`."""

    name: str
    engine: str
    languages: list[str]
    description: str
    licence: str
    """Licence of the weights; some (CC-BY-NC-4.0) forbid commercial use."""
    source: str
    """The Hugging Face repository, or `local folder` for weights kept on the server."""
    status: str
    """`installed` or `missing` (narrations with this voice are refused with 503 model_not_installed)."""
    install_hint: str | None


class VisionModelOut(msgspec.Struct):
    """A matting, segmentation or lip-sync model (`edit/background`, `edit/reframe`, `edit/lipsync`)."""

    name: str
    kinds: list[str]
    """`matting`, `segmentation` or `lipsync`."""
    architecture: str
    description: str
    hardware: str
    licence: str
    """Licence of the weights; Wav2Lip's are for research and non-commercial use only."""
    source: str
    """The Hugging Face repository, or `local folder` for weights kept on the server."""
    status: str
    """`installed` or `missing` (requests that need a missing model are refused with 503 model_not_installed)."""
    install_hint: str | None
    default_for: list[str]


class ModelList(msgspec.Struct):
    items: list[ModelOut]
    classical_styles: list[str]
    """Styles of `/generate/style-transfer` that run as ffmpeg filters on the CPU (no model needed)."""
    asr: list[AsrModelOut] = msgspec.field(default_factory=list)
    """Speech-recognition models (kind `asr`)."""
    voices: list[VoiceOut] = msgspec.field(default_factory=list)
    """Neural voices for narration (`kinds = ["tts"]`); espeak-ng voices (`espeak:<language>`) are always there."""
    vision: list[VisionModelOut] = msgspec.field(default_factory=list)
    """Matting, segmentation and lip-sync models."""
