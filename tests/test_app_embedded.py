"""End to end on the embedded shape: upload real media, trim and transcode it, probe the outputs."""

from __future__ import annotations

import functools
import http.server
import time
from collections.abc import Callable
from pathlib import Path

import av
import pytest

from tests.support.app import SLOW_TRANSCODE, Api, running_app, serve_in_thread
from tests.support.media import make_growing_video, make_video
from videoapi.settings import Settings

pytestmark = pytest.mark.ffmpeg


def probe(path: Path) -> dict[str, object]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        return {
            "duration": float(c.duration / 1e6),
            "width": v.width,
            "height": v.height,
            "vcodec": v.codec_context.name,
            "acodec": c.streams.audio[0].codec_context.name if c.streams.audio else None,
        }


def test_upload_probes_the_media_and_returns_a_signed_url(api: Api, clip: Path) -> None:
    asset = api.upload(clip)
    assert asset["content_type"] == "video/mp4"
    assert asset["media"]["video"]["width"] == 320
    assert abs(asset["media"]["duration_s"] - 4.0) < 0.05
    assert "sig=" in asset["url"]
    again = api.get(f"/v1/video/assets/{asset['id']}")
    assert again.status_code == 200 and again.json()["id"] == asset["id"]


def test_accurate_trim_end_to_end(api: Api, clip: Path, tmp_path: Path) -> None:
    asset = api.upload(clip)
    resp = api.post("/v1/video/edit/trim", json={"input": {"asset_id": asset["id"]}, "start_s": 1.0, "end_s": 2.5})
    assert resp.status_code == 202, resp.text
    assert resp.headers["location"] == f"/v1/video/tasks/{resp.json()['id']}"
    task = api.wait(resp.json()["id"])
    assert task["status"] == "succeeded", task
    result = task["result"]
    assert result["width"] == 320 and result["height"] == 240
    assert abs(result["duration"] - 1.5) <= 1 / 25 + 0.03
    out = probe(api.download(result["url"], tmp_path / "out.mp4"))
    assert out["vcodec"] == "h264" and out["acodec"] == "aac"
    assert abs(out["duration"] - 1.5) <= 1 / 25 + 0.03
    poster = api.download(result["poster_url"], tmp_path / "poster.jpg")
    assert poster.read_bytes()[:2] == b"\xff\xd8"
    assert task["progress"] == 1.0


