"""Composite timelines over HTTP: real mixed media in, one pass out, checked by probing and by pixels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.support.app import Api, assert_problem
from tests.support.media import make_image, make_video

pytestmark = pytest.mark.ffmpeg

FPS = 25
BLUE = (0x33, 0x66, 0xCC)
RED = (255, 0, 0)
TEXT = "It's: a,b;c [x] \\ y\nline 2 %{pts}"

# Bottom track: A 2 s [0, 50), B 2 s crossfading in over 0.4 s [40, 90), C 1.6 s dipping through
# black over 0.4 s [80, 120), then 1 s of blue [120, 145). The logo is on [125, 135), the text on [135, 143).
TOTAL_FRAMES = 145
DIP_MIDDLE = 85
B_ALONE = 65
LOGO = (slice(15, 65), slice(15, 65))
CENTRE = (slice(70, 170), slice(10, 310))
CORNER = (slice(190, 235), slice(200, 315))


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("composite")
    return {
        # Mixed sizes, frame rates and sample rates; B is stored landscape with a 90 degree display
        # matrix (players show it portrait, 180x240); C has no audio at all.
        "a": make_video(d / "a.mp4", 2.0, 320, 240, 25, sample_rate=44100),
        "b": make_video(d / "b.mp4", 2.0, 240, 180, 30, rotation=90, sample_rate=48000),
        "c": make_video(d / "c.mp4", 2.0, 160, 120, 24, audio=False),
        "logo": make_image(d / "logo.png", 64, 64, color="red"),
    }


def post(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    resp = api.post("/v1/video/edit/composite", json=body)
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"], timeout_s=120)
    assert task["status"] == "succeeded", task
    return task["result"]


def rgb_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").astype(int) for f in c.decode(video=0)]


def samples(path: Path) -> np.ndarray:
    """The decoded audio as one float array (channels interleaved are averaged)."""
    with av.open(str(path)) as c:
        chunks = [f.to_ndarray().reshape(f.layout.nb_channels, -1).mean(axis=0) for f in c.decode(audio=0)]
    return np.concatenate(chunks)


def near(region: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 24) -> bool:
    return bool(np.all(np.abs(region - np.array(rgb)) <= tolerance))


def test_mixed_media_composite_with_transitions_text_and_logo(api: Api, media: dict[str, Path], tmp_path: Path) -> None:
    ids = {name: api.upload(path)["id"] for name, path in media.items()}
    body = {
        "timeline": {
            "tracks": [
                {
                    "clips": [
                        {"type": "video", "source": {"asset_id": ids["a"]}},
                        {"type": "video", "source": {"asset_id": ids["b"]},
                         "transition": {"type": "crossfade", "duration_s": 0.4}},
                        {"type": "video", "source": {"asset_id": ids["c"]}, "trim_start_s": 0.2, "trim_end_s": 1.8,
                         "transition": {"type": "fade_black", "duration_s": 0.4}},
                        {"type": "color", "color": "#3366cc", "duration_s": 1},
                    ]
                },
                {
                    "clips": [
                        {"type": "image", "source": {"asset_id": ids["logo"]}, "start_s": 5.0, "duration_s": 0.4,
                         "scale": 0.25, "position": "top-left", "x": 10, "y": 10},
                    ]
                },
                {
                    "clips": [
                        {"type": "text", "text": TEXT, "start_s": 5.4, "duration_s": 0.3, "size": 28,
                         "outline_width": 2, "position": "center"},
                    ]
                },
            ]
        },
        "output": {"width": 320, "height": 240, "fps": FPS, "quality": "low"},
    }  # fmt: skip
    result = post(api, body)
    out = api.download(result["url"], tmp_path / "out.mp4")
    expected_s = TOTAL_FRAMES / FPS

    # Probe: duration within one frame, size, frame rate, codecs, audio of the same length.
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (v.codec_context.name, v.width, v.height, float(v.average_rate)) == ("h264", 320, 240, FPS)
        assert abs(float(v.duration * v.time_base) - expected_s) <= 1 / FPS
        assert (a.codec_context.name, a.rate, a.channels) == ("aac", 48000, 2)
        assert abs(float(a.duration * a.time_base) - expected_s) <= 1 / FPS
    assert abs(result["duration"] - expected_s) <= 1 / FPS
    assert (result["width"], result["height"]) == (320, 240)

    frames = rgb_frames(out)
    assert len(frames) == TOTAL_FRAMES
    # The middle of the fade through black is black.
    assert frames[DIP_MIDDLE].mean() < 12, frames[DIP_MIDDLE].mean()
    assert frames[DIP_MIDDLE - 8].mean() > 40 and frames[DIP_MIDDLE + 8].mean() > 40
    # B is shown upright (portrait, 180x240) inside the landscape frame: black bars left and right.
    assert frames[B_ALONE][:, :60].mean() < 12 and frames[B_ALONE][:, 250:].mean() < 12
    assert frames[B_ALONE][:, 80:240].mean() > 60
    # The colour clip fills the frame with its colour.
    assert near(frames[122], BLUE)
    assert near(frames[144][CORNER], BLUE)
    # The logo is there during its time range only.
    assert near(frames[124][LOGO], BLUE)
    assert near(frames[128][LOGO], RED, tolerance=40)
    assert near(frames[136][LOGO], BLUE)
    # The text changes pixels only while it is on screen.
    changed = [
        int((np.abs(frames[n][CENTRE] - np.array(BLUE)) > 40).any(axis=2).sum()) for n in (134, 135, 139, 142, 143)
    ]
    assert changed[0] == 0 and changed[-1] == 0, changed
    assert min(changed[1:-1]) > 300, changed

    # Sound: A's tone at the start, silence over the blue clip (C and the colour clip have no audio).
    sound = samples(out)
    assert len(sound) == pytest.approx(expected_s * 48000, abs=48000 / FPS)
    assert np.sqrt(np.mean(sound[int(0.2 * 48000) : int(1.0 * 48000)] ** 2)) > 0.05
    assert np.abs(sound[int(5.0 * 48000) : int(5.7 * 48000)]).max() < 0.01
    poster = api.download(result["poster_url"], tmp_path / "poster.jpg")
    assert poster.stat().st_size > 0


def test_vertical_webm_export_with_a_slide(api: Api, media: dict[str, Path], tmp_path: Path) -> None:
    a = api.upload(media["a"])["id"]
    body = {
        "timeline": {
            "tracks": [
                {
                    "clips": [
                        {"type": "video", "source": {"asset_id": a}, "trim_end_s": 1, "fit": "cover"},
                        {"type": "color", "color": "orange", "duration_s": 1,
                         "transition": {"type": "slide_up", "duration_s": 0.5}},
                    ]
                }
            ]
        },
        "output": {"format": "webm", "width": 180, "aspect_ratio": "9:16", "fps": FPS, "quality": "low"},
    }  # fmt: skip
    result = post(api, body)
    assert result["content_type"] == "video/webm"
    out = api.download(result["url"], tmp_path / "out.webm")
    with av.open(str(out)) as c:
        v, a_ = c.streams.video[0], c.streams.audio[0]
        assert (v.codec_context.name, v.width, v.height) == ("vp9", 180, 320)
        assert a_.codec_context.name == "opus"
    frames = rgb_frames(out)
    assert len(frames) == 25 + 25 - 13  # the 0.5 s slide is 13 frames at 25 fps (halves round up)
    # `cover` fills the tall frame: no bars at the top of the first clip.
    assert frames[5][:20].mean() > 40


def test_bad_timelines_are_refused_at_submission(api: Api) -> None:
    four_k_two_hours = {
        "timeline": {"tracks": [{"clips": [{"type": "color", "color": "red", "duration_s": 7200}]}]},
        "output": {"resolution": "2160p"},
    }
    body = assert_problem(api.post("/v1/video/edit/composite", json=four_k_two_hours), 422, "limit_exceeded")
    assert body["errors"][0]["field"] == "timeline"
    assert "editing.max_timeline_s" in body["detail"]

    negative = {
        "timeline": {"tracks": [{"clips": [{"type": "color", "color": "red", "duration_s": 1, "start_s": -2}]}]}
    }
    body = assert_problem(api.post("/v1/video/edit/composite", json=negative), 422)
    assert body["errors"][0]["field"] == "timeline.tracks[0].clips[0].start_s"

    # URL inputs are fetched by the worker, but what can be checked without them is checked now.
    url = {"url": "https://media.example.com/clip.mp4"}
    too_long = {
        "timeline": {
            "tracks": [
                {
                    "clips": [
                        {"type": "video", "source": url, "trim_end_s": 1},
                        {"type": "video", "source": url, "trim_start_s": 2, "trim_end_s": 5,
                         "transition": {"type": "wipe_left", "duration_s": 2}},
                    ]
                }
            ]
        }
    }  # fmt: skip
    body = assert_problem(api.post("/v1/video/edit/composite", json=too_long), 422, "transition_too_long")
    assert body["errors"][0]["field"] == "timeline.tracks[0].clips[1].transition.duration_s"

    text = {"timeline": {"tracks": [{"clips": [{"type": "text", "text": "a\x07b", "duration_s": 1}]}]}}
    body = assert_problem(api.post("/v1/video/edit/composite", json=text), 422, "invalid_text")
    assert body["errors"][0]["field"] == "timeline.tracks[0].clips[0].text"

    # As documented: no tracks or no clips is a schema error; only audio is `empty_timeline`.
    for empty, field in (
        ({"tracks": []}, "timeline.tracks"),
        ({"tracks": [{"clips": []}]}, "timeline.tracks[0].clips"),
    ):
        body = assert_problem(api.post("/v1/video/edit/composite", json={"timeline": empty}), 422, "invalid_request")
        assert body["errors"][0]["field"] == field
    music = {"type": "audio", "source": {"url": "https://example.com/a.mp3"}, "duration_s": 1}
    only_audio = {"timeline": {"tracks": [{"clips": [music]}]}}
    body = assert_problem(api.post("/v1/video/edit/composite", json=only_audio), 422, "empty_timeline")


def test_text_at_the_bottom_or_top_keeps_a_safe_margin_from_the_frame_edge(api: Api, tmp_path: Path) -> None:
    """Like subtitles, anchored text stays 5% of the height away from the edge it is anchored to."""
    text = {"type": "text", "text": "SAFE", "duration_s": 1, "size": 24, "color": "white", "box_color": "white"}
    body = {
        "timeline": {
            "tracks": [
                {"clips": [{"type": "color", "color": "black", "duration_s": 1}]},
                {"clips": [{**text, "position": "bottom"}]},
                {"clips": [{**text, "position": "top"}]},
                {"clips": [{**text, "position": "bottom-left", "margin": 0}]},
            ]
        },
        "output": {"width": 320, "aspect_ratio": "16:9", "fps": FPS, "quality": "low"},
    }
    frame = rgb_frames(api.download(post(api, body)["url"], tmp_path / "out.mp4"))[FPS // 2]
    height = frame.shape[0]
    safe = round(0.05 * height)
    centre = frame[:, 120:200].mean(axis=(1, 2))
    bright = np.flatnonzero(centre > 128)
    assert bright.size, "no text drawn"
    assert bright.min() >= safe and bright.max() < height - safe, (bright.min(), bright.max(), safe)
    assert bright.min() <= safe + 4 and bright.max() >= height - safe - 5  # at the margin, not further in
    # An explicit margin of 0 puts it flush against the edges again.
    corner = frame[:, :40].mean(axis=(1, 2))
    assert corner[-1] > 128 and frame[-1, 0].mean() > 128


def test_an_image_clip_shows_at_an_output_rate_below_the_image_demuxers(
    api: Api, media: dict[str, Path], tmp_path: Path
) -> None:
    # A still is one frame lasting 1/25 s; at 10 fps the `fps` filter dropped it and the logo vanished.
    logo = api.upload(media["logo"])["id"]
    body = {
        "timeline": {"tracks": [
            {"clips": [{"type": "color", "color": "#3366cc", "duration_s": 1}]},
            {"clips": [{"type": "image", "source": {"asset_id": logo}, "duration_s": 1, "scale": 0.5}]},
        ]},
        "output": {"width": 160, "height": 90, "fps": 10, "quality": "low"},
    }  # fmt: skip
    out = api.download(post(api, body)["url"], tmp_path / "out.mp4")
    frames = rgb_frames(out)
    assert len(frames) == 10
    assert all(near(f[35:55, 70:90], RED, 40) and near(f[:10, :10], BLUE) for f in frames)
