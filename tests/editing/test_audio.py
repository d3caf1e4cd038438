"""`edit/audio` over HTTP on real media: music, ducking, narration and loudness, measured on the outputs.

Speech is stood in for by a 1 kHz tone where levels are measured, so that the music (440 Hz) can be
read apart from it in the spectrum of the mix; real espeak-ng speech is checked for presence and length.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.support.app import Api, assert_problem, running_app
from tests.support.media import ffmpeg, make_audio, make_video
from videoapi.editing import audio
from videoapi.media.ffmpeg import FFMPEG
from videoapi.settings import load_settings

pytestmark = pytest.mark.ffmpeg

FPS = 25
FRAME_S = 1 / FPS
MAX_TEXT_CHARS = 300
MUSIC_HZ = 440
SPEECH_HZ = 1000


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One embedded app for the module (SQLite, local store, worker threads); tasks here are short."""
    var = tmp_path_factory.mktemp("audio-app") / "var"
    settings = load_settings(
        environ={
            "VIDEOAPI_SERVER__VAR_DIR": str(var),
            "VIDEOAPI_SERVER__ENVIRONMENT": "test",
            "VIDEOAPI_SERVER__PUBLIC_URL": "http://testserver.local",
            "VIDEOAPI_EDITING__MAX_TEXT_CHARS": str(MAX_TEXT_CHARS),
            # One key makes every request of the module; the per-key rate limit is not what is tested here.
            "VIDEOAPI_GATEWAY__DEFAULT_RATE_PER_S": "1000",
        }
    )
    with running_app(settings) as api:
        yield api


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("audio-media")
    speech = d / "speech.wav"  # 1 s of silence, 1 s of a 1 kHz tone at -18 dBFS peak, 1 s of silence
    ffmpeg(
        "-f", "lavfi", "-i", f"sine=frequency={SPEECH_HZ}:sample_rate=48000:duration=1",
        "-af", "adelay=1000:all=1,apad=whole_dur=3", "-c:a", "pcm_s16le", str(speech),
    )  # fmt: skip
    return {
        "silent": make_video(d / "silent.mp4", duration_s=3.0, fps=FPS, audio=False),
        "silent_10s": make_video(d / "silent10.mp4", duration_s=10.0, fps=FPS, audio=False),
        "silent_webm": make_video(d / "silent.webm", duration_s=2.0, fps=FPS, audio=False),
        "music": make_audio(d / "music.wav", duration_s=1.3),  # 440 Hz; shorter than the videos: it loops
        "speech": speech,
    }


@pytest.fixture(scope="module")
def assets(api: Api, media: dict[str, Path]) -> dict[str, str]:
    return {name: api.upload(path)["id"] for name, path in media.items()}


def run(api: Api, body: dict[str, Any], dest: Path) -> tuple[dict[str, Any], Path]:
    resp = api.post("/v1/video/edit/audio", json=body)
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"])
    assert task["status"] == "succeeded", task
    return task["result"], api.download(task["result"]["url"], dest)


