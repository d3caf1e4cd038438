"""edit/lipsync over HTTP with a tiny random-weight Wav2Lip (the real architecture at small widths), saved
like the original checkpoint and loaded through the real loader, on a real face (scikit-image's
astronaut) moving slowly across a grey frame.

Random weights draw no real mouth: these prove the path (registry, face track, mel windows, inference,
paste, one ffmpeg pass with the audio, ping-pong), and that only the mouth region changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from tests.support.app import Api, assert_problem, running_app, settings_in
from tests.support.media import decode, make_audio, make_video
from tests.support.tiny_lipsync import build_tiny_wav2lip, lipsync_registry
from tests.support.vision import astronaut_png, make_moving_face
from videoapi.vision.lipsync import pingpong

pytestmark = [pytest.mark.ffmpeg, pytest.mark.slow]

WIDTH, HEIGHT, FACE_PX, SECONDS, FPS, TRAVEL = 320, 240, 300, 1.5, 10, 0.2
FRAMES = round(SECONDS * FPS)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("lipsync-media")
    photo = astronaut_png(folder / "astronaut.png")
    face = make_moving_face(
        folder / "face.mp4", photo, width=WIDTH, height=HEIGHT, face_px=FACE_PX, seconds=SECONDS, fps=FPS, travel=TRAVEL
    )
    return {
        "face": face,
        "short_speech": make_audio(folder / "short.wav", duration_s=1.0, sample_rate=16000),
        "long_speech": make_audio(folder / "long.m4a", duration_s=3.2),
        "silent": make_video(folder / "silent.mp4", duration_s=1.0, width=160, height=120, audio=False),
        "no_face": make_video(folder / "testsrc.mp4", duration_s=1.0, width=160, height=120, fps=FPS),
    }


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    root = tmp_path_factory.mktemp("lipsync")
    model = build_tiny_wav2lip(root / "tiny-lips")
    absent = '[models.absent-lips]\nkinds = ["lipsync"]\narchitecture = "wav2lip"\nsource = "example/absent-lips"\n'
    registry = lipsync_registry(root, model, absent)
    settings = settings_in(root, **{"generation.models_file": str(registry), "generation.device": "cpu"})
    with running_app(settings) as api:
        yield api


@pytest.fixture(scope="module")
def uploaded(api: Api, media: dict[str, Path]) -> dict[str, str]:
    return {name: api.upload(path)["id"] for name, path in media.items()}


def lipsync(api: Api, body: dict, tmp_path: Path) -> tuple[dict, Path]:
    resp = api.post("/v1/video/edit/lipsync", json=body)
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"], timeout_s=180)
    assert task["status"] == "succeeded", task
    return task, api.download(task["result"]["url"], tmp_path / "out.mp4")


def streams(path: Path) -> tuple[float, float, tuple[int, int], int]:
    """(video seconds, audio seconds, size, video frames) of a file."""
    with av.open(str(path)) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        frames = sum(1 for _ in c.decode(video))
        return (
            float(video.duration * video.time_base),
            float(audio.duration * audio.time_base),
            (video.width, video.height),
            frames,
        )


def face_region(frames: np.ndarray) -> tuple[slice, slice]:
    """Rows and columns around the face in every frame: the lower half of where the face moves."""
    cy = HEIGHT // 2 - FACE_PX // 2 + int(0.23 * FACE_PX)  # the astronaut's face centre: 23% down the photo
    x0 = int((1 - TRAVEL) / 2 * WIDTH - FACE_PX / 2 + 0.35 * FACE_PX)
    x1 = int((1 + TRAVEL) / 2 * WIDTH - FACE_PX / 2 + 0.52 * FACE_PX)
    return slice(cy, cy + int(0.12 * FACE_PX)), slice(x0, x1)


def test_the_mouth_changes_while_the_rest_of_the_frame_keeps_its_pixels(
    api: Api, uploaded: dict[str, str], media: dict[str, Path], tmp_path: Path
) -> None:
    body = {"input": {"asset_id": uploaded["face"]}, "audio": {"asset_id": uploaded["short_speech"]}, "quality": "high"}
    task, out = lipsync(api, body, tmp_path)

    video_s, audio_s, size, frames = streams(out)
    assert size == (WIDTH, HEIGHT)
    assert frames == 10 and abs(video_s - 1.0) <= 1 / FPS and abs(audio_s - 1.0) <= 1 / FPS
    source, result = decode(media["face"]).astype(int), decode(out).astype(int)
    rows, cols = face_region(source)
    mouth = np.abs(result[:, rows, cols] - source[:10, rows, cols]).mean()
    # Far from the mouth (the suit below the chin, the flag at the left): the source's pixels, up to the
    # noise of a second encode of a textured photo, and no shift of colour.
    for far in (np.s_[:, -40:], np.s_[:, :, :40]):
        difference = result[far] - source[:10][far]
        assert np.abs(difference).mean() < 3 and abs(difference.mean()) < 0.5, far
        assert mouth > 6 * np.abs(difference).mean(), (mouth, np.abs(difference).mean())
    assert task["result"]["lipsync"]["frames_with_face"] == FRAMES
    assert task["result"]["lipsync"]["looped"] is False


def test_audio_longer_than_the_video_plays_it_forwards_then_backwards(
    api: Api, uploaded: dict[str, str], media: dict[str, Path], tmp_path: Path
) -> None:
    body = {"input": {"asset_id": uploaded["face"]}, "audio": {"asset_id": uploaded["long_speech"]}}
    task, out = lipsync(api, body, tmp_path)

    video_s, audio_s, _, frames = streams(out)
    assert abs(video_s - 3.2) <= 1 / FPS and abs(audio_s - 3.2) <= 1.5 / FPS and frames == 32
    source, result = decode(media["face"]).astype(int), decode(out).astype(int)
    # The frame each output frame shows, recognised by the face's position (the rows above the mouth).
    top = slice(0, HEIGHT // 2 - FACE_PX // 2 + int(0.2 * FACE_PX))
    shown = [int(np.argmin([np.abs(r[top] - s[top]).mean() for s in source])) for r in result]
    assert shown == [pingpong(n, FRAMES) for n in range(frames)]
    assert task["result"]["lipsync"]["looped"] is True


def test_narration_text_is_spoken_and_the_output_lasts_as_long_as_the_speech(
    api: Api, uploaded: dict[str, str], tmp_path: Path
) -> None:
    body = {
        "input": {"asset_id": uploaded["face"]},
        "narration": {"text": "hello there", "voice": "en"},
        "watermark": {"text": "demo"},  # drawn in the same pass as the encode of the fed frames
    }
    task, out = lipsync(api, body, tmp_path)
    video_s, audio_s, _, _ = streams(out)
    spoken_s = task["result"]["lipsync"]["audio_s"]
    assert 0.4 < spoken_s < 3 and abs(video_s - spoken_s) <= 1 / FPS and abs(audio_s - spoken_s) <= 1.5 / FPS


def test_estimate_validates_like_a_create(api: Api, uploaded: dict[str, str]) -> None:
    body = {"input": {"asset_id": uploaded["face"]}, "audio": {"asset_id": uploaded["long_speech"]}}
    resp = api.post("/v1/video/edit/lipsync/estimate", json=body)
    assert resp.status_code == 200, resp.text
    assert abs(resp.json()["output_seconds"] - 3.2) <= 1 / FPS


@pytest.mark.parametrize(
    ("extra", "code", "field"),
    [
        ({}, "invalid_request", "audio"),
        ({"audio": "short_speech", "narration": {"text": "hi"}}, "invalid_request", "audio"),
        ({"audio": "silent"}, "input_no_audio", "audio"),
    ],
)
def test_bad_requests_are_422_naming_the_field(
    api: Api, uploaded: dict[str, str], extra: dict, code: str, field: str
) -> None:
    body: dict = {"input": {"asset_id": uploaded["face"]}}
    if "audio" in extra:
        body["audio"] = {"asset_id": uploaded[extra["audio"]]}
    if "narration" in extra:
        body["narration"] = extra["narration"]
    problem = assert_problem(api.post("/v1/video/edit/lipsync", json=body), 422, code)
    assert problem["errors"][0]["field"] == field


def test_a_video_without_a_face_fails_with_no_face_found(api: Api, uploaded: dict[str, str]) -> None:
    body = {"input": {"asset_id": uploaded["no_face"]}, "audio": {"asset_id": uploaded["short_speech"]}}
    resp = api.post("/v1/video/edit/lipsync", json=body)
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"], timeout_s=60)
    assert task["status"] == "failed" and task["error"]["code"] == "no_face_found", task
    assert "no face" in task["error"]["message"]


def test_the_models_listing_shows_the_lipsync_model_and_its_licence(api: Api) -> None:
    listing = api.get("/v1/video/models").json()["vision"]
    tiny = next(m for m in listing if m["name"] == "tiny-lips")
    assert tiny["kinds"] == ["lipsync"] and tiny["status"] == "installed" and tiny["default_for"] == ["lipsync"]
    assert tiny["licence"] == "test"
    absent = next(m for m in listing if m["name"] == "absent-lips")
    assert absent["status"] == "missing" and "videoapi models download absent-lips" in absent["install_hint"]


def test_a_batch_takes_lipsync_items_and_names_the_bad_one(api: Api, uploaded: dict[str, str]) -> None:
    good = {"input": {"asset_id": uploaded["face"]}, "audio": {"asset_id": uploaded["short_speech"]}}
    bad = {"input": {"asset_id": uploaded["face"]}}
    items = [{"kind": "lipsync", "request": good}, {"kind": "edit.lipsync", "request": bad}]
    problem = assert_problem(api.post("/v1/video/batch/edit", json={"items": items}), 422, "invalid_request")
    assert problem["errors"][0]["field"] == "items[1].request.audio"

    resp = api.post("/v1/video/batch/edit", json={"items": [items[0], {"kind": "edit.lipsync", "request": good}]})
    assert resp.status_code == 202, resp.text
    tasks = [api.wait(task_id, timeout_s=180) for task_id in resp.json()["task_ids"]]
    assert [t["status"] for t in tasks] == ["succeeded", "succeeded"], tasks
