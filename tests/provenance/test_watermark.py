"""The invisible watermark carries a task's token through re-encoding at CRF 28 and a 720p downscale,
is invisible to the eye (PSNR), is read by nobody without the key, and is reachable from the API
(`POST /v1/video/watermark/detect`) and the CLI (`videoapi watermark detect FILE`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tests.support.app import assert_problem, running_app
from tests.support.media import ffmpeg, make_growing_video
from videoapi.cli import main as cli
from videoapi.composition import watermark_key_for
from videoapi.provenance.watermark import MAX_AMPLITUDE, WatermarkKey, detect_file, embed_frames, token_for
from videoapi.settings import LimitSettings, Settings

pytestmark = pytest.mark.ffmpeg

TASK_ID = "a1b2c3d4-e5f6-4789-8abc-def012345678"
KEY = WatermarkKey(b"test secret")


def source_frames() -> np.ndarray:
    """One second of detailed 1080p content (the harder case: busy texture, sharp edges)."""
    frames = []
    with av.open("testsrc2=size=1920x1080:rate=12:duration=1", format="lavfi") as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
    return np.stack(frames)


def encode(frames: np.ndarray, path: Path, crf: int = 18) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "ultrafast"}
        for rgb in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def original() -> np.ndarray:
    return source_frames()


@pytest.fixture(scope="module")
def attacked(original: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Marked at 1080p, then re-encoded at CRF 28 and downscaled to 720p, as a re-upload would be."""
    work = tmp_path_factory.mktemp("wm")
    marked = encode(embed_frames(original, KEY, token_for(TASK_ID)), work / "marked.mp4")
    out = work / "attacked.mp4"
    ffmpeg("-i", str(marked), "-vf", "scale=-2:720", "-c:v", "libx264", "-crf", "28", "-preset", "veryfast", str(out))
    return out


def test_the_mark_survives_crf28_and_a_720p_downscale(attacked: Path) -> None:
    with av.open(str(attacked)) as container:
        assert container.streams.video[0].height == 720
    found = detect_file(attacked, KEY, limits=LimitSettings())
    assert found.found
    assert found.token == "a1b2c3d4e5f6"
    assert found.agreement > 0.9


def test_a_single_attacked_frame_is_enough(attacked: Path) -> None:
    assert detect_file(attacked, KEY, limits=LimitSettings(), max_frames=1).token == "a1b2c3d4e5f6"


def test_the_mark_is_invisible_to_the_eye(original: np.ndarray) -> None:
    marked = embed_frames(original[:2], KEY, token_for(TASK_ID))
    assert cv2.PSNR(original[0], marked[0]) > 37.0
    assert np.abs(marked.astype(int) - original[:2].astype(int)).max() <= 2 * MAX_AMPLITUDE + 1


def test_nothing_is_found_in_unmarked_video_or_with_another_key(
    original: np.ndarray, attacked: Path, tmp_path: Path
) -> None:
    plain = encode(original, tmp_path / "plain.mp4")
    assert not detect_file(plain, KEY, limits=LimitSettings()).found
    assert not detect_file(attacked, WatermarkKey(b"another secret"), limits=LimitSettings()).found


def test_the_api_and_cli_name_the_task_that_made_a_file(
    make_settings: Callable[..., Settings],
    clip: Path,
    original: np.ndarray,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(**{"watermark.secret": "shared across nodes"})
    with running_app(settings) as api:
        asset = api.upload(clip)
        task = api.post("/v1/video/edit/trim", json={"input": {"asset_id": asset["id"]}, "start_s": 0, "end_s": 1})
        task_id = task.json()["id"]
        marked = encode(embed_frames(original[:4], watermark_key_for(settings), token_for(task_id)), tmp_path / "m.mp4")
        uploaded = api.upload(marked)

        resp = api.post("/v1/video/watermark/detect", json={"input": {"asset_id": uploaded["id"]}})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["found"] and body["task_id"] == task_id
        assert body["token"] == task_id.replace("-", "")[:12]

        plain = api.post("/v1/video/watermark/detect", json={"input": {"asset_id": asset["id"]}}).json()
        assert plain["found"] is False and plain["task_id"] is None

        assert_problem(api.post("/v1/video/watermark/detect", json={"input": {}}), 422)
        assert_problem(api.post("/v1/video/watermark/detect", json={"input": {"asset_id": "nope"}}), 404)

        monkeypatch.setenv("VIDEOAPI_SERVER__VAR_DIR", str(settings.var_path))
        monkeypatch.setenv("VIDEOAPI_WATERMARK__SECRET", "shared across nodes")
        found = CliRunner().invoke(cli, ["watermark", "detect", str(marked)])
        assert found.exit_code == 0, found.output
        assert f"task {task_id}" in found.output
        missing = CliRunner().invoke(cli, ["watermark", "detect", str(clip)])
        assert missing.exit_code == 1 and "no watermark found" in missing.output


def test_detect_refuses_a_video_whose_frames_grow_past_the_limit(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """Given a video that is 320x240 when probed and 2000x2000 further on, detection stops with a 422."""
    settings = make_settings(**{"limits.max_width": 1920, "limits.max_height": 1920})
    growing = make_growing_video(tmp_path / "grow.ts")
    with running_app(settings) as api:
        asset = api.upload(growing)
        assert asset["media"]["video"]["width"] == 320  # the probe saw only the small first frames
        resp = api.post("/v1/video/watermark/detect", json={"input": {"asset_id": asset["id"]}})
    problem = assert_problem(resp, 413, "input_too_large")
    assert "2000x2000" in problem["detail"]