def streams(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        out = {
            "duration": c.duration / 1e6,
            "vcodec": v.codec_context.name,
            "acodec": a.codec_context.name,
            "sample_rate": a.codec_context.sample_rate,
            "channels": a.codec_context.layout.nb_channels,
        }
        # Stream lengths from the packets themselves (WebM has no per-stream duration in its header).
        ends: dict[str, float] = {"video": 0.0, "audio": 0.0}
        frames = 0
        for packet in c.demux(v, a):
            if packet.pts is None:
                continue
            kind = packet.stream.type
            ends[kind] = max(ends[kind], float((packet.pts + packet.duration) * packet.time_base))
            frames += kind == "video"
        return {**out, "video_duration": ends["video"], "audio_duration": ends["audio"], "frames": frames}


def samples(path: Path) -> np.ndarray:
    """The decoded audio, downmixed to mono, at 48 kHz."""
    with av.open(str(path)) as c:
        chunks = [f.to_ndarray().reshape(f.layout.nb_channels, -1).astype(np.float64) for f in c.decode(audio=0)]
    return np.concatenate(chunks, axis=1).mean(axis=0)


def tone_db(audio: np.ndarray, start_s: float, end_s: float, hz: float) -> float:
    """Level of one frequency in a window of the audio, in dB (Hann-windowed FFT, peak around `hz`)."""
    window = audio[int(start_s * 48000) : int(end_s * 48000)]
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    bin_hz = 48000 / len(window)
    lo, hi = int((hz - 15) / bin_hz), int((hz + 15) / bin_hz) + 1
    return float(20 * np.log10(spectrum[lo:hi].max() / len(window) + 1e-12))


def rms_db(audio: np.ndarray, start_s: float, end_s: float) -> float:
    window = audio[int(start_s * 48000) : int(end_s * 48000)]
    return float(20 * np.log10(np.sqrt(np.mean(window**2)) + 1e-12))


def integrated_lufs(path: Path) -> float:
    proc = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a:0", "-af", "ebur128", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    summary = proc.stderr.rsplit("Summary:", 1)[1]
    return float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))  # type: ignore[union-attr]


def assert_video_length(out: dict[str, Any], video_s: float) -> None:
    assert abs(out["duration"] - video_s) <= FRAME_S, out
    assert abs(out["video_duration"] - video_s) <= FRAME_S, out
    assert abs(out["audio_duration"] - video_s) <= FRAME_S, out


# ---- outputs -----------------------------------------------------------------------------------------------


def test_music_loops_under_a_narrated_video_of_exactly_the_same_length(
    api: Api, assets: dict[str, str], tmp_path: Path
) -> None:
    body = {
        "input": {"asset_id": assets["silent"]},
        "music": {"input": {"asset_id": assets["music"]}, "volume": 0.5, "fade_in_s": 0.2, "fade_out_s": 0.5},
        "narration": [{"text": "Welcome to the demo.", "voice": "en-us", "start_s": 0.5}],
    }
    result, path = run(api, body, tmp_path / "out.mp4")
    out = streams(path)
    assert_video_length(out, 3.0)
    assert out["frames"] == 75  # the video is copied frame for frame
    assert (out["vcodec"], out["acodec"], out["sample_rate"], out["channels"]) == ("h264", "aac", 48000, 2)
    assert result["audio_codec"] == "aac"
    audio = samples(path)
    # The 1.3 s tune plays again after its end (it loops), and fades out at the end of the video.
    assert tone_db(audio, 1.5, 2.2, MUSIC_HZ) > -40
    assert tone_db(audio, 2.95, 3.0, MUSIC_HZ) < tone_db(audio, 1.5, 2.2, MUSIC_HZ) - 10
    # Before the narration starts there is only the music; after it, the voice is there too.
    assert rms_db(audio, 0.6, 1.2) > rms_db(audio, 0.25, 0.45) + 1


def test_ducking_lowers_the_music_only_while_speech_plays(api: Api, assets: dict[str, str], tmp_path: Path) -> None:
    body: dict[str, Any] = {
        "input": {"asset_id": assets["silent"]},
        "music": {"input": {"asset_id": assets["music"]}},
        "narration": [{"input": {"asset_id": assets["speech"]}}],
    }
    _, plain = run(api, body, tmp_path / "plain.mp4")
    _, ducked = run(api, {**body, "ducking": True}, tmp_path / "ducked.mp4")
    plain_audio, ducked_audio = samples(plain), samples(ducked)
    speech_window, quiet_window = (1.3, 1.9), (0.2, 0.8)  # the tone plays 1..2 s

    # While the tone plays the music is lowered by several dB compared to the same mix without ducking ...
    lowered = tone_db(plain_audio, *speech_window, MUSIC_HZ) - tone_db(ducked_audio, *speech_window, MUSIC_HZ)
    assert lowered > 5, lowered
    # ... and before it, the music is untouched.
    untouched = tone_db(plain_audio, *quiet_window, MUSIC_HZ) - tone_db(ducked_audio, *quiet_window, MUSIC_HZ)
    assert abs(untouched) < 1, untouched
    # The speech itself is never lowered.
    speech = tone_db(plain_audio, *speech_window, SPEECH_HZ) - tone_db(ducked_audio, *speech_window, SPEECH_HZ)
    assert abs(speech) < 1, speech
    # After the speech the music comes back (release 400 ms) and lasts to the end.
    assert abs(tone_db(plain_audio, 2.6, 2.95, MUSIC_HZ) - tone_db(ducked_audio, 2.6, 2.95, MUSIC_HZ)) < 1
    assert_video_length(streams(ducked), 3.0)


