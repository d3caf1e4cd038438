"""POST /v1/video/edit/captions end to end, with the real bundled model (Whisper tiny.en) on speech that
espeak-ng says at known offsets over a grey picture, with silence between the sentences."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.speech.test_transcribe import word_error_rate
from tests.support.app import Api, assert_problem, set_policy
from tests.support.media import decode, ffmpeg, make_speech, make_video
from videoapi.editing.captions import CueLimits, parse_srt

pytestmark = pytest.mark.ffmpeg

SENTENCES = [
    (0.5, "The quick brown fox jumps over the lazy dog."),
    (6.0, "Good morning everyone and welcome to the show."),
]
DURATION_S = 10.0
FPS = 10
# Word timings are within 0.4 s of the voice; a caption is held over a gap shorter than 0.4 s.
SLACK_S = 0.5
STYLE = {"size": 14, "max_chars_per_line": 16, "max_lines": 2}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("captions-media")
    speech = d / "speech.mp4"  # 160x90 grey, 10 fps, with the sentences as its audio
    spans = make_speech(speech, SENTENCES, DURATION_S, video=True)
    quiet = d / "quiet.mp4"  # a picture with a silent audio track
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:size=160x90:rate=10:duration=1", "-f", "lavfi", "-i",
           "anullsrc=r=16000:cl=mono:d=1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-t", "1", str(quiet))  # fmt: skip
    return {
        "speech": speech,
        "spans": spans,
        "quiet": quiet,
        "mute": make_video(d / "mute.mp4", duration_s=1.0, width=160, height=90, audio=False),
    }


@pytest.fixture(scope="module")
def speech_asset(api: Api, media: dict[str, Any]) -> dict[str, Any]:
    return api.upload(media["speech"])


def _outputs(api: Api, task: dict[str, Any], d: Path) -> dict[str, Path]:
    return {
        o["content_type"]: api.download(o["url"], d / o["url"].split("?")[0].rsplit("/", 1)[-1])
        for o in task["result"]["outputs"]
    }


def _caption_pixels(frame: np.ndarray) -> tuple[int, int]:
    """(white, yellow) pixels of a frame over the flat grey (128) picture."""
    r, g, b = (frame[..., i].astype(int) for i in range(3))
    white = (r > 200) & (g > 200) & (b > 200)
    yellow = (r > 180) & (g > 180) & (b < 110)
    return int(white.sum()), int(yellow.sum())


def test_burned_karaoke_captions_show_only_while_words_are_spoken(
    api: Api, media: dict[str, Any], speech_asset: dict[str, Any], tmp_path: Path
) -> None:
    body = {"input": {"asset_id": speech_asset["id"]}, "language": "en", "style": {**STYLE, "highlight": "karaoke"}}
    resp = api.post("/v1/video/edit/captions", json=body)
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"], timeout_s=240)
    assert task["status"] == "succeeded", task
    result = task["result"]
    assert task["progress"] == 1.0
    assert result["model"] == "whisper-tiny.en" and result["transcript"]["language"] == "en"
    reference = " ".join(text for _, text in SENTENCES)
    assert word_error_rate(reference, result["transcript"]["text"]) <= 0.25, result["transcript"]
    files = _outputs(api, task, tmp_path)
    assert set(files) == {"video/mp4", "application/x-subrip", "text/vtt", "application/json"}
    srt = parse_srt(files["application/x-subrip"].read_text(encoding="utf-8"), CueLimits(1000, 1000))
    assert [c.text for c in srt] == [s["text"] for s in result["transcript"]["segments"]]
    assert json.loads(files["application/json"].read_text(encoding="utf-8")) == result["transcript"]

    frames = decode(files["video/mp4"])
    assert frames.shape[1:3] == (90, 160)
    spans = media["spans"]
    both = 0
    for i, frame in enumerate(frames):
        t = i / FPS
        white, yellow = _caption_pixels(frame)
        inside = any(start - SLACK_S <= t <= end + SLACK_S for start, end in spans)
        if not inside:
            assert white + yellow == 0, f"caption pixels at {t:.1f} s, outside the speech {spans}"
        both += white > 5 and yellow > 5
    # Mid-sentence, captions are drawn, partly filled: spoken words yellow, the rest still white.
    for start, end in spans:
        middle = frames[round((start + end) / 2 * FPS)]
        assert sum(_caption_pixels(middle)) > 30, (start, end)
    assert both >= 5, "no frame shows a caption half filled (karaoke)"


def test_transcribed_speech_the_owners_rules_block_fails_the_task_before_anything_is_drawn(
    api: Api, speech_asset: dict[str, Any]
) -> None:
    """Given segments are screened at submission; transcribed ones only exist in the worker, where the
    same rules (the owner's included) screen them before the captions pass."""
    rules = {"categories": {"greetings": {"message": "no greetings", "keywords": ["morning"]}}}
    set_policy(api.settings, moderation_rules=rules)
    try:
        body = {"input": {"asset_id": speech_asset["id"]}, "language": "en", "style": STYLE}
        resp = api.post("/v1/video/edit/captions", json=body)
        assert resp.status_code == 202, resp.text  # nothing in the request itself is blocked
        task = api.wait(resp.json()["id"], timeout_s=240)
        assert task["status"] == "failed", task
        assert task["error"]["code"] == "moderation_blocked", task["error"]
        message = task["error"]["message"]
        assert "transcribed speech" in message and "(greetings)" in message, message
        at = float(message.split(" at ")[1].split(" s ")[0])
        assert abs(at - SENTENCES[1][0]) <= SLACK_S, message  # the blocked sentence's start
        assert not (task.get("result") or {}).get("outputs")
        metrics = api.client.get("/metrics").text
        assert 'videoapi_moderation_blocks_total{category="greetings",stage="transcript"}' in metrics

        # The same words given as segments are refused at submission, naming the field.
        given = {**body, "segments": [{"start_s": 6.0, "end_s": 8.0, "text": "Good morning everyone"}]}
        problem = assert_problem(api.post("/v1/video/edit/captions", json=given), 422, "moderation_blocked")
        assert problem["errors"][0]["field"] == "segments[0].text"
    finally:
        set_policy(api.settings, moderation_rules=None)


def test_given_segments_are_drawn_as_a_soft_track_without_transcribing(
    api: Api, speech_asset: dict[str, Any], tmp_path: Path
) -> None:
    segments = [
        {"start_s": 0.5, "end_s": 2.5, "text": "Corrected first line"},
        {"start_s": 6.0, "end_s": 8.0, "text": "second", "words": [
            {"start_s": 6.0, "end_s": 6.5, "word": "Second"}, {"start_s": 6.6, "end_s": 7.5, "word": "sentence"}]},
    ]  # fmt: skip
    body = {
        "input": {"asset_id": speech_asset["id"]},
        "mode": "soft",
        "segments": segments,
        "style": {"words_per_caption": 2, "uppercase": True},
    }
    task = api.wait(api.post("/v1/video/edit/captions", json=body).json()["id"], timeout_s=120)
    assert task["status"] == "succeeded", task
    result = task["result"]
    assert result["model"] is None  # no transcription ran
    assert [s["text"] for s in result["transcript"]["segments"]] == ["Corrected first line", "second"]
    video = _outputs(api, task, tmp_path)["video/mp4"]
    with av.open(str(video)) as container:
        subs = container.streams.subtitles
        assert len(subs) == 1 and subs[0].codec_context.name == "mov_text"
        assert container.streams.video[0].codec_context.name == "h264"
    track = tmp_path / "track.srt"
    ffmpeg("-i", str(video), "-map", "0:s:0", str(track))
    cues = parse_srt(track.read_text(encoding="utf-8"), CueLimits(100, 1000))
    # Two words a caption; the first segment's timings are spread over it by character count.
    assert [c.text for c in cues] == ["CORRECTED FIRST", "LINE", "SECOND SENTENCE"]
    assert cues[0].start_s == pytest.approx(0.5, abs=0.01) and cues[-1].end_s == pytest.approx(7.5, abs=0.01)


def test_silent_input_succeeds_with_an_empty_transcript_and_no_captions(
    api: Api, media: dict[str, Any], tmp_path: Path
) -> None:
    asset = api.upload(media["quiet"])
    task = api.wait(api.post("/v1/video/edit/captions", json={"input": {"asset_id": asset["id"]}}).json()["id"])
    assert task["status"] == "succeeded", task.get("error")
    result = task["result"]
    assert result["transcript"]["segments"] == [] and result["transcript"]["text"] == ""
    video = _outputs(api, task, tmp_path)["video/mp4"]
    with av.open(str(video)) as out, av.open(str(media["quiet"])) as src:
        assert len(out.streams.subtitles) == 0
        # Stream-copied: the same compressed video packets as the input.
        sizes = [p.size for p in out.demux(video=0) if p.size]
        assert sizes == [p.size for p in src.demux(video=0) if p.size]


@pytest.mark.parametrize(
    ("extra", "code", "field"),
    [
        ({"style": {"words_per_caption": 5}}, "invalid_request", "style.words_per_caption"),
        ({"style": {"max_lines": 0}}, "invalid_request", "style.max_lines"),
        ({"mode": "soft", "style": {"highlight": "word"}}, "unsupported_option", "style.highlight"),
        ({"style": {"highlight_color": "nope"}}, None, "style.highlight_color"),
        (
            {
                "segments": [
                    {"start_s": 1, "end_s": 2, "text": "hi", "words": [{"start_s": 1, "end_s": 3, "word": "hi"}]}
                ]
            },
            "invalid_subtitles",
            "segments[0].words[0].end_s",
        ),
        ({"segments": [{"start_s": 2, "end_s": 1, "text": "hi"}]}, "invalid_subtitles", "segments[0].end_s"),
        ({"model": "nope"}, "unknown_model", "model"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(
    api: Api, extra: dict[str, Any], code: str | None, field: str
) -> None:
    resp = api.post("/v1/video/edit/captions", json={"input": {"url": "https://media.example.com/a.mp4"}, **extra})
    problem = assert_problem(resp, 422, code)
    assert problem["errors"][0]["field"] == field, problem


def test_input_without_audio_is_a_422_at_submission(api: Api, media: dict[str, Any]) -> None:
    asset = api.upload(media["mute"])
    problem = assert_problem(
        api.post("/v1/video/edit/captions", json={"input": {"asset_id": asset["id"]}}), 422, "input_no_audio"
    )
    assert problem["errors"][0]["field"] == "input"


def test_a_batch_of_edits_takes_captions_items(api: Api, speech_asset: dict[str, Any]) -> None:
    segments = [{"start_s": 0.5, "end_s": 2.0, "text": "hello"}]
    items = [
        {"kind": "captions", "request": {"input": {"asset_id": speech_asset["id"]}, "segments": segments}},
        {"kind": "captions", "request": {"input": {"asset_id": speech_asset["id"]}, "style": {"max_lines": 9}}},
    ]
    problem = assert_problem(api.post("/v1/video/batch/edit", json={"items": items}), 422)
    assert problem["errors"][0]["field"] == "items[1].request.style.max_lines", problem
    resp = api.post("/v1/video/batch/edit", json={"items": items[:1]})
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["task_ids"][0], timeout_s=120)
    assert task["kind"] == "edit.captions" and task["status"] == "succeeded", task.get("error")
    assert task["result"]["transcript"]["text"] == "hello"


def test_estimate_validates_and_creates_nothing(api: Api, speech_asset: dict[str, Any]) -> None:
    resp = api.post("/v1/video/edit/captions/estimate", json={"input": {"asset_id": speech_asset["id"]}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["kind"] == "edit.captions" and resp.json()["output_seconds"] == pytest.approx(DURATION_S, 0.05)
