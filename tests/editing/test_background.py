"""Background replacement over HTTP: a green-screen clip keyed onto a colour, an image and a video."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.support.app import Api, assert_problem
from tests.support.media import ffmpeg, make_audio, make_image

pytestmark = pytest.mark.ffmpeg

FPS = 25
DURATION_S = 2.0
# The subject: a red box moving right by 40 px/s from x=40, y 40..120; a still grey box with a green
# cast (spill) at x 220..280, y 160..220; everything else is the green backdrop.
GREEN_SCREEN = (
    f"color=c=0x00ff00:s=320x240:r={FPS}:d={DURATION_S}[g];color=c=0xff0000:s=80x80:r={FPS}:d={DURATION_S}[r];"
    f"color=c=0x80c080:s=60x60:r={FPS}:d={DURATION_S}[s];[g][r]overlay=x='40+t*40':y=40[gr];[gr][s]overlay=x=220:y=160"
)
BACKDROP = (10, 10)  # (row, column) of a backdrop pixel the subject never covers
SPILL = (190, 250)


@pytest.fixture(scope="module")
def green_screen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bg") / "green.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", GREEN_SCREEN, "-f", "lavfi", "-i", f"sine=frequency=440:duration={DURATION_S}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path),
    )  # fmt: skip
    return path


def red_box(frame_index: int) -> tuple[int, int]:
    """(row, column) of the centre of the red box in this frame."""
    return 80, round(40 + frame_index / FPS * 40 + 40)


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").astype(int) for f in c.decode(video=0)]


def near(pixel: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 24) -> bool:
    return bool(np.all(np.abs(pixel - np.array(rgb)) <= tolerance))


def run(api: Api, body: dict[str, Any], dest: Path) -> tuple[dict[str, Any], Path]:
    resp = api.post("/v1/video/edit/background", json=body)
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"])
    assert task["status"] == "succeeded", task
    return task["result"], api.download(task["result"]["url"], dest)


def test_green_backdrop_is_replaced_by_a_colour_and_the_subject_stays(
    api: Api, green_screen: Path, tmp_path: Path
) -> None:
    asset = api.upload(green_screen)
    body = {"input": {"asset_id": asset["id"]}, "replacement": {"color": "#0000ff"}}
    result, out = run(api, body, tmp_path / "out.mp4")

    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (v.codec_context.name, v.width, v.height, float(v.average_rate)) == ("h264", 320, 240, FPS)
        assert abs(float(v.duration * v.time_base) - DURATION_S) <= 1 / FPS
        assert a.codec_context.name == "aac"
        assert abs(float(a.duration * a.time_base) - DURATION_S) <= 1 / FPS
    assert abs(result["duration"] - DURATION_S) <= 1 / FPS
    frames = decode(out)
    assert len(frames) == DURATION_S * FPS
    for n in (0, 25, 49):
        assert near(frames[n][BACKDROP], (0, 0, 255)), frames[n][BACKDROP]
        assert near(frames[n][red_box(n)], (255, 0, 0)), (n, frames[n][red_box(n)])
        assert near(frames[n][80, 20], (0, 0, 255))  # left of the box: keyed
    poster = api.download(result["poster_url"], tmp_path / "poster.jpg")
    with av.open(str(poster)) as c:
        first = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert near(first[BACKDROP], (0, 0, 255))  # the poster shows the result, not the input


def test_spill_suppression_removes_the_green_cast(api: Api, green_screen: Path, tmp_path: Path) -> None:
    ref = {"asset_id": api.upload(green_screen)["id"]}
    with_spill = api.post("/v1/video/edit/background", json={"input": ref, "replacement": {"color": "black"}})
    without = api.post(
        "/v1/video/edit/background", json={"input": ref, "replacement": {"color": "black"}, "key": {"spill": None}}
    )
    pixels = []
    for resp, name in ((with_spill, "spill.mp4"), (without, "raw.mp4")):
        task = api.wait(resp.json()["id"])
        assert task["status"] == "succeeded", task
        pixels.append(decode(api.download(task["result"]["url"], tmp_path / name))[25][SPILL])
    suppressed, raw = pixels
    r, g, b = raw
    assert g - (r + b) / 2 > 40, raw  # the input's cast survives without suppression
    r, g, b = suppressed
    assert g - (r + b) / 2 < 8, suppressed  # and is gone with it
    assert near(suppressed, (128, 128, 128), 10)


def test_image_background_fills_the_keyed_pixels_in_webm_with_the_yuv_key(
    api: Api, green_screen: Path, tmp_path: Path
) -> None:
    image = make_image(tmp_path / "bg.png", width=64, height=64, color="0xff00ff")
    body = {
        "input": {"asset_id": api.upload(green_screen)["id"]},
        "key": {"yuv": True},
        "replacement": {"image": {"asset_id": api.upload(image)["id"]}, "fit": "stretch"},
        "format": "webm",
        "quality": "low",
    }
    result, out = run(api, body, tmp_path / "out.webm")
    with av.open(str(out)) as c:
        assert [(s.codec_context.name, s.type) for s in c.streams] == [("vp9", "video"), ("opus", "audio")]
        assert abs(c.duration / 1e6 - DURATION_S) <= 1 / FPS + 0.03
    assert result["width"] == 320 and result["height"] == 240
    frames = decode(out)
    assert len(frames) == DURATION_S * FPS
    for n in (0, 49):
        assert near(frames[n][BACKDROP], (255, 0, 255)) and near(frames[n][200, 20], (255, 0, 255))
        assert near(frames[n][red_box(n)], (255, 0, 0))


def test_a_shorter_video_background_is_looped_to_the_input_length(api: Api, green_screen: Path, tmp_path: Path) -> None:
    # 0.8 s at 30 fps: white for 0.4 s, then yellow; another frame rate and aspect ratio than the input.
    bg = tmp_path / "bg.mp4"
    halves = "color=c=white:s=200x200:r=30:d=0.4[a];color=c=yellow:s=200x200:r=30:d=0.4[b];[a][b]concat=n=2"
    ffmpeg(
        "-f", "lavfi", "-i", halves,
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(bg),
    )  # fmt: skip
    body = {
        "input": {"asset_id": api.upload(green_screen)["id"]},
        "replacement": {"video": {"asset_id": api.upload(bg)["id"]}, "fit": "cover"},
    }
    result, out = run(api, body, tmp_path / "out.mp4")
    assert abs(result["duration"] - DURATION_S) <= 1 / FPS
    assert result["fps"] == pytest.approx(FPS, abs=0.01)
    frames = decode(out)
    assert len(frames) == DURATION_S * FPS
    white, yellow = (255, 255, 255), (255, 255, 0)
    # t = 0.2, 0.6, 1.0, 1.4, 1.8 s: the middle of each half of each pass of the background
    for t, expected in ((0.2, white), (0.6, yellow), (1.0, white), (1.4, yellow), (1.8, white)):
        n = round(t * FPS)
        assert near(frames[n][BACKDROP], expected), (t, frames[n][BACKDROP])
        assert near(frames[n][red_box(n)], (255, 0, 0))


def test_bad_background_requests_are_422_naming_the_field(api: Api, green_screen: Path, tmp_path: Path) -> None:
    video = {"asset_id": api.upload(green_screen)["id"]}
    image = {"asset_id": api.upload(make_image(tmp_path / "i.png", 32, 32))["id"]}
    sound = {"asset_id": api.upload(make_audio(tmp_path / "a.wav"))["id"]}

    def problem(body: dict[str, Any], code: str | None = None) -> tuple[str, str]:
        out = assert_problem(api.post("/v1/video/edit/background", json=body), 422, code)
        return out["code"], out["errors"][0]["field"]

    assert problem({"input": video, "replacement": {}}) == ("invalid_request", "replacement")
    assert problem({"input": video, "replacement": {"color": "red", "video": video}})[1] == "replacement"
    assert problem({"input": video, "replacement": {"image": video}}) == ("input_not_image", "replacement.image")
    assert problem({"input": video, "replacement": {"image": sound}}) == ("input_not_video", "replacement.image")
    assert problem({"input": video, "replacement": {"video": image}}) == ("input_not_video", "replacement.video")
    assert problem({"input": sound, "replacement": {"color": "red"}}) == ("input_not_video", "input")
    assert problem({"input": image, "replacement": {"color": "red"}}) == ("input_not_video", "input")
    assert problem({"input": video, "replacement": {"color": "nope"}}) == ("invalid_color", "replacement.color")
    key = {"color": "#0f0'[x]"}
    assert problem({"input": video, "key": key, "replacement": {"color": "red"}}) == ("invalid_color", "key.color")
    for similarity in (0, 1.01):
        body = {"input": video, "key": {"similarity": similarity}, "replacement": {"color": "red"}}
        assert problem(body)[1] == "key.similarity"
    # A URL input is probed by the worker: the checks that need no probe still run at submission.
    url = {"url": "https://media.example.com/green.mp4"}
    assert problem({"input": url, "replacement": {"color": "red", "image": url}})[1] == "replacement"
    assert api.get("/v1/video/tasks").json()["items"] == []  # nothing was queued


@pytest.mark.parametrize(("backdrop", "subject_rgb"), [("0x00b140", (255, 0, 0)), ("0x0047bb", (255, 200, 0))])
def test_without_key_color_the_backdrop_colour_is_estimated_from_the_frame_borders(
    api: Api, tmp_path: Path, backdrop: str, subject_rgb: tuple[int, int, int]
) -> None:
    """A standard #00b140 green screen (or #0047bb blue) is keyed cleanly with no `key` at all."""
    source = tmp_path / "screen.mp4"
    subject = "0x{:02x}{:02x}{:02x}".format(*subject_rgb)
    # The subject touches the bottom edge, as a presenter does.
    ffmpeg(
        "-f", "lavfi", "-i",
        f"color=c={backdrop}:s=320x240:r={FPS}:d=1[g];color=c={subject}:s=80x140:r={FPS}:d=1[p];"
        "[g][p]overlay=x=120:y=100",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(source),
    )  # fmt: skip
    asset = api.upload(source)
    body = {"input": {"asset_id": asset["id"]}, "replacement": {"color": "#ffffff"}}
    _, out = run(api, body, tmp_path / "out.mp4")
    frames = decode(out)
    for n in (0, len(frames) - 1):
        frame = frames[n]
        for row, col in ((10, 10), (120, 60), (230, 300), (50, 160)):
            assert near(frame[row, col], (255, 255, 255)), (backdrop, n, (row, col), frame[row, col])
        assert near(frame[170, 160], subject_rgb, tolerance=40), frame[170, 160]
