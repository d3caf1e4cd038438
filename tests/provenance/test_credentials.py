"""Content Credentials: a generated MP4 carries a signed C2PA manifest saying it is AI-made, still plays
the same, and the detect endpoint reports it; WebM, which C2PA cannot hold, is reported as tagged."""

from __future__ import annotations

import http.server
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import pytest

from tests.support.app import running_app, serve_in_thread
from tests.support.media import make_image, make_video, with_remote_manifest_url
from videoapi.provenance.credentials import read_credentials, sign_ai_generated
from videoapi.settings import Settings

pytestmark = pytest.mark.ffmpeg


def frames_of(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_a_signed_mp4_says_ai_generated_and_still_plays(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings()
    video = make_video(tmp_path / "gen.mp4", duration_s=1.0)
    before = frames_of(video)
    assert read_credentials(video, "video/mp4") is None

    recorded = sign_ai_generated(settings, video, "video/mp4", model="ltx-video", task_id="t-123")
    assert recorded["c2pa"] is True and recorded["ai_generated"] is True

    manifest = read_credentials(video, "video/mp4")
    assert manifest is not None
    assert manifest["ai_generated"] is True
    assert manifest["validation_state"] == "Valid"  # valid, though signed by a local, untrusted root
    assert manifest["issuer"] == "videoapi"
    assert frames_of(video) == before
    # The local signing identity is made once and reused.
    assert (settings.var_path / "c2pa" / "chain.pem").exists()
    chain = (settings.var_path / "c2pa" / "chain.pem").read_bytes()
    sign_ai_generated(settings, make_video(tmp_path / "two.mp4", duration_s=0.5), "video/mp4", model="m", task_id="t")
    assert (settings.var_path / "c2pa" / "chain.pem").read_bytes() == chain


def test_webm_cannot_carry_a_manifest_and_says_so(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    video = make_video(tmp_path / "gen.webm", duration_s=0.5)
    recorded = sign_ai_generated(make_settings(), video, "video/webm", model="m", task_id="t")
    assert recorded["c2pa"] is False and "tagged" in recorded["reason"]


def test_detect_reports_the_manifest(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings()
    video = make_video(tmp_path / "gen.mp4", duration_s=1.0)
    sign_ai_generated(settings, video, "video/mp4", model="ltx-video", task_id="t-1")
    with running_app(settings) as api:
        asset = api.upload(video)
        body = api.post("/v1/video/watermark/detect", json={"input": {"asset_id": asset["id"]}}).json()
    assert body["credentials"]["ai_generated"] is True
    assert body["credentials"]["validation_state"] == "Valid"


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server that records every request line it receives."""
    seen: list[str] = []

    class Record(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(f"GET {self.path}")
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Record)
    serve_in_thread(server)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("name", ["photo.jpg", "photo.png", "clip.mp4"])
def test_detect_never_fetches_a_remote_manifest_named_by_the_file(
    make_settings: Callable[..., Settings], tmp_path: Path, listener: tuple[str, list[str]], name: str
) -> None:
    """Given a file whose XMP points its C2PA manifest at a loopback address, detection sends nothing there."""
    base, seen = listener
    path = tmp_path / name
    make_video(path, duration_s=0.5) if name.endswith(".mp4") else make_image(path)
    with_remote_manifest_url(path, f"{base}/manifest/{name}")
    with running_app(make_settings()) as api:
        asset = api.upload(path)
        resp = api.post("/v1/video/watermark/detect", json={"input": {"asset_id": asset["id"]}})
    assert resp.status_code == 200, resp.text
    assert seen == []
    assert resp.json()["credentials"] is None  # a manifest we may not fetch is no manifest
