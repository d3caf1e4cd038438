"""Neural narration voices (`kinds = ["tts"]`): a tiny random-weight VITS built from a config, saved, and
loaded back by the real loader, narrates an `edit/audio` request over HTTP; the output is measured.

Random weights say nothing intelligible: these tests prove the plumbing (registry, weights lookup, the
synthesis process, resampling and mixing, errors), not how the real voices sound.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import msgspec
import numpy as np
import pytest

from tests.support.app import Api, assert_problem, running_app
from tests.support.media import make_video
from tests.support.voices import SAMPLE_RATE, make_tiny_voice
from videoapi.editing import tts
from videoapi.errors import InvalidRequest, ModelNotInstalled
from videoapi.media.synthesize import frontend, sentences, synthesize
from videoapi.settings import Settings, load_settings

pytestmark = pytest.mark.ffmpeg

REGISTRY = Path(__file__).parents[2] / "config" / "models.toml"
TEXT = "hello world. this is a test."
START_S = 0.5
VIDEO_S = 3.0


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("voices")
    models_dir = root / "models"
    make_tiny_voice(models_dir / "tiny-voice")  # where `videoapi models download tiny-voice` would put it
    registry = root / "models.toml"
    registry.write_text(
        REGISTRY.read_text(encoding="utf-8")
        + '\n[models.tiny-voice]\nkinds = ["tts"]\nsource = "example/tiny-voice"\nlanguages = ["en"]\n'
        + 'licence = "test"\n'
        + '\n[models.absent-voice]\nkinds = ["tts"]\nsource = "example/absent-voice"\nlanguages = ["en"]\n',
        encoding="utf-8",
    )
    return {
        "VIDEOAPI_SERVER__VAR_DIR": str(root / "var"),
        "VIDEOAPI_SERVER__ENVIRONMENT": "test",
        "VIDEOAPI_SERVER__PUBLIC_URL": "http://testserver.local",
        "VIDEOAPI_GATEWAY__DEFAULT_RATE_PER_S": "1000",
        "VIDEOAPI_GENERATION__MODELS_FILE": str(registry),
        "VIDEOAPI_GENERATION__MODELS_DIR": str(models_dir),
    }


@pytest.fixture(scope="module")
def settings(env: dict[str, str]) -> Settings:
    return load_settings(environ=env)


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[Api]:
    with running_app(settings) as api:
        yield api


@pytest.fixture(scope="module")
def video(api: Api, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = make_video(
        tmp_path_factory.mktemp("voice-media") / "v.mp4", duration_s=VIDEO_S, width=160, height=120, audio=False
    )
    return api.upload(path)["id"]


def narrate(video: str, **narration: Any) -> dict[str, Any]:
    return {"input": {"asset_id": video}, "narration": [{"text": TEXT, "start_s": START_S, **narration}]}


def audio_of(path: Path) -> tuple[np.ndarray, float]:
    """(mono samples, container duration) of a file's first audio stream."""
    with av.open(str(path)) as c:
        assert c.streams.audio, "the output has no audio stream"
        frames = [f.to_ndarray().reshape(f.layout.nb_channels, -1).astype(np.float64) for f in c.decode(audio=0)]
        return np.concatenate(frames, axis=1).mean(axis=0), c.duration / 1e6


