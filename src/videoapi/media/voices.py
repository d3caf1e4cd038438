"""Neural text-to-speech voices of the model registry: `[models.NAME]` tables with `kinds = ["tts"]`.

A voice is a VITS checkpoint in the Hugging Face transformers layout (config.json, model.safetensors,
vocab.json), run by `transformers.VitsModel` in a subprocess (`python -m videoapi.media.synthesize`) that
writes a WAV file the ffmpeg pass then reads. It lives here, below both `editing` (narration) and
`generation` (the registry, `videoapi models`), because both need it. Weights are found offline only:
a local `source` folder or `<generation.models_dir>/<name>` (what `videoapi models download` writes).
"""

from __future__ import annotations

import json
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import msgspec

from videoapi.errors import ModelNotInstalled
from videoapi.settings import Settings, SettingsError

TTS_KIND = "tts"
# Files every VITS voice folder holds (the tokenizer's alphabet is vocab.json).
_REQUIRED = ("config.json", "vocab.json")
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


class TtsSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A neural voice (`kinds = ["tts"]`): a VITS checkpoint in the transformers layout."""

    kinds: list[Literal["tts"]]
    source: str
    """A hub id (`org/name`, fetched by `videoapi models download`) or a local folder holding config.json."""
    name: str = ""
    """Filled from the table key."""
    engine: Literal["vits"] = "vits"
    description: str = ""
    hardware: str = ""
    licence: str = ""
    """Licence of the weights (e.g. CC-BY-NC-4.0 forbids commercial use); shown by GET /v1/video/models."""
    revision: str | None = None
    languages: list[str] = msgspec.field(default_factory=list)
    """ISO 639-1 codes the voice speaks."""
    text: Literal["plain", "pinyin"] = "plain"
    """What the model reads: `plain` text (its tokenizer lower-cases it), or `pinyin` with tone marks
    (hanzi converted by pypinyin, whose dictionary ships in its wheel)."""
    speaker_id: int | None = None
    """Speaker of a multi-speaker checkpoint; None: its first (or only) speaker."""

    @property
    def is_local(self) -> bool:
        return self.source.startswith(("/", "./", "../", "~"))


def split_tts_tables(raw: dict[str, Any]) -> dict[str, Any]:
    """Remove the `kinds = ["tts"]` tables from a parsed registry's `models`; return them by name."""
    models = raw.get("models")
    if not isinstance(models, dict):
        return {}
    found = {}
    for name, table in list(models.items()):
        if isinstance(table, dict) and isinstance(table.get("kinds"), list) and TTS_KIND in table["kinds"]:
            found[name] = {**models.pop(name), "name": name}
    return found


def load_voices(settings: Settings) -> dict[str, TtsSpec]:
    """The neural voices of the registry (`generation.models_file`), by name; read once per file version."""
    path = settings.models_file
    return _load(path, path.stat().st_mtime_ns if path.exists() else 0)


def read_registry(path: Path) -> dict[str, Any]:
    """The registry file as TOML tables; SettingsError when it is absent or not TOML."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(f"model registry {path} does not exist (generation.models_file)") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"model registry {path} is not valid TOML: {exc}") from exc


@lru_cache(maxsize=8)
def _load(path: Path, _mtime_ns: int) -> dict[str, TtsSpec]:
    voices = {}
    for name, table in split_tts_tables(read_registry(path)).items():
        try:
            spec = msgspec.convert(table, TtsSpec)
        except msgspec.ValidationError as exc:
            raise SettingsError(f"model registry {path}, tts model {name!r}: {exc}") from exc
        if spec.is_local:
            source = Path(spec.source).expanduser()
            spec = msgspec.structs.replace(spec, source=str(source if source.is_absolute() else path.parent / source))
        voices[name] = spec
    return voices


def voice_weights(settings: Settings, spec: TtsSpec) -> Path | None:
    """The folder holding the voice's checkpoint, or None when it is not installed (nothing is downloaded)."""
    folder = Path(spec.source) if spec.is_local else settings.models_dir / spec.name
    complete = all((folder / f).is_file() for f in _REQUIRED) and any((folder / f).is_file() for f in _WEIGHTS)
    return folder if complete else None


def install_hint(spec: TtsSpec) -> str:
    """How a voice gets installed, for API callers and task errors: no server path."""
    if spec.is_local:
        return "an operator must put its checkpoint folder (config.json, vocab.json, model.safetensors) in place"
    return f"run `videoapi models download {spec.name}` on the server"


def require_voice(settings: Settings, spec: TtsSpec, field: str) -> Path:
    """The voice's checkpoint folder; 503 `model_not_installed` naming how to install it."""
    weights = voice_weights(settings, spec)
    if weights is None:
        raise ModelNotInstalled.named(spec.name, install_hint(spec), field, what="voice")
    return weights


def alphabet(weights: Path) -> frozenset[str]:
    """The characters the voice's tokenizer knows (its vocab.json); others are dropped before synthesis."""
    return _alphabet(weights / "vocab.json")


@lru_cache(maxsize=16)
def _alphabet(vocab: Path) -> frozenset[str]:
    return frozenset(json.loads(vocab.read_text(encoding="utf-8")))