def silent_from_s(audio: np.ndarray, block_s: float = 0.1) -> float | None:
    """Where digital silence starts and lasts to the end (every sample 0), or None when the end is audible."""
    block = int(block_s * 48000)
    start = len(audio)
    while start >= block and not np.any(audio[start - block : start]):
        start -= block
    return None if start == len(audio) else start / 48000


def test_ducking_with_normalize_sounds_until_the_video_ends(api: Api, assets: dict[str, str], tmp_path: Path) -> None:
    # Given a 10 s video with looping music ducked under a narration, normalised to -16 LUFS
    body = {
        "input": {"asset_id": assets["silent_10s"]},
        "music": {"input": {"asset_id": assets["music"]}, "volume": 0.5},
        "narration": [{"input": {"asset_id": assets["speech"]}, "start_s": 1.0}],
        "ducking": True,
        "normalize": True,
    }
    # When it is rendered
    _, path = run(api, body, tmp_path / "duck_loud.mp4")
    # Then the music is heard to the end: no digital silence (the bug: silent from 2.50 s of 10 s)
    audio = samples(path)
    assert silent_from_s(audio) is None, f"silent from {silent_from_s(audio)} s"
    assert rms_db(audio, 8.5, 9.9) > -40
    assert tone_db(audio, 8.5, 9.9, MUSIC_HZ) > -40
    assert_video_length(streams(path), 10.0)


