"""Multi-segment trim over HTTP: the kept ranges are joined in order, cut on the exact frames."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from tests.support.app import Api, assert_problem
from tests.support.media import ffmpeg

pytestmark = pytest.mark.ffmpeg

FPS = 25
FRAME_S = 1 / FPS


@pytest.fixture(scope="module")
def numbered_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s, 25 fps, flat frames whose colour encodes the frame number n (R = n % 10, G = n // 10); a tone."""
    path = tmp_path_factory.mktemp("trim") / "numbered.mp4"
    frames = f"color=c=black:s=160x120:r={FPS}:d=4,format=rgb24,geq=r='mod(N,10)*25':g='trunc(N/10)*25':b=128"
    ffmpeg(
        "-f", "lavfi", "-i", frames, "-f", "lavfi", "-i", "sine=frequency=440:duration=4",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path),
    )  # fmt: skip
    return path


def frame_numbers(path: Path) -> list[int]:
    """The source frame number shown by each output frame, read from its colour."""
    with av.open(str(path)) as container:
        numbers = []
        for frame in container.decode(video=0):
            r, g, _ = frame.to_ndarray(format="rgb24")[60, 80].astype(int)
            numbers.append(round(g / 25) * 10 + round(r / 25))
        return numbers


def streams(path: Path) -> dict[str, float | str]:
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        return {
            "duration": c.duration / 1e6,
            "video_s": float(v.duration * v.time_base),
            "audio_s": float(a.duration * a.time_base),
            "fps": float(v.average_rate),
            "vcodec": v.codec_context.name,
            "acodec": a.codec_context.name,
        }


def test_segments_are_joined_in_order_with_frame_exact_cuts(api: Api, numbered_clip: Path, tmp_path: Path) -> None:
    asset = api.upload(numbered_clip)
    segments = [{"start_s": 0.2, "end_s": 0.6}, {"start_s": 2.0, "end_s": 2.4}, {"start_s": 3.2, "end_s": 3.8}]
    resp = api.post("/v1/video/edit/trim", json={"input": {"asset_id": asset["id"]}, "segments": segments})
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"])
    assert task["status"] == "succeeded", task
    out = api.download(task["result"]["url"], tmp_path / "out.mp4")

    # Frames 5..14, then 50..59, then 80..94: every kept frame once, in request order, nothing else.
    assert frame_numbers(out) == [*range(5, 15), *range(50, 60), *range(80, 95)]
    info = streams(out)
    assert abs(info["video_s"] - 1.4) <= FRAME_S / 2
    assert abs(info["audio_s"] - 1.4) <= FRAME_S
    assert abs(task["result"]["duration"] - 1.4) <= FRAME_S
    assert (info["vcodec"], info["acodec"], info["fps"]) == ("h264", "aac", FPS)
    assert api.download(task["result"]["poster_url"], tmp_path / "poster.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_segments_of_a_silent_video_to_webm(api: Api, tmp_path: Path) -> None:
    silent = tmp_path / "silent.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size=160x120:rate={FPS}:duration=3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        str(silent),
    )
    asset = api.upload(silent)
    body = {
        "input": {"asset_id": asset["id"]},
        "segments": [{"start_s": 0, "end_s": 0.4}, {"start_s": 2, "end_s": 2.6}],
        "format": "webm",
        "quality": "low",
    }
    task = api.wait(api.post("/v1/video/edit/trim", json=body).json()["id"])
    assert task["status"] == "succeeded", task
    with av.open(str(api.download(task["result"]["url"], tmp_path / "out.webm"))) as c:
        assert [s.type for s in c.streams] == ["video"]
        assert c.streams.video[0].codec_context.name == "vp9"
        assert abs(c.duration / 1e6 - 1.0) <= FRAME_S


def test_bad_segments_are_422_naming_the_field(api: Api, numbered_clip: Path) -> None:
    asset = {"asset_id": api.upload(numbered_clip)["id"]}
    url = {"url": "https://media.example.com/a.mp4"}  # not probed at submission: the static check runs

    def post(input_: dict[str, str], **body: object) -> dict[str, object]:
        resp = api.post("/v1/video/edit/trim", json={"input": input_, **body})
        return assert_problem(resp, 422)

    def seg(*ranges: tuple[float, float]) -> list[dict[str, float]]:
        return [{"start_s": s, "end_s": e} for s, e in ranges]

    for ref in (asset, url):
        overlap = post(ref, segments=seg((0, 1), (2, 3), (2.5, 3.5)))
        assert (overlap["code"], overlap["errors"][0]["field"]) == ("invalid_range", "segments[2].start_s")
        empty = post(ref, segments=seg((0, 1), (2, 3), (3.5, 3.5)))
        assert empty["errors"][0]["field"] == "segments[2].end_s"
        both = post(ref, start_s=0, end_s=1, segments=seg((2, 3)))
        assert both["errors"][0]["field"] == "segments"
        fast = post(ref, segments=seg((0, 1), (2, 3)), mode="fast")
        assert (fast["code"], fast["errors"][0]["field"]) == ("fast_trim_unsupported", "mode")
    past = post(asset, segments=seg((0, 1), (2, 3), (3.5, 9)))
    assert (past["code"], past["errors"][0]["field"]) == ("input_out_of_range", "segments[2].end_s")
    assert post(asset)["errors"][0]["field"] == "segments"
    assert "segments" in str(post(asset, segments=[])["errors"][0]["field"])
    assert api.get("/v1/video/tasks").json()["items"] == []  # nothing was queued