def audible_span_s(audio: np.ndarray, rate: int, floor_db: float = -50.0) -> tuple[float, float]:
    """First and last instant (10 ms windows) where the level is above `floor_db`."""
    hop = rate // 100
    windows = audio[: len(audio) // hop * hop].reshape(-1, hop)
    loud = np.flatnonzero(20 * np.log10(np.sqrt(np.mean(windows**2, axis=1)) + 1e-12) > floor_db)
    assert loud.size, "the audio is silent"
    return loud[0] / 100, (loud[-1] + 1) / 100


def test_a_registry_voice_narrates_for_as_long_as_the_model_speaks(
    api: Api, video: str, settings: Settings, tmp_path: Path
) -> None:
    # What the model itself says for this text, loaded through the same loader the worker uses.
    speech, rate = synthesize(
        settings.models_dir / "tiny-voice", TEXT, mode="plain", speaking_rate=1.0, speaker_id=None, threads=1
    )
    spoken_s = len(speech) / rate
    assert rate == SAMPLE_RATE and 0.3 < spoken_s < VIDEO_S - START_S

    resp = api.post("/v1/video/edit/audio", json=narrate(video, voice="tiny-voice"))
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"])
    assert task["status"] == "succeeded", task
    audio, duration_s = audio_of(api.download(task["result"]["url"], tmp_path / "out.mp4"))

    assert abs(duration_s - VIDEO_S) < 0.05  # the output keeps the video's length
    start_s, end_s = audible_span_s(audio, 48000)
    assert abs(start_s - START_S) <= 0.05
    # Resampled from 16 to 48 kHz and mixed: heard for as long as the model spoke (the random voice may
    # be quiet at its very edges, hence the margin).
    assert abs((end_s - start_s) - spoken_s) <= 0.1, (start_s, end_s, spoken_s)
    assert 20 * np.log10(np.sqrt(np.mean(audio[int(start_s * 48000) : int(end_s * 48000)] ** 2))) > -30


def test_a_voice_whose_weights_are_absent_is_a_503_naming_the_download_command(api: Api, video: str) -> None:
    resp = api.post("/v1/video/edit/audio", json=narrate(video, voice="absent-voice"))
    body = assert_problem(resp, 503, "model_not_installed")
    assert "videoapi models download absent-voice" in body["detail"]
    assert body["errors"][0]["field"] == "narration[0].voice"


def test_an_unknown_voice_is_a_422_naming_the_field_and_the_neural_voices(api: Api, video: str) -> None:
    body = assert_problem(api.post("/v1/video/edit/audio", json=narrate(video, voice="nobody")), 422, "unknown_voice")
    assert body["errors"][0]["field"] == "narration[0].voice"
    assert "tiny-voice" in body["detail"]


def test_the_models_listing_shows_the_voices_and_whether_they_are_installed(api: Api) -> None:
    resp = api.get("/v1/video/models")
    assert resp.status_code == 200, resp.text
    voices = {v["name"]: v for v in resp.json()["voices"]}
    assert voices["tiny-voice"]["status"] == "installed" and voices["tiny-voice"]["install_hint"] is None
    assert voices["absent-voice"]["status"] == "missing"
    assert "videoapi models download absent-voice" in voices["absent-voice"]["install_hint"]
    assert {"mms-eng", "vits-cmn"} <= voices.keys()


def test_espeak_stays_the_default_and_the_espeak_prefix_names_it(settings: Settings) -> None:
    # No voice: espeak-ng's `en`, as before neural voices existed.
    assert tts.pick_voice(None, None, None, "narration[0]", settings) == tts.resolve_voice("en", None, "narration[0]")
    assert tts.pick_voice("espeak:en-us", "f3", None, "narration[0]", settings) == "en-us+f3"
    picked = tts.pick_voice("tiny-voice", None, None, "narration[0]", settings)
    assert isinstance(picked, tts.NeuralVoice) and picked.weights == settings.models_dir / "tiny-voice"


def test_espeak_only_options_are_refused_on_a_neural_voice(settings: Settings) -> None:
    with pytest.raises(InvalidRequest) as exc:
        tts.pick_voice("tiny-voice", None, 60, "narration[1]", settings)
    assert exc.value.errors[0]["field"] == "narration[1].pitch"


def test_text_outside_the_voices_alphabet_is_a_422_on_the_text(settings: Settings) -> None:
    with pytest.raises(InvalidRequest) as exc:
        tts.check_narration("你好世界", "tiny-voice", None, None, "narration[0]", settings)
    assert exc.value.code == "invalid_text" and exc.value.errors[0]["field"] == "narration[0].text"


def test_a_missing_voice_fails_the_worker_plan_too(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ModelNotInstalled):
        tts.plan_narration(
            TEXT, voice="absent-voice", variant=None, rate_wpm=None, pitch=None,
            field="narration[0]", settings=settings, out_dir=tmp_path, name="n0",
        )  # fmt: skip


def test_the_neural_plan_reads_the_text_from_a_file_at_the_requested_pace(settings: Settings, tmp_path: Path) -> None:
    speech = tts.plan_narration(
        "--out /etc/passwd", voice="tiny-voice", variant=None, rate_wpm=350, pitch=None,
        field="narration[0]", settings=settings, out_dir=tmp_path, name="n0",
    )  # fmt: skip
    assert speech.text == "--out /etc/passwd" and speech.job is not None
    assert (speech.job.text_file, speech.job.out) == (str(tmp_path / "n0.txt"), str(tmp_path / "n0.wav"))
    assert speech.job.speaking_rate == 2
    manifest, content, argv = tts.synthesis_command([speech.job], tmp_path, settings)
    assert "/etc/passwd" not in " ".join(argv) and argv[argv.index("--manifest") + 1] == str(manifest)
    assert "/etc/passwd" not in content  # the manifest names the text file, not the text


def test_hanzi_become_tone_marked_pinyin_and_sentences_split_at_cjk_stops() -> None:
    assert frontend("你好。", "pinyin") == "níhǎo."
    assert frontend("Hello", "plain") == "Hello"
    assert sentences("你好。世界！\nOne. Two") == ["你好。", "世界！", "One.", "Two"]


def test_doctor_and_models_download_know_the_voices(settings: Settings) -> None:
    from videoapi.generation.weights import DownloadError, download_model
    from videoapi.ops.doctor import check_models

    checks = {c.name: c for c in check_models(settings)}
    assert checks["tts voice tiny-voice"].status == "ok"
    absent = checks["tts voice absent-voice"]
    assert absent.status == "info" and absent.fix == "run `videoapi models download absent-voice` on the server"
    with pytest.raises(DownloadError, match="tiny-voice"):
        download_model(settings, "nobody")


def test_every_neural_narration_of_a_request_is_spoken_by_one_process_after_espeak(
    settings: Settings, tmp_path: Path
) -> None:
    from videoapi.editing.audio import AudioRequest, plan_audio
    from videoapi.editing.kinds import Source
    from videoapi.media.probe import MediaInfo, VideoInfo

    vid = VideoInfo(codec="h264", width=160, height=120, fps=25.0, rotation=0, pix_fmt="yuv420p", bit_depth=8)
    media = MediaInfo(
        format_name="mov,mp4", duration_s=10.0, size_bytes=1000, bit_rate=None, video=vid, audio=None, is_image=False
    )
    texts = [("one.", "tiny-voice"), ("two.", "espeak:en"), ("three.", "tiny-voice")]
    req = msgspec.convert(
        {
            "input": {"asset_id": "v"},
            "narration": [{"text": t, "voice": v, "start_s": i} for i, (t, v) in enumerate(texts)],
        },
        AudioRequest,
    )
    plan = plan_audio(req, [Source(tmp_path / "v.mp4", media)], tmp_path, settings)
    assert len(plan.before) == 2 and plan.before[0][0].endswith("espeak-ng")
    manifest = msgspec.json.decode(plan.files[tmp_path / "narrations.json"])
    assert [Path(j["out"]).name for j in manifest] == ["narration0.wav", "narration2.wav"]
    # Each narration's WAV is an input of the one ffmpeg pass, resampled to 48 kHz there.
    for name in ("narration0.wav", "narration1.wav", "narration2.wav"):
        assert str(tmp_path / name) in plan.args


def test_models_list_on_the_cli_shows_the_voices(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from videoapi.cli import main

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, ["models", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line and not line.startswith(" ")}
    assert "installed" in lines["tiny-voice"] and "tts" in lines["tiny-voice"]
    assert "missing" in lines["mms-eng"] and "CC-BY-NC-4.0" in lines["mms-eng"]
    assert "videoapi models download vits-cmn" in result.output
