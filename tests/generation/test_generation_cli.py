"""`videoapi models list` and `videoapi models download`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from videoapi.cli import main


@pytest.fixture
def env(tmp_path: Path, registry_file: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("VIDEOAPI_SERVER__VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("VIDEOAPI_GENERATION__MODELS_FILE", str(registry_file))
    return {}


def test_models_list_shows_each_model_and_whether_its_weights_are_present(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["models", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line and not line.startswith(" ")}
    assert "installed" in lines["tiny-ltx"] and "text-to-video" in lines["tiny-ltx"]
    assert "missing" in lines["absent-model"]
    assert "videoapi models download absent-model" in result.output
    assert "sketch" in result.output


def test_models_download_without_a_network_says_so_clearly(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Nothing listens on port 9: the Hub is unreachable, as on a machine without a network.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "2")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    result = CliRunner().invoke(main, ["models", "download", "absent-model"])
    assert result.exit_code == 1
    assert "could not download acme/absent-video-model for model absent-model" in result.output
    assert "Hugging Face Hub" in result.output and "Traceback" not in result.output


def test_models_download_of_an_unknown_model_lists_the_known_ones(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["models", "download", "nope"])
    assert result.exit_code == 1 and "unknown model 'nope'" in result.output and "tiny-ltx" in result.output
