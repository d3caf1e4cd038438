"""A transcription naming a model whose weights are not installed is refused before a task exists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.app import assert_problem, running_app


def test_a_model_not_installed_is_a_503_naming_the_download_command(
    make_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty Hugging Face cache
    models = tmp_path / "models.toml"
    models.write_text(
        '[defaults]\nasr = "whisper-small"\n\n'
        '[models.whisper-small]\nkinds = ["asr"]\nsource = "Systran/faster-whisper-small"\n',
        encoding="utf-8",
    )
    settings = make_settings(**{"generation.models_file": str(models), "generation.models_dir": str(tmp_path / "w")})
    with running_app(settings) as app:
        resp = app.post("/v1/video/transcribe", json={"input": {"url": "https://media.example.com/a.mp4"}})
    problem = assert_problem(resp, 503, "model_not_installed")
    assert "videoapi models download whisper-small" in problem["detail"]


def test_the_model_listing_shows_asr_models_with_their_kind_and_whether_installed(
    make_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty Hugging Face cache: whisper-small is absent
    settings = make_settings(**{"generation.models_dir": str(tmp_path / "w")})
    with running_app(settings) as app:
        body = app.get("/v1/video/models").json()
    asr = {m["name"]: m for m in body["asr"]}
    tiny, small = asr["whisper-tiny.en"], asr["whisper-small"]
    assert tiny["kinds"] == ["asr"] and tiny["installed"] is True and tiny["install_hint"] is None
    assert tiny["languages"] == ["en"] and tiny["default_for"] == ["asr"]
    assert small["installed"] is False and "videoapi models download whisper-small" in small["install_hint"]
    assert small["languages"] == []
