"""`videoapi models`: the generation models of the registry, and fetching their weights."""

from __future__ import annotations

import click

from videoapi.cli.common import settings


@click.group()
def models() -> None:
    """Generation, speech-recognition and text-to-speech models: which are installed, and fetching their weights."""


@models.command("list")
@click.option(
    "--json", "as_json", is_flag=True, help="The listing of GET /v1/video/models, with local paths and install folders."
)
def models_list(as_json: bool) -> None:
    """Each model of the registry, the kinds it serves, and whether its weights are present here."""
    import msgspec

    from videoapi.generation.service import list_models

    listing = list_models(settings(), for_operator=True)
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(listing), indent=2).decode())
        return
    for m in listing.items:
        default = f"  (default {', '.join(m.default_for)})" if m.default_for else ""
        quantized = f"  (weights {m.quantize})" if m.quantize else ""
        click.echo(f"{m.name:<24} {m.status:<12} {','.join(m.kinds):<28} {m.source}{default}{quantized}")
        if m.install_hint:
            click.echo(f"{'':<24} install: {m.install_hint}")
    click.echo(f"classical styles (CPU, no model): {', '.join(listing.classical_styles)}")
    _list_asr()
    for v in listing.voices:
        click.echo(f"{v.name:<24} {v.status:<12} {'tts':<28} {v.source}  ({', '.join(v.languages)}; {v.licence})")
        if v.install_hint:
            click.echo(f"{'':<24} install: {v.install_hint}")
    _list_vision()


def _list_vision() -> None:
    from videoapi.generation.registry import load_registry
    from videoapi.vision import vision_install_hint, vision_weights

    registry = load_registry(settings())
    for name, spec in registry.vision.items():
        weights = vision_weights(settings(), spec)
        kinds = ",".join(spec.kinds)
        default = "".join(f"  (default {k})" for k in spec.kinds if registry.defaults.get(k) == name)
        licence = f"  ({spec.licence})" if spec.licence else ""
        click.echo(
            f"{name:<24} {'installed' if weights else 'missing':<12} {kinds:<28} {spec.source}{default}{licence}"
        )
        click.echo(f"{'':<24} {'weights: ' + str(weights) if weights else 'install: ' + vision_install_hint(spec)}")


def _list_asr() -> None:
    from videoapi.generation.registry import asr_install_hint, asr_weights, load_registry

    registry = load_registry(settings())
    for name, spec in registry.asr.items():
        weights = asr_weights(settings(), spec)
        default = "  (default asr)" if registry.defaults.get("asr") == name else ""
        click.echo(f"{name:<24} {'installed' if weights else 'missing':<12} {'asr':<28} {spec.source}{default}")
        click.echo(f"{'':<24} {'weights: ' + str(weights) if weights else 'install: ' + asr_install_hint(spec)}")


@models.command("download")
@click.argument("name")
def models_download(name: str) -> None:
    """Fetch NAME's weights from the Hugging Face Hub into generation.models_dir (needs a network).

    The Hub client shows its own progress bars (bytes and files) on stderr; set
    HF_HUB_DISABLE_PROGRESS_BARS=1 to hide them.
    """
    from videoapi.generation.weights import DownloadError, download_model

    try:
        path = download_model(settings(), name, echo=lambda line: click.echo(line, err=True))
    except DownloadError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(str(path))
