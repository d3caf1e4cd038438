"""Media fixtures for the media package's tests, generated once per session with ffmpeg."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.media import make_audio, make_image, make_video
from videoapi.settings import LimitSettings


@pytest.fixture
def limits() -> LimitSettings:
    return LimitSettings()


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def mp4_with_audio(media_dir: Path) -> Path:
    return make_video(media_dir / "av.mp4", duration_s=2.0, width=320, height=240, fps=25, audio=True)


@pytest.fixture(scope="session")
def mp4_moov_at_end(media_dir: Path) -> Path:
    return make_video(media_dir / "moov-at-end.mp4", duration_s=2.0, audio=False, faststart=False)


@pytest.fixture(scope="session")
def webm_with_audio(media_dir: Path) -> Path:
    return make_video(media_dir / "av.webm", duration_s=1.0, width=160, height=120, fps=24, audio=True)


@pytest.fixture(scope="session")
def rotated_mp4(media_dir: Path) -> Path:
    return make_video(media_dir / "rotated.mp4", duration_s=0.5, width=320, height=240, audio=False, rotation=90)


@pytest.fixture(scope="session")
def png_image(media_dir: Path) -> Path:
    return make_image(media_dir / "still.png", width=64, height=48)


@pytest.fixture(scope="session")
def wav_audio(media_dir: Path) -> Path:
    return make_audio(media_dir / "tone.wav", duration_s=1.0, sample_rate=44100)
