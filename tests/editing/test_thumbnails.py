"""edit/thumbnails end to end: the right frames, in the asked sizes and formats, one asset each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.support.app import Api, assert_problem
from tests.support.media import ffmpeg

pytestmark = pytest.mark.ffmpeg

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


def make_bands(path: Path, band_s: float, fps: int, size: str) -> Path:
    """Red for `band_s` seconds, then green, then blue; a keyframe every 5 s."""
    args = []
    for colour in COLOURS:
        args += ["-f", "lavfi", "-i", f"color=c={colour}:s={size}:r={fps}:d={band_s}"]
    ffmpeg(
        *args, "-filter_complex", "[0][1][2]concat=n=3:v=1:a=0", "-c:v", "libx264", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p", "-g", str(5 * fps), "-movflags", "+faststart", str(path),
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def bands(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s at 320x240 25 fps: red during the first second, green during the second, blue during the third."""
    return make_bands(tmp_path_factory.mktemp("thumbs") / "bands.mp4", 1, 25, "320x240")


@pytest.fixture(scope="module")
def long_bands(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 s at 160x120 5 fps: 20 s red, 20 s green, 20 s blue; frames far apart are seeked to."""
    return make_bands(tmp_path_factory.mktemp("thumbs") / "long.mp4", 20, 5, "160x120")


def run(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    resp = api.post("/v1/video/edit/thumbnails", json=body)
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"])
    assert task["status"] == "succeeded", task
    return task


def colour_name(pixel: tuple[int, ...]) -> str:
    return min(COLOURS, key=lambda name: sum((a - b) ** 2 for a, b in zip(COLOURS[name], pixel[:3], strict=True)))


def test_frames_at_given_times_are_one_image_each_in_order(api: Api, bands: Path, tmp_path: Path) -> None:
    asset = api.upload(bands)
    body = {"input": {"asset_id": asset["id"]}, "mode": "frames", "times_s": [2.5, 0.5, 1.5, 3.0], "format": "png"}
    task = run(api, {**body, "width": 160})
    result = task["result"]
    outputs = result["outputs"]
    assert len(outputs) == 4
    assert outputs[0]["url"] == result["url"] and outputs[0]["asset_id"] == result["asset_id"]
    assert len({o["asset_id"] for o in outputs}) == 4
    assert not any("storage_key" in o for o in outputs)
    seen = []
    for i, output in enumerate(outputs):
        assert output["content_type"] == "image/png"
        assert (output["width"], output["height"]) == (160, 120)
        image = Image.open(api.download(output["url"], tmp_path / f"{i}.png"))
        assert image.format == "PNG" and image.size == (160, 120)
        seen.append(colour_name(image.convert("RGB").getpixel((80, 60))))
    assert seen == ["blue", "red", "green", "blue"]  # the end of the video shows its last frame
    # Each image is an asset of its own.
    assert api.get(f"/v1/video/assets/{outputs[2]['asset_id']}").json()["content_type"] == "image/png"


def test_frames_far_apart_are_seeked_to_exactly(api: Api, long_bands: Path, tmp_path: Path) -> None:
    asset = api.upload(long_bands)
    task = run(api, {"input": {"asset_id": asset["id"]}, "mode": "frames", "times_s": [19.7, 20.1, 45]})
    names = []
    for i, output in enumerate(task["result"]["outputs"]):
        image = Image.open(api.download(output["url"], tmp_path / f"{i}.jpg"))
        assert image.size == (160, 120)
        names.append(colour_name(image.convert("RGB").getpixel((80, 60))))
    # 19.7 s gives the frame at 19.8 s (the last red one), 20.1 s the one at 20.2 s (green).
    assert names == ["red", "green", "blue"]


def test_count_frames_are_evenly_spaced_jpegs(api: Api, bands: Path, tmp_path: Path) -> None:
    asset = api.upload(bands)
    task = run(api, {"input": {"asset_id": asset["id"]}, "mode": "frames", "count": 3})
    names = []
    for i, output in enumerate(task["result"]["outputs"]):
        image = Image.open(api.download(output["url"], tmp_path / f"{i}.jpg"))
        assert image.format == "JPEG" and image.size == (320, 240)
        names.append(colour_name(image.convert("RGB").getpixel((160, 120))))
    assert names == ["red", "green", "blue"]


def test_contact_sheet_is_a_grid_of_evenly_spaced_labelled_tiles(api: Api, bands: Path, tmp_path: Path) -> None:
    asset = api.upload(bands)
    body = {"input": {"asset_id": asset["id"]}, "mode": "contact_sheet", "rows": 2, "columns": 3, "width": 100}
    task = run(api, {**body, "timestamps": True, "format": "webp"})
    result = task["result"]
    assert result["content_type"] == "image/webp" and "outputs" not in result  # one image: the result itself
    sheet = Image.open(api.download(result["url"], tmp_path / "sheet.webp"))
    tile_w, tile_h = 100, 74  # 100 x 240/320, rounded to an even number
    assert sheet.format == "WEBP" and sheet.size == (3 * tile_w, 2 * tile_h)
    rgb = sheet.convert("RGB")
    tiles = [colour_name(rgb.getpixel((c * tile_w + 70, r * tile_h + 15))) for r in range(2) for c in range(3)]
    assert tiles == ["red", "red", "green", "green", "blue", "blue"]  # at 0.25, 0.75, ... 2.75 s
    # The label (white text on a dark box) sits in each tile's bottom-left corner.
    for r in range(2):
        corner = [rgb.getpixel((x, r * tile_h + y)) for x in range(2, 45) for y in range(tile_h - 20, tile_h - 2)]
        assert sum(min(p) > 200 for p in corner) > 15
        assert sum(max(p) < 130 for p in corner) > 50  # the box darkens the tile


def test_default_poster_is_one_representative_frame(api: Api, bands: Path, tmp_path: Path) -> None:
    asset = api.upload(bands)
    task = run(api, {"input": {"asset_id": asset["id"]}})
    result = task["result"]
    assert result["content_type"] == "image/jpeg" and result.get("poster_url") is None
    assert (result["width"], result["height"]) == (320, 240) and "outputs" not in result
    image = Image.open(api.download(result["url"], tmp_path / "poster.jpg"))
    assert image.format == "JPEG" and colour_name(image.convert("RGB").getpixel((160, 120))) in COLOURS


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"mode": "frames", "times_s": [1.0, 3.5]}, "input_out_of_range", "times_s[1]"),
        ({"time_s": 60}, "input_out_of_range", "time_s"),
        ({"mode": "contact_sheet", "times_s": [1.0]}, "invalid_request", "times_s"),
        ({"mode": "frames"}, "invalid_request", "times_s"),
        ({"mode": "frames", "count": 0}, "invalid_request", "count"),
        ({"format": "gif"}, "invalid_request", "format"),
    ],
)
def test_bad_thumbnail_requests_are_a_422_naming_the_field(
    api: Api, bands: Path, body: dict[str, Any], code: str, field: str
) -> None:
    asset = api.upload(bands)
    resp = api.post("/v1/video/edit/thumbnails", json={"input": {"asset_id": asset["id"]}, **body})
    problem = assert_problem(resp, 422, code)
    assert problem["errors"][0]["field"] == field


def test_many_far_apart_frames_open_a_bounded_number_of_decoders(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given 50 frames 12 s apart in a 10-minute video, the ffmpeg pass opens at most MAX_DECODERS inputs,
    and every image is still the frame at its time."""
    from videoapi.editing.thumbnails import MAX_DECODERS
    from videoapi.outputs import step

    video = make_bands(tmp_path / "ten-minutes.mp4", 200, 1, "64x48")
    inputs_opened: list[int] = []
    real_run = step.run_ffmpeg

    async def counting(args: list[str], **kw: Any) -> None:
        inputs_opened.append(args.count("-i"))
        await real_run(args, **kw)

    monkeypatch.setattr(step, "run_ffmpeg", counting)
    asset = api.upload(video)
    task = run(api, {"input": {"asset_id": asset["id"]}, "mode": "frames", "count": 50, "format": "png"})
    assert inputs_opened and max(inputs_opened) <= MAX_DECODERS
    outputs = task["result"]["outputs"]
    assert len(outputs) == 50
    times = [600 * (i + 0.5) / 50 for i in range(50)]
    for i in (0, 16, 17, 33, 34, 49):  # either side of each colour change (200 s, 400 s)
        image = Image.open(api.download(outputs[i]["url"], tmp_path / f"{i}.png")).convert("RGB")
        expected = "red" if times[i] < 200 else "green" if times[i] < 400 else "blue"
        assert colour_name(image.getpixel((32, 24))) == expected, (i, times[i])
