"""Every generation job ends in the shared output step, so its outputs are scanned like an edit's:
classical style transfer too, and each batch member with its owner's moderation threshold."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.app import running_app
from tests.support.generation import gen_settings
from tests.support.media import make_video
from videoapi.composition import build_services
from videoapi.moderation import frames
from videoapi.settings import Settings

pytestmark = pytest.mark.ffmpeg

BLOCKED_CLASS = "FEMALE_BREAST_EXPOSED"


def flags_every_frame(score: float):  # type: ignore[no-untyped-def]
    """Stand-in for the model (no explicit footage may be shipped): every frame 'shows' a blocked class."""

    def detect(images: Sequence[np.ndarray]) -> list[list[dict[str, Any]]]:
        return [[{"class": BLOCKED_CLASS, "score": score, "box": [0, 0, 1, 1]}] for _ in images]

    return detect


def set_owner_threshold(settings: Settings, threshold: float | None) -> None:
    async def run() -> None:
        services = await build_services(settings, None)
        try:
            key_id = (await services.keys.list())[0].id
            await services.policies.update(key_id, output_threshold=threshold)
        finally:
            await services.close()

    asyncio.run(run())


def test_a_classical_style_transfer_output_is_scanned_before_it_is_stored(
    tmp_path: Path, registry_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(frames, "nudenet_detector", flags_every_frame(0.9))
    settings = gen_settings(tmp_path / "var", registry_file)
    with running_app(settings) as api:
        asset = api.upload(make_video(tmp_path / "in.mp4", duration_s=1.0))
        resp = api.post(
            "/v1/video/generate/style-transfer", json={"video": {"asset_id": asset["id"]}, "style": "sepia"}
        )
        assert resp.status_code == 202, resp.text
        done = api.wait(resp.json()["id"], timeout_s=60)

    assert done["status"] == "failed", done
    assert done["error"]["code"] == "moderation_blocked"
    assert done["result"] is None and done["cost"] is None


def test_a_batch_member_honours_its_owners_output_threshold(
    tmp_path: Path, registry_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scores of 0.5 pass the server's threshold (0.6) but not an owner's stricter 0.3.
    monkeypatch.setattr(frames, "nudenet_detector", flags_every_frame(0.5))
    settings = gen_settings(tmp_path / "var", registry_file, **{"moderation.output_threshold": 0.6})
    with running_app(settings) as api:
        body = {"prompt": "a lighthouse at dusk", "model": "tiny-ltx", "seed": 1}
        passed = api.wait(api.post("/v1/video/generate/text-to-video", json=body).json()["id"], timeout_s=90)
        set_owner_threshold(settings, 0.3)
        blocked = api.wait(api.post("/v1/video/generate/text-to-video", json=body).json()["id"], timeout_s=90)

    assert passed["status"] == "succeeded", passed
    assert passed["result"]["moderation"]["blocked"] is False
    assert blocked["status"] == "failed", blocked
    assert blocked["error"]["code"] == "moderation_blocked"
