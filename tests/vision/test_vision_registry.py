"""Matting and segmentation models in the registry: read apart from the generation models, listed and
downloaded by the same CLI, installed only when their folder holds a config and weights."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from videoapi.cli import main
from videoapi.generation.registry import load_registry
from videoapi.settings import SettingsError, load_settings
from videoapi.vision import load_vision_models, vision_weights

REPO = Path(__file__).resolve().parents[2]

VISION = """
[defaults]
matting = "people"
[models.people]
kinds = ["matting"]
architecture = "semantic-segmentation"
source = "org/people-segmenter"
labels = ["person", "rider"]
[models.local-sam]
kinds = ["segmentation"]
architecture = "sam2-video"
source = "./sam"
"""


def settings_for(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "models.toml"
    path.write_text(text)
    return load_settings(
        environ={"VIDEOAPI_GENERATION__MODELS_FILE": str(path), "VIDEOAPI_SERVER__VAR_DIR": str(tmp_path / "var")}
    )


def test_the_shipped_registry_names_a_matting_and_a_segmentation_default() -> None:
    settings = load_settings(environ={"VIDEOAPI_GENERATION__MODELS_FILE": str(REPO / "config" / "models.toml")})
    models, defaults = load_vision_models(settings)
    assert models[defaults["matting"]].architecture == "semantic-segmentation"
    assert models[defaults["segmentation"]].architecture == "sam2-video"
    registry = load_registry(settings)
    assert set(registry.vision) == set(models) and not set(registry.models) & set(models)


def test_vision_tables_are_split_off_and_local_sources_made_absolute(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, VISION)
    registry = load_registry(settings)
    assert set(registry.vision) == {"people", "local-sam"} and registry.models == {}
    assert registry.vision["people"].labels == ["person", "rider"]
    assert registry.vision["local-sam"].source == str(tmp_path / "sam")


def test_a_default_that_is_not_of_its_kind_is_a_settings_error(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, VISION.replace('matting = "people"', 'matting = "local-sam"'))
    with pytest.raises(SettingsError, match="default matting model 'local-sam' is not a model of kind matting"):
        load_vision_models(settings)


def test_an_unknown_architecture_is_a_settings_error(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, VISION.replace('"sam2-video"', '"yolo"'))
    with pytest.raises(SettingsError, match="local-sam"):
        load_vision_models(settings)


def test_a_folder_is_installed_only_with_config_and_weights(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, VISION)
    spec = load_vision_models(settings)[0]["local-sam"]
    (tmp_path / "sam").mkdir()
    (tmp_path / "sam" / "config.json").write_text("{}")
    assert vision_weights(settings, spec) is None
    (tmp_path / "sam" / "model.safetensors").write_bytes(b"")
    assert vision_weights(settings, spec) == tmp_path / "sam"


def test_models_list_and_download_know_vision_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "models.toml").write_text(VISION)
    monkeypatch.setenv("VIDEOAPI_SERVER__VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("VIDEOAPI_GENERATION__MODELS_FILE", str(tmp_path / "models.toml"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    listed = CliRunner().invoke(main, ["models", "list"])
    assert listed.exit_code == 0, listed.output
    line = next(line for line in listed.output.splitlines() if line.startswith("people "))
    assert "missing" in line and "matting" in line and "(default matting)" in line
    assert "videoapi models download people" in listed.output
    local = CliRunner().invoke(main, ["models", "download", "local-sam"])
    assert local.exit_code == 1 and "nothing to download" in local.output


def test_the_shipped_lipsync_default_is_the_original_wav2lip_checkpoint_with_its_licence() -> None:
    settings = load_settings(environ={"VIDEOAPI_GENERATION__MODELS_FILE": str(REPO / "config" / "models.toml")})
    models, defaults = load_vision_models(settings)
    spec = models[defaults["lipsync"]]
    assert spec.architecture == "wav2lip" and spec.weights == "checkpoints/wav2lip_gan.pth"
    assert "non-commercial" in spec.licence


def test_a_wav2lip_folder_is_installed_with_its_weights_file_alone(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        '[models.lips]\nkinds = ["lipsync"]\narchitecture = "wav2lip"\nsource = "./lips"\n'
        'weights = "checkpoints/wav2lip_gan.pth"\n',
    )
    spec = load_vision_models(settings)[0]["lips"]
    (tmp_path / "lips" / "checkpoints").mkdir(parents=True)
    (tmp_path / "lips" / "wav2lip.pth").write_bytes(b"")
    assert vision_weights(settings, spec) is None  # not the file the table names
    (tmp_path / "lips" / "checkpoints" / "wav2lip_gan.pth").write_bytes(b"")
    assert vision_weights(settings, spec) == tmp_path / "lips"  # no config.json needed: defaults are the original's


def test_downloading_a_wav2lip_model_fetches_only_its_weights_and_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    from videoapi.generation.weights import download_model

    settings = settings_for(
        tmp_path,
        '[models.lips]\nkinds = ["lipsync"]\narchitecture = "wav2lip"\nsource = "org/wav2lip-mirror"\n'
        'weights = "checkpoints/wav2lip_gan.pth"\n',
    )
    calls = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo, **kw: calls.append((repo, kw)))
    download_model(settings, "lips")
    assert calls == [
        (
            "org/wav2lip-mirror",
            {
                "revision": None,
                "local_dir": settings.models_dir / "lips",
                "allow_patterns": ["checkpoints/wav2lip_gan.pth", "config.json"],
            },
        )
    ]
