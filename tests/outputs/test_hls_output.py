"""HLS outputs end to end: one pass makes every rendition, the API stores them under one prefix, and a
player (PyAV's HLS demuxer over HTTP) follows the API's own signed URLs to every playlist and segment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from tests.support.app import create_key, free_port
from tests.support.gateway import serve
from tests.support.media import make_video
from tests.support.waits import wait_until
from videoapi.db.migrate import upgrade
from videoapi.settings import Settings

pytestmark = pytest.mark.ffmpeg


def _transcode_hls(base: str, key: str, source: Path, hls: dict[str, Any]) -> dict[str, Any]:
    auth = {"authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
        with source.open("rb") as fh:
            asset = client.post("/v1/video/assets", files={"file": (source.name, fh, "video/mp4")}).json()
        body = {"input": {"asset_id": asset["id"]}, "format": "hls", "quality": "low", "hls": hls}
        created = client.post("/v1/video/edit/transcode", json=body)
        assert created.status_code in (200, 201, 202), created.text
        task_id = created.json()["id"]
        task: dict[str, Any] = {}

        def done() -> bool:
            task.update(client.get(f"/v1/video/tasks/{task_id}").json())
            return task["status"] in ("succeeded", "failed", "canceled")

        wait_until(done, timeout_s=60, interval_s=0.2, what="the HLS transcode")
        return task


def _decode_every_variant(master_url: str) -> dict[tuple[int, int], int]:
    """Frames decoded per video size, through the master playlist only (the player's view)."""
    frames: dict[tuple[int, int], int] = {}
    with av.open(master_url, options={"protocol_whitelist": "http,tcp,https,tls,crypto"}) as c:
        streams = list(c.streams.video)
        for frame in c.decode(*streams):
            frames[(frame.width, frame.height)] = frames.get((frame.width, frame.height), 0) + 1
    return frames


def _serve_and_transcode(settings: Settings, port: int, source: Path, hls: dict[str, Any]) -> tuple[dict, dict]:
    upgrade(settings.database_url)
    key = create_key(settings)
    with serve(settings, port) as base:
        task = _transcode_hls(base, key, source, hls)
        assert task["status"] == "succeeded", task
        frames = _decode_every_variant(task["result"]["url"])
        # The URL signs the folder, not a file: a tampered signature opens nothing.
        url = task["result"]["url"]
        exp, sig = url.split("/v1/video/streams/", 1)[1].split("/")[:2]
        forged = url.replace(f"/{exp}/{sig}/", f"/{exp}/{sig[:-2]}AA/")
        assert httpx.get(forged).status_code == 403
        # The same signature does not open a file outside the folder (the poster).
        outside = url.rsplit("/hls/", 1)[0] + "/poster.jpg"
        assert httpx.get(outside).status_code == 403
    return task, frames


def test_hls_ladder_plays_through_signed_urls_from_the_local_store(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    # Given a 320x240 source with sound, and a ladder whose 1080p and 720p rungs are above it
    source = make_video(tmp_path / "src.mp4", duration_s=2.0, width=320, height=240)
    port = free_port()
    settings = make_settings(**{"server.public_url": f"http://127.0.0.1:{port}", "outputs.hls_segment_s": 1.0})

    # When it is transcoded to HLS and the master playlist is opened over HTTP from the task's URL
    task, frames = _serve_and_transcode(settings, port, source, {"ladder": ["1080p", "720p", "240p", "144p"]})

    # Then the rungs above the source are left out, each rendition is listed and plays to the end
    result = task["result"]
    assert result["content_type"] == "application/vnd.apple.mpegurl"
    assert [(r["width"], r["height"]) for r in result["renditions"]] == [(320, 240), (192, 144)]
    assert all(r["bandwidth"] > 0 for r in result["renditions"])
    assert result["duration"] == pytest.approx(2.0, abs=0.05)
    assert frames == {(320, 240): 50, (192, 144): 50}
    # And every object lives under the output's folder in the store
    folder = settings.storage_dir / "outputs" / task["id"]
    names = sorted(p.name for p in folder.glob("*/hls/*") if not p.name.startswith("."))
    assert "master.m3u8" in names and "stream_240p_init.mp4" in names and "stream_144p_000.m4s" in names


def test_hls_ts_segments_play_from_the_s3_store(
    make_settings: Callable[..., Settings], s3_endpoint: str, tmp_path: Path
) -> None:
    # Given the S3 store (segments are redirected to presigned S3 URLs; playlists answered by the API)
    source = make_video(tmp_path / "src.mp4", duration_s=2.0, width=320, height=240, audio=False)
    port = free_port()
    settings = make_settings(
        **{
            "server.public_url": f"http://127.0.0.1:{port}",
            "outputs.hls_segment_s": 1.0,
            "storage.backend": "s3",
            "storage.s3_endpoint": s3_endpoint,
            "storage.s3_access_key": "testing",
            "storage.s3_secret_key": "testing",
            "storage.s3_bucket": f"hls-{port}",
            "storage.s3_secure": False,
        }
    )

    # When a silent source is transcoded to an MPEG-TS ladder
    task, frames = _serve_and_transcode(settings, port, source, {"ladder": ["240p", "144p"], "segments": "ts"})

    # Then both renditions play through the API's URLs
    assert [(r["width"], r["height"]) for r in task["result"]["renditions"]] == [(320, 240), (192, 144)]
    assert frames == {(320, 240): 50, (192, 144): 50}
