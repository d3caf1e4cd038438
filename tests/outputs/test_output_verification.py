"""Every output is probed against its plan before it is stored: a planner bug that yields the wrong
frame fails the task with `output_mismatch` instead of storing a wrong success."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.app import running_app
from videoapi.editing import plan as edit_plan
from videoapi.settings import Settings


def test_a_transcode_whose_frame_is_not_the_planned_one_fails_as_output_mismatch(
    make_settings: Callable[..., Settings], clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_app(make_settings()) as api:
        asset = api.upload(clip)
        body = {"input": {"asset_id": asset["id"]}, "width": 160, "quality": "low"}
        good = api.wait(api.post("/v1/video/edit/transcode", json=body).json()["id"])
        assert good["status"] == "succeeded" and (good["result"]["width"], good["result"]["height"]) == (160, 120)

        # Given a scale filter that ignores the request (a planner bug)
        monkeypatch.setattr(edit_plan, "_scale_filter", lambda req, media: "scale=100:100")
        bad = api.wait(api.post("/v1/video/edit/transcode", json=body).json()["id"])
    assert bad["status"] == "failed", bad
    assert bad["error"]["code"] == "output_mismatch" and "100x100, planned 160x120" in bad["error"]["message"]
    assert bad["result"] is None
