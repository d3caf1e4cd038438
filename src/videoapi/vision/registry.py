"""Matting, segmentation and lip-sync models of `config/models.toml` (`[models.NAME]` tables with kinds
`matting`, `segmentation` or `lipsync`), read here so that the editing features need not import generation.

Weights load offline, like every model of the registry: `<generation.models_dir>/<name>` (what
`videoapi models download NAME` writes), a local `source` folder, or the Hugging Face cache. A
folder counts as installed when it holds a transformers `config.json` and weights (a Wav2Lip folder:
its weights file; a `config.json` with its widths is optional).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import msgspec

from videoapi.errors import InvalidRequest, ModelNotInstalled
from videoapi.media.voices import read_registry
from videoapi.settings import Settings, SettingsError

VisionKind = Literal["matting", "segmentation", "lipsync"]
VISION_KINDS: tuple[VisionKind, ...] = ("matting", "segmentation", "lipsync")
Architecture = Literal["semantic-segmentation", "sam2-video", "wav2lip"]
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
WAV2LIP_WEIGHT_FILES = ("model.safetensors", "wav2lip_gan.pth", "wav2lip.pth")
"""Weight files looked for in a Wav2Lip folder, in this order, when its registry table names none."""


class VisionSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A matting (people) or segmentation (prompted objects) model, loaded with transformers, or a lip-sync
    model (Wav2Lip, `vision.wav2lip`)."""

    kinds: list[VisionKind]
    architecture: Architecture
    """`semantic-segmentation`: any transformers `AutoModelForSemanticSegmentation` (Segformer, ...),
    whose `labels` classes are the foreground; `sam2-video`: transformers `Sam2VideoModel` (SAM 2);
    `wav2lip`: the Wav2Lip generator (`vision.wav2lip`), from an original checkpoint or safetensors."""
    source: str
    """Hub id (`org/name`, fetched by `videoapi models download`) or a local folder (config.json + weights)."""
    name: str = ""
    """Filled from the table key."""
    labels: list[str] = msgspec.field(default_factory=lambda: ["person"])
    """semantic-segmentation: class names (the model's `id2label`) that count as foreground."""
    input_size: int = 512
    """Long side in pixels of the frames the model sees (SAM 2 resizes them to its own square size)."""
    weights: str | None = None
    """wav2lip: the weights file inside the folder (`checkpoints/wav2lip_gan.pth`); `videoapi models
    download` fetches only it (and a config.json). None: the first of `model.safetensors`, `wav2lip_gan.pth`,
    `wav2lip.pth` there."""
    licence: str = ""
    """Licence of the weights, as listed by GET /v1/video/models (check it before use)."""
    description: str = ""
    hardware: str = ""
    revision: str | None = None
    device: Literal["auto", "cuda", "cpu"] | None = None
    """Where this model runs; None: `generation.device`."""

    @property
    def is_local(self) -> bool:
        return self.source.startswith(("/", "./", "../", "~"))


def is_vision_table(table: Any) -> bool:
    """Whether a `[models.NAME]` table describes a matting, segmentation or lip-sync model."""
    kinds = table.get("kinds") if isinstance(table, dict) else None
    return isinstance(kinds, list) and any(kind in VISION_KINDS for kind in kinds)


def load_vision_models(settings: Settings) -> tuple[dict[str, VisionSpec], dict[str, str]]:
    """(vision models by name, `[defaults]` for their kinds) of the registry file."""
    path = settings.models_file
    return _load(path, path.stat().st_mtime_ns if path.exists() else 0)


@lru_cache(maxsize=8)
def _load(path: Path, _mtime_ns: int) -> tuple[dict[str, VisionSpec], dict[str, str]]:
    return parse_vision_models(path, read_registry(path))


def parse_vision_models(path: Path, raw: dict[str, Any]) -> tuple[dict[str, VisionSpec], dict[str, str]]:
    """The vision tables of a parsed registry file, checked; local sources made absolute."""
    models: dict[str, VisionSpec] = {}
    for name, table in raw.get("models", {}).items():
        if not is_vision_table(table):
            continue
        try:
            spec = msgspec.convert({**table, "name": name}, VisionSpec)
        except msgspec.ValidationError as exc:
            raise SettingsError(f"model registry {path}, model {name!r}: {exc}") from exc
        if spec.is_local:
            source = Path(spec.source).expanduser()
            spec = msgspec.structs.replace(spec, source=str(source if source.is_absolute() else path.parent / source))
        models[name] = spec
    defaults = {k: v for k, v in raw.get("defaults", {}).items() if k in VISION_KINDS}
    for kind, name in defaults.items():
        if name not in models or kind not in models[name].kinds:
            raise SettingsError(f"model registry {path}: default {kind} model {name!r} is not a model of kind {kind}")
    return models, defaults


def pick_vision_model(settings: Settings, kind: VisionKind, field: str) -> VisionSpec:
    """`[defaults] <kind>`; 422 naming `field` when the server has none."""
    models, defaults = load_vision_models(settings)
    name = defaults.get(kind)
    if name is None:
        raise InvalidRequest(
            f"this server has no {kind} model: an operator names one in [defaults] {kind} of the model registry",
            code="unsupported_option",
            errors=[{"field": field, "message": f"no {kind} model is configured"}],
        )
    return models[name]


def vision_weights(settings: Settings, spec: VisionSpec) -> Path | None:
    """The folder holding the model's config.json and weights, or None when it is not installed."""
    if spec.is_local:
        return Path(spec.source) if _complete(Path(spec.source), spec) else None
    local = settings.models_dir / spec.name
    if _complete(local, spec):
        return local
    cached = _hub_cache_path(spec.source, spec.revision)
    return cached if cached is not None and _complete(cached, spec) else None


def vision_install_hint(spec: VisionSpec) -> str:
    if spec.is_local:
        what = "weights file" if spec.architecture == "wav2lip" else "transformers folder (config.json and weights)"
        return f"an operator must put its {what} in place"
    return f"run `videoapi models download {spec.name}` on the server"


def require_vision_weights(settings: Settings, spec: VisionSpec, field: str) -> Path:
    """The weights folder; 503 `model_not_installed` naming the download command."""
    weights = vision_weights(settings, spec)
    if weights is None:
        raise ModelNotInstalled.named(spec.name, vision_install_hint(spec), field)
    return weights


def weights_file(folder: Path, name: str | None) -> Path | None:
    """A Wav2Lip folder's weights: the file its table names, else the first of `WAV2LIP_WEIGHT_FILES` there."""
    for candidate in [name] if name else WAV2LIP_WEIGHT_FILES:
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def _complete(folder: Path, spec: VisionSpec) -> bool:
    if spec.architecture == "wav2lip":
        return weights_file(folder, spec.weights) is not None
    return (folder / "config.json").exists() and any((folder / name).exists() for name in WEIGHT_FILES)


def _hub_cache_path(repo_id: str, revision: str | None) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