def test_an_output_that_goes_silent_before_its_plan_says_fails_as_output_mismatch(
    api: Api, assets: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the planner bug of ducking + normalize brought back (no 48 kHz pin: silent from 2.50 s of 10 s)
    monkeypatch.setattr(audio, "_PIN", "anull")
    body = {
        "input": {"asset_id": assets["silent_10s"]},
        "music": {"input": {"asset_id": assets["music"]}, "volume": 0.5},
        "narration": [{"input": {"asset_id": assets["speech"]}, "start_s": 1.0}],
        "ducking": True,
        "normalize": True,
    }
    resp = api.post("/v1/video/edit/audio", json=body)
    assert resp.status_code == 202, resp.text
    # When the task runs, then the probe of its output fails it instead of storing a silent success
    task = api.wait(resp.json()["id"])
    assert task["status"] == "failed", task
    assert task["error"]["code"] == "output_mismatch", task
    assert "silent from 2.5" in task["error"]["message"], task


@pytest.mark.parametrize("target", [-16.0, -23.0])
def test_loudness_is_normalised_to_the_target(api: Api, assets: dict[str, str], tmp_path: Path, target: float) -> None:
    # Music at 0.1 (-20 dB) would be about -41 LUFS without normalisation.
    body = {
        "input": {"asset_id": assets["silent"]},
        "music": {"input": {"asset_id": assets["music"]}, "volume": 0.1},
        "normalize": {"target_lufs": target},
    }
    _, path = run(api, body, tmp_path / "loud.mp4")
    assert abs(integrated_lufs(path) - target) <= 1.0
    assert_video_length(streams(path), 3.0)


def test_without_normalize_the_level_is_left_alone(api: Api, assets: dict[str, str], tmp_path: Path) -> None:
    body = {"input": {"asset_id": assets["silent"]}, "music": {"input": {"asset_id": assets["music"]}, "volume": 0.1}}
    _, path = run(api, body, tmp_path / "quiet.mp4")
    assert integrated_lufs(path) < -35


def test_mandarin_narration_is_spoken_for_a_plausible_time(api: Api, assets: dict[str, str], tmp_path: Path) -> None:
    body = {
        "input": {"asset_id": assets["silent"]},
        "narration": [{"text": "你好，欢迎使用视频接口。", "voice": "zh", "start_s": 0.2}],
    }
    _, path = run(api, body, tmp_path / "zh.mp4")
    audio = samples(path)
    windows = audio[: len(audio) // 960 * 960].reshape(-1, 960)  # 20 ms
    voiced = np.sqrt((windows**2).mean(axis=1)) > 0.01
    assert 1.5 < voiced.sum() * 0.02 < 2.8  # ~2.5 s of speech, cut at the video end (3 s)
    assert not voiced[: int(0.2 / 0.02)].any()  # nothing before start_s
    assert_video_length(streams(path), 3.0)


def test_webm_input_keeps_its_vp9_and_gets_opus_over_silence(api: Api, assets: dict[str, str], tmp_path: Path) -> None:
    result, path = run(api, {"input": {"asset_id": assets["silent_webm"]}, "format": "webm"}, tmp_path / "o.webm")
    out = streams(path)
    assert (out["vcodec"], out["acodec"], out["sample_rate"]) == ("vp9", "opus", 48000)
    assert result["content_type"] == "video/webm"
    assert_video_length(out, 2.0)
    assert rms_db(samples(path), 0, 2.0) < -80  # the input had no sound: a silent track


# ---- bad input ------------------------------------------------------------------------------------------------


def narrated(assets: dict[str, str], **narration: Any) -> dict[str, Any]:
    return {"input": {"asset_id": assets["silent"]}, "narration": [narration]}


def test_unknown_voice_is_a_422_listing_voices(api: Api, assets: dict[str, str]) -> None:
    body = assert_problem(api.post("/v1/video/edit/audio", json=narrated(assets, text="hi", voice="tlh")), 422)
    assert body["code"] == "unknown_voice"
    assert body["errors"][0]["field"] == "narration[0].voice"
    assert "en-us" in body["detail"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "invalid_text"),
        ("  \n ", "invalid_text"),
        ("x" * (MAX_TEXT_CHARS + 1), "limit_exceeded"),
        ("bell\x07", "invalid_text"),
        ("nul\x00byte", "invalid_text"),
        ("\x1b[31mred", "invalid_text"),
    ],
)
def test_bad_narration_text_is_a_422_on_the_text_field(api: Api, assets: dict[str, str], text: str, code: str) -> None:
    body = assert_problem(api.post("/v1/video/edit/audio", json=narrated(assets, text=text)), 422, code)
    assert body["errors"][0]["field"] == "narration[0].text"


def test_music_without_an_audio_stream_is_a_422_naming_the_field(api: Api, assets: dict[str, str]) -> None:
    body = {"input": {"asset_id": assets["silent"]}, "music": {"input": {"asset_id": assets["silent_webm"]}}}
    problem = assert_problem(api.post("/v1/video/edit/audio", json=body), 422, "input_no_audio")
    assert problem["errors"][0]["field"] == "music.input"


def test_audio_only_input_is_refused(api: Api, assets: dict[str, str]) -> None:
    resp = api.post("/v1/video/edit/audio", json={"input": {"asset_id": assets["music"]}})
    assert_problem(resp, 422, "input_not_video")


def test_missing_espeak_is_a_503_saying_how_to_install_it(
    api: Api, assets: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    body = assert_problem(api.post("/v1/video/edit/audio", json=narrated(assets, text="hello")), 503, "tts_unavailable")
    assert "espeak-ng" in body["detail"] and "make run" in body["detail"]
