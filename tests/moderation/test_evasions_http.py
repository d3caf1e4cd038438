"""Evasions submitted to the real routes are refused with the 422 `moderation_blocked` problem before
any task exists: generation prompts and negative prompts, subtitle files (SRT, WebVTT) and segments,
and composite text. The same requests with ordinary text are accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.app import Api, assert_problem
from tests.support.media import make_video
from tests.support.moderation_corpus import evasions, subtitles_body

pytestmark = pytest.mark.ffmpeg

T2V = "/v1/video/generate/text-to-video"
EVASIONS = evasions()
PLAIN = [c for c in EVASIONS if c.format == "prompt"]


def composite(text: str) -> dict[str, Any]:
    return {
        "timeline": {
            "tracks": [
                {"clips": [{"type": "color", "color": "#336699", "duration_s": 1}]},
                {"clips": [{"type": "text", "text": text, "duration_s": 1}]},
            ]
        },
        "output": {"width": 160, "height": 120},
    }


def refused(resp: Any, why: str) -> None:
    assert resp.status_code == 422, f"{why}: {resp.status_code} {resp.text}"
    assert_problem(resp, 422, "moderation_blocked")


def test_evasions_in_prompts_and_negative_prompts_are_refused(api: Api) -> None:
    for case in PLAIN:
        refused(api.post(T2V, json={"prompt": case.text, "model": "ltx-video"}), case.why)
        negative = api.post(T2V, json={"prompt": "a calm lake", "negative_prompt": case.text, "model": "ltx-video"})
        refused(negative, f"negative_prompt, {case.why}")
        body = negative.json()
        assert body["errors"][0]["field"] == "negative_prompt"
    # Ordinary text is not refused by moderation (no model is installed here: 503, not 422).
    ok = api.post(T2V, json={"prompt": "a calm lake", "negative_prompt": "blurry, watermark", "model": "ltx-video"})
    assert ok.status_code != 422, ok.text
    assert api.get("/v1/video/tasks").json()["items"] == []


def test_evasions_in_subtitle_files_and_segments_are_refused(api: Api, tmp_path: Path) -> None:
    asset = api.upload(make_video(tmp_path / "clip.mp4", 1.0, 160, 120, 25))
    for case in EVASIONS:
        refused(api.post("/v1/video/edit/subtitles", json=subtitles_body(case, asset["id"])), case.why)
    assert api.get("/v1/video/tasks").json()["items"] == []
    # Tags and entities in ordinary cues are fine.
    srt = "1\n00:00:00,000 --> 00:00:00,800\n<i>Sussex</i> &amp; the <b>Scunthorpe</b> match\n"
    resp = api.post("/v1/video/edit/subtitles", json={"input": {"asset_id": asset["id"]}, "srt": srt})
    assert resp.status_code == 202, resp.text
    assert api.wait(resp.json()["id"])["status"] == "succeeded"


def test_evasions_in_composite_text_are_refused(api: Api) -> None:
    for case in PLAIN:
        refused(api.post("/v1/video/edit/composite", json=composite(case.text)), case.why)
    assert api.get("/v1/video/tasks").json()["items"] == []
    resp = api.post("/v1/video/edit/composite", json=composite("a therapist's cocktail analysis"))
    assert resp.status_code == 202, resp.text
    assert api.wait(resp.json()["id"])["status"] == "succeeded"
