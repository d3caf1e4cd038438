"""An uploaded asset is typed from its probed streams and container, and downloads say that type:
audio-only MP4 is audio/mp4, WebM is video/webm (audio/webm without video), other Matroska stays
video/x-matroska."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.app import Api
from tests.support.media import ffmpeg, make_audio, make_video

pytestmark = pytest.mark.ffmpeg


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("speech.m4a", lambda p: make_audio(p), "audio/mp4"),
        ("clip.webm", lambda p: make_video(p, duration_s=0.5), "video/webm"),
        ("song.ogg", lambda p: make_audio(p), "audio/ogg"),
        ("song.wav", lambda p: make_audio(p), "audio/wav"),
        ("clip.mkv", lambda p: make_video(p, duration_s=0.5), "video/x-matroska"),
        ("clip.mp4", lambda p: make_video(p, duration_s=0.5), "video/mp4"),
    ],
)
def test_uploads_are_typed_from_their_streams_and_container(
    api: Api, tmp_path: Path, name: str, make: Callable[[Path], Path], expected: str
) -> None:
    path = tmp_path / name
    make(path)
    asset = api.upload(path)
    assert asset["content_type"] == expected
    download = api.client.get(api.get(f"/v1/video/assets/{asset['id']}").json()["url"])
    assert download.status_code == 200 and download.headers["content-type"].split(";")[0] == expected


def test_audio_only_webm_is_audio_webm(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "voice.webm"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", "-c:a", "libopus", str(path))
    assert api.upload(path)["content_type"] == "audio/webm"
