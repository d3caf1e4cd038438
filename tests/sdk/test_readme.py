"""The quick start of sdk/python/README.md runs as written against the live app."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.sdk.conftest import Server
from tests.support.media import make_video, video_info

pytestmark = pytest.mark.ffmpeg

README = Path(__file__).resolve().parents[2] / "sdk" / "python" / "README.md"


def test_the_readme_examples_run(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 2
    make_video(tmp_path / "clip.mp4", duration_s=2.0, width=160, height=90)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIDEOAPI_URL", server.url)
    monkeypatch.setenv("VIDEOAPI_KEY", server.key)
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    assert video_info(tmp_path / "trimmed.mp4")["frames"] == pytest.approx(25, abs=2)
