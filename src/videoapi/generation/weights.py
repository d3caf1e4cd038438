"""`videoapi models download`: fetch a model's weights (and its extra components) from the Hub."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from videoapi.generation.registry import AsrSpec, ModelSpec, VisionSpec, load_registry, weights_dir
from videoapi.media.voices import load_voices
from videoapi.settings import Settings


class DownloadError(Exception):
    """The download cannot start or did not finish; the message says why and what to do."""


def download_model(settings: Settings, name: str, echo: Callable[[str], None] = lambda _: None) -> Path:
    """Download `name` into `<models_dir>/<name>` (components under `_components/`); return that path."""
    from huggingface_hub import snapshot_download

    registry = load_registry(settings)
    spec = registry.models.get(name) or registry.asr.get(name) or registry.vision.get(name)
    spec = spec or load_voices(settings).get(name)
    if spec is None:
        known = ", ".join(sorted([*registry.models, *registry.asr, *registry.vision, *load_voices(settings)]))
        raise DownloadError(f"unknown model {name!r}; known: {known}")
    if isinstance(spec, AsrSpec) and spec.package is not None:
        raise DownloadError(f"model {name} ships in the Python package {spec.package[0]}; there is nothing to download")
    if spec.is_local:
        raise DownloadError(f"model {name} loads from the local folder {spec.source}; there is nothing to download")
    target = weights_dir(settings, spec)
    jobs = [(spec.source, spec.revision, target)]
    if isinstance(spec, ModelSpec):
        jobs += [(c.source, None, target / "_components" / n) for n, c in spec.components.items()]
    # A repository holding more than the model (a Wav2Lip mirror with its face detector): only its files.
    only = [spec.weights, "config.json"] if isinstance(spec, VisionSpec) and spec.weights else None
    for repo_id, revision, dest in jobs:
        echo(f"downloading {repo_id} into {dest} ...")
        try:
            snapshot_download(repo_id, revision=revision, local_dir=dest, allow_patterns=only)
        except Exception as exc:  # network, auth (gated models), disk: all end the command with the reason
            raise DownloadError(
                f"could not download {repo_id} for model {name}: {type(exc).__name__}: {str(exc)[:300]}. "
                "This needs access to the Hugging Face Hub (check the network, HF_ENDPOINT, and HF_TOKEN for "
                "gated models), or copy the weights into "
                f"{dest} by other means."
            ) from exc
    echo(f"model {name} installed in {target}")
    return target
