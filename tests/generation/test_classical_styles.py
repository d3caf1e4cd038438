"""Classical styles: one ffmpeg pass on the cpu queue, on real media; pixels change the expected way."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tests.support.app import Api, assert_problem
from tests.support.media import decode, make_video, video_info

pytestmark = pytest.mark.ffmpeg

STYLE = "/v1/video/generate/style-transfer"


def yuv_planes(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        planes = frame.to_ndarray(format="yuv420p")
    h = frame.height
    return planes[:h], planes[h:]


def run_style(api: Api, asset_id: str, tmp_path: Path, style: str, **extra: object) -> tuple[dict, Path]:
    resp = api.post(STYLE, json={"video": {"asset_id": asset_id}, "style": style, **extra})
    assert resp.status_code == 202, resp.text
    task = resp.json()
    assert task["kind"] == "generate.style_transfer"
    done = api.wait(task["id"], timeout_s=60)
    assert done["status"] == "succeeded", done
    return done, api.download(done["result"]["url"], tmp_path / f"{style}-{len(extra)}.mp4")


def test_classical_styles_restyle_real_video_on_the_cpu(gen_api: Api, tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", duration_s=1.0)
    asset = gen_api.upload(source)
    original = decode(source).astype(int)

    done, sketch = run_style(gen_api, asset["id"], tmp_path, "sketch")
    assert video_info(sketch) | {"codec": "h264"} == video_info(source) | {"codec": "h264"}
    assert done["result"]["audio_codec"] == "aac"  # the input's sound is kept
    _, chroma = yuv_planes(sketch)
    assert np.abs(chroma.astype(int) - 128).max() <= 2  # greyscale: no colour left
    luma, _ = yuv_planes(sketch)
    assert luma.mean() > 150  # a pencil sketch is mostly paper-white

    _, sepia = run_style(gen_api, asset["id"], tmp_path, "sepia")
    rgb = decode(sepia).astype(int).reshape(-1, 3)
    bright = rgb[rgb.sum(axis=1) > 150]
    assert (bright[:, 0] >= bright[:, 1] - 3).mean() > 0.95 and (bright[:, 1] >= bright[:, 2] - 3).mean() > 0.95

    _, cartoon = run_style(gen_api, asset["id"], tmp_path, "cartoon")
    styled = decode(cartoon).astype(int)
    assert np.abs(styled - original).mean() > 5  # visibly restyled

    # strength 0 mixes nothing of the style in: the input comes back (up to re-encoding).
    _, unstyled = run_style(gen_api, asset["id"], tmp_path, "cartoon", strength=0.0)
    assert np.abs(decode(unstyled).astype(int) - original).mean() < 3


def test_classical_styles_take_no_model_options(gen_api: Api, tmp_path: Path) -> None:
    asset = gen_api.upload(make_video(tmp_path / "in.mp4", duration_s=0.5, audio=False))
    resp = gen_api.post(STYLE, json={"video": {"asset_id": asset["id"]}, "style": "sketch", "steps": 10})
    assert assert_problem(resp, 422, "unsupported_option")["errors"][0]["field"] == "steps"