@pytest.mark.parametrize("codec", ["libx264", "libx265"])
def test_accurate_trim_of_a_fitting_input_is_smart_rendered(api: Api, tmp_path: Path, codec: str) -> None:
    # A keyframe every second: the GOPs from 1 s to 3 s are copied, the cuts at 0.4 s and 3.6 s encoded.
    clip = make_video(tmp_path / "gop.mp4", duration_s=4.0, width=320, height=180, codec=codec, gop_frames=25)
    asset = api.upload(clip)
    body = {"input": {"asset_id": asset["id"]}, "start_s": 0.4, "end_s": 3.6}
    smart = api.wait(api.post("/v1/video/edit/trim", json=body).json()["id"])
    full = api.wait(api.post("/v1/video/edit/trim", json={**body, "mode": "reencode"}).json()["id"])
    assert smart["status"] == full["status"] == "succeeded", (smart, full)
    assert smart["result"]["render"] == {"method": "smart", "copied_s": 2.0, "encoded_s": 1.2, "reason": None}
    assert full["result"]["render"]["method"] == "full"
    assert "reencode" in full["result"]["render"]["reason"]
    counts, codecs = [], set()
    for task in (smart, full):
        out = api.download(task["result"]["url"], tmp_path / f"{task['id']}.mp4")
        with av.open(str(out)) as c:
            counts.append(sum(1 for _ in c.decode(c.streams.video[0])))
            codecs.add(c.streams.video[0].codec_context.name)
    assert counts == [80, 80]
    assert codecs == {"hevc" if codec == "libx265" else "h264"}
    assert api.download(smart["result"]["poster_url"], tmp_path / "poster.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_transcode_to_webm_end_to_end(api: Api, clip: Path, tmp_path: Path) -> None:
    asset = api.upload(clip)
    resp = api.post(
        "/v1/video/edit/transcode",
        json={"input": {"asset_id": asset["id"]}, "height": 120, "fps": 10, "format": "webm", "quality": "low"},
    )
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"])
    assert task["status"] == "succeeded", task
    out = probe(api.download(task["result"]["url"], tmp_path / "out.webm"))
    assert (out["width"], out["height"]) == (160, 120)
    assert out["vcodec"] == "vp9" and out["acodec"] == "opus"
    assert task["result"]["fps"] == pytest.approx(10, abs=0.01)


def test_fast_trim_copies_streams(api: Api, clip: Path, tmp_path: Path) -> None:
    asset = api.upload(clip)
    body = {"input": {"asset_id": asset["id"]}, "start_s": 2.0, "end_s": 3.0, "mode": "fast"}
    task = api.wait(api.post("/v1/video/edit/trim", json=body).json()["id"])
    assert task["status"] == "succeeded", task
    out = probe(api.download(task["result"]["url"], tmp_path / "fast.mp4"))
    assert out["vcodec"] == "h264" and out["acodec"] == "aac"
    # Stream copy starts at the keyframe at or before 2.0 s, so it may run a little long, never short.
    assert 0.95 <= out["duration"] <= 3.1


def test_deleted_asset_answers_410_and_its_file_is_gone(api: Api, clip: Path) -> None:
    asset = api.upload(clip)
    assert api.delete(f"/v1/video/assets/{asset['id']}").status_code == 204
    gone = api.get(f"/v1/video/assets/{asset['id']}")
    assert gone.status_code == 410 and gone.json()["code"] == "asset_deleted"
    assert api.client.get(asset["url"].split("testserver.local", 1)[1]).status_code == 404
    body = {"input": {"asset_id": asset["id"]}, "start_s": 0, "end_s": 1}
    assert api.post("/v1/video/edit/trim", json=body).status_code == 410


def test_progress_is_reported_while_running(api: Api, slow_clip: Path) -> None:
    asset = api.upload(slow_clip)
    body = {"input": {"asset_id": asset["id"]}, **SLOW_TRANSCODE}
    task_id = api.post("/v1/video/edit/transcode", json=body).json()["id"]
    seen: list[float] = []
    while (task := api.get(f"/v1/video/tasks/{task_id}").json())["status"] in ("queued", "running"):
        seen.append(task["progress"])
        time.sleep(0.2)
    assert task["status"] == "succeeded"
    partial = [p for p in seen if 0 < p < 1]
    assert partial, seen
    assert partial == sorted(partial)


def test_url_input_is_fetched_probed_and_trimmed(make_settings, clip: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(clip.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serve_in_thread(server)
    url = f"http://127.0.0.1:{server.server_address[1]}/{clip.name}"
    try:
        with running_app(make_settings(**{"limits.fetch_allow_cidrs": ["127.0.0.1/32"]})) as api:
            asset = api.post("/v1/video/assets", json={"url": url})
            assert asset.status_code == 201, asset.text
            assert asset.json()["origin"] == "url" and asset.json()["source_url"] == url
            body = {"input": {"url": url}, "start_s": 0.5, "end_s": 1.0}
            task = api.wait(api.post("/v1/video/edit/trim", json=body).json()["id"])
            assert task["status"] == "succeeded", task
            assert abs(task["result"]["duration"] - 0.5) <= 0.08
    finally:
        server.shutdown()


def test_an_edit_of_a_video_whose_frames_grow_past_the_limit_fails_with_input_too_large(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """Given a video probed at 320x240 that turns 2000x2000 later, ffmpeg's decoders refuse the large
    frames and the task fails with `input_too_large` instead of rendering them."""
    limits = {"limits.max_width": 1920, "limits.max_height": 1920, "limits.max_pixels": 1920 * 1080}
    settings = make_settings(**limits)
    growing = make_growing_video(tmp_path / "grow.ts", small_s=2.0)
    with running_app(settings) as api:
        asset = api.upload(growing)
        assert asset["media"]["video"]["width"] == 320
        resp = api.post("/v1/video/edit/transcode", json={"input": {"asset_id": asset["id"]}, "height": 240})
        assert resp.status_code == 202, resp.text
        task = api.wait(resp.json()["id"])
    assert task["status"] == "failed", task
    assert task["error"]["code"] == "input_too_large", task["error"]
