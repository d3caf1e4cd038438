"""Visible watermarks: a text or a logo on every output of every edit kind, in the same pass; owners
can have a default one, and trial owners always get the operator's trial mark, even on stream-copy
edits (which are then re-encoded)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.support.app import Api, assert_problem, running_app, set_policy
from tests.support.media import ffmpeg, make_image
from videoapi.settings import Settings

pytestmark = pytest.mark.ffmpeg

GRAY = 128


@pytest.fixture(scope="module")
def gray_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wm") / "gray.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=gray:size=640x360:rate=25:duration=2",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(out),
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def wm_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from videoapi.settings import load_settings

    var = tmp_path_factory.mktemp("wm-var")
    settings = load_settings(
        environ={
            "VIDEOAPI_SERVER__VAR_DIR": str(var),
            "VIDEOAPI_SERVER__ENVIRONMENT": "test",
            "VIDEOAPI_SERVER__PUBLIC_URL": "http://testserver.local",
            "VIDEOAPI_TASKS__RECONCILE_INTERVAL_S": "0.5",
            "VIDEOAPI_GATEWAY__DEFAULT_RATE_PER_S": "1000",
            "VIDEOAPI_GATEWAY__DEFAULT_BURST": "1000",
        }
    )
    with running_app(settings) as api:
        yield api


def frame_at(path: Path, index: int = 10) -> np.ndarray:
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError("too few frames")


def corner_changed(img: np.ndarray, position: str = "bottom-right") -> bool:
    """Something other than flat gray is drawn in the corner, and the opposite corner is untouched."""
    h, w = img.shape[:2]
    br = img[int(h * 0.75) :, int(w * 0.6) :].astype(int)
    tl = img[: int(h * 0.25), : int(w * 0.4)].astype(int)
    drawn, clean = (br, tl) if position == "bottom-right" else (tl, br)
    return bool(np.abs(drawn - GRAY).max() > 60 and np.abs(clean - GRAY).max() < 20)


def run(api: Api, path: str, body: dict[str, Any], tmp: Path) -> Path:
    resp = api.post(path, json=body)
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"], timeout_s=60)
    assert task["status"] == "succeeded", task
    return api.download(task["result"]["url"], tmp / f"{task['id']}{Path(task['result']['url'].split('?')[0]).suffix}")


def test_text_and_logo_watermarks_are_drawn_in_the_same_pass(wm_api: Api, gray_clip: Path, tmp_path: Path) -> None:
    clip = wm_api.upload(gray_clip)["id"]
    plain = run(wm_api, "/v1/video/edit/transcode", {"input": {"asset_id": clip}}, tmp_path)
    assert not corner_changed(frame_at(plain))

    text = {"text": "© Studio 工作室 [50%]: it's", "opacity": 1.0, "size": 0.08}
    marked = run(wm_api, "/v1/video/edit/transcode", {"input": {"asset_id": clip}, "watermark": text}, tmp_path)
    assert corner_changed(frame_at(marked))

    logo = wm_api.upload(make_image(tmp_path / "logo.png", width=200, height=100, color="red"))["id"]
    body = {
        "input": {"asset_id": clip},
        "watermark": {"image": {"asset_id": logo}, "position": "top-left", "opacity": 1},
    }
    with_logo = run(wm_api, "/v1/video/edit/transcode", body, tmp_path)
    img = frame_at(with_logo)
    assert corner_changed(img, "top-left")
    # The logo is 15 % of the frame's width by default, at a 3 % margin, in its own colour.
    red = (img[..., 0] > 200) & (img[..., 1] < 60)
    _, xs = np.nonzero(red)
    assert abs((xs.max() - xs.min() + 1) - 0.15 * 640) <= 4 and xs.min() == pytest.approx(0.03 * 360, abs=2)


def test_trial_owners_get_the_trial_mark_everywhere(wm_api: Api, gray_clip: Path, tmp_path: Path) -> None:
    clip = wm_api.upload(gray_clip)["id"]
    set_policy(wm_api.settings, trial=True)
    try:
        # A fast trim copies the streams; for a trial owner it is re-encoded with the mark.
        fast = run(wm_api, "/v1/video/edit/trim", {"input": {"asset_id": clip}, "start_s": 0, "end_s": 1.5,
                                                   "mode": "fast"}, tmp_path)  # fmt: skip
        assert corner_changed(frame_at(fast, 5))
        # Asking for another mark does not remove the trial one.
        own = {"input": {"asset_id": clip}, "watermark": {"text": "mine", "position": "top-left"}}
        asked = run(wm_api, "/v1/video/edit/transcode", own, tmp_path)
        assert corner_changed(frame_at(asked))
        # Every image of a thumbnails task is marked too.
        resp = wm_api.post("/v1/video/edit/thumbnails", json={"input": {"asset_id": clip}, "mode": "frames",
                                                               "times_s": [0.2, 1.2]})  # fmt: skip
        task = wm_api.wait(resp.json()["id"])
        images = [wm_api.download(o["url"], tmp_path / f"t{i}.jpg") for i, o in enumerate(task["result"]["outputs"])]
        assert len(images) == 2
        for image in images:
            with av.open(str(image)) as container:
                assert corner_changed(next(container.decode(video=0)).to_ndarray(format="rgb24"))
    finally:
        set_policy(wm_api.settings, trial=False)


def test_an_owner_default_applies_when_a_request_has_none(wm_api: Api, gray_clip: Path, tmp_path: Path) -> None:
    clip = wm_api.upload(gray_clip)["id"]
    set_policy(wm_api.settings, watermark={"text": "ACME", "position": "top-left", "opacity": 1.0, "size": 0.1})
    try:
        # The audio edit copies the video when it can; the mark makes it re-encode.
        out = run(wm_api, "/v1/video/edit/audio", {"input": {"asset_id": clip}, "original_volume": 0.5}, tmp_path)
        assert corner_changed(frame_at(out), "top-left")
    finally:
        set_policy(wm_api.settings, watermark=None)


@pytest.mark.parametrize(
    ("watermark", "field"),
    [
        ({"text": "a", "image": {"asset_id": "x"}}, "watermark"),
        ({}, "watermark"),
        ({"text": "bad\u0007text"}, "watermark.text"),
        ({"text": "ok", "font": "No Such Font"}, "watermark.font"),
        ({"text": "ok", "color": "not-a-colour"}, "watermark.color"),
        ({"text": "n.u.d.e"}, "watermark.text"),
    ],
)
def test_bad_watermarks_are_422_naming_the_field(
    wm_api: Api, gray_clip: Path, watermark: dict[str, Any], field: str
) -> None:
    clip = wm_api.upload(gray_clip)["id"]
    resp = wm_api.post("/v1/video/edit/transcode", json={"input": {"asset_id": clip}, "watermark": watermark})
    body = assert_problem(resp, 422)
    assert body["errors"][0]["field"] == field, body


def test_owner_rules_and_output_threshold(
    wm_api: Api, gray_clip: Path, monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings]
) -> None:
    from videoapi.moderation import frames

    clip = wm_api.upload(gray_clip)["id"]
    rules = {"categories": {"brand": {"message": "competitor brands", "keywords": ["acmecorp"]}}}
    set_policy(wm_api.settings, moderation_rules=rules, output_threshold=0.3)
    try:
        body = {"input": {"asset_id": clip}, "watermark": {"text": "A.C.M.E.C.O.R.P"}}
        blocked = assert_problem(wm_api.post("/v1/video/edit/transcode", json=body), 422, "moderation_blocked")
        assert blocked["errors"][0]["category"] == "brand"

        # A detector that scores every frame 0.4: blocked at this owner's 0.3, not at the default 0.6.
        monkeypatch.setattr(frames, "nudenet_detector", lambda images: [
            [{"class": "FEMALE_BREAST_EXPOSED", "score": 0.4, "box": [0, 0, 1, 1]}] for _ in images
        ])  # fmt: skip
        resp = wm_api.post("/v1/video/edit/transcode", json={"input": {"asset_id": clip}})
        task = wm_api.wait(resp.json()["id"])
        assert task["status"] == "failed" and task["error"]["code"] == "moderation_blocked"
        set_policy(wm_api.settings, output_threshold=None)
        resp = wm_api.post("/v1/video/edit/transcode", json={"input": {"asset_id": clip}})
        assert wm_api.wait(resp.json()["id"])["status"] == "succeeded"
    finally:
        set_policy(wm_api.settings, moderation_rules=None, output_threshold=None)


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        (
            "/v1/video/edit/composite",
            lambda clip: {
                "timeline": {"tracks": [{"clips": [{"type": "video", "source": {"asset_id": clip}}]}]},
                "output": {"resolution": "480p", "aspect_ratio": "16:9"},
            },
        ),
        (
            "/v1/video/edit/subtitles",
            lambda clip: {"input": {"asset_id": clip}, "srt": "1\n00:00:00,000 --> 00:00:00,500\nhi\n", "mode": "burn"},
        ),
        (
            "/v1/video/edit/background",
            lambda clip: {"input": {"asset_id": clip}, "replacement": {"color": "#808080"}},
        ),
        (
            "/v1/video/edit/trim",
            lambda clip: {
                "input": {"asset_id": clip},
                "segments": [{"start_s": 0, "end_s": 0.6}, {"start_s": 1, "end_s": 1.6}],
            },
        ),
    ],
)
def test_every_kind_of_plan_gets_the_mark(
    wm_api: Api, gray_clip: Path, tmp_path: Path, path: str, extra: Callable[[str], dict[str, Any]]
) -> None:
    clip = wm_api.upload(gray_clip)["id"]
    body = {**extra(clip), "watermark": {"text": "MARK", "opacity": 1.0, "size": 0.1}}
    out = run(wm_api, path, body, tmp_path)
    assert corner_changed(frame_at(out, 12))


def test_generated_outputs_get_the_mark_too(wm_api: Api, gray_clip: Path, tmp_path: Path) -> None:
    clip = wm_api.upload(gray_clip)["id"]
    body = {"video": {"asset_id": clip}, "style": "sepia", "watermark": {"text": "AI", "opacity": 1.0, "size": 0.1}}
    out = run(wm_api, "/v1/video/generate/style-transfer", body, tmp_path)
    img = frame_at(out)
    h, w = img.shape[:2]
    corner, opposite = (
        img[int(h * 0.75) :, int(w * 0.6) :].astype(int),
        img[: int(h * 0.25), : int(w * 0.4)].astype(int),
    )
    assert np.abs(corner - opposite.mean(axis=(0, 1))).max() > 60  # sepia-toned, but the text stands out


def test_the_policy_cli_sets_and_shows_a_keys_policy(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from videoapi.cli import main as cli
    from videoapi.db.migrate import upgrade

    settings = make_settings()
    upgrade(settings.database_url)
    monkeypatch.setenv("VIDEOAPI_SERVER__VAR_DIR", str(settings.var_path))
    created = CliRunner().invoke(cli, ["keys", "create", "--name", "trial user"])
    assert created.exit_code == 0, created.output
    key_id = created.output.split("id: ", 1)[1].split()[0]
    rules = tmp_path / "rules.toml"
    rules.write_text('[categories.brand]\nkeywords = ["acmecorp"]\n')

    out = CliRunner().invoke(
        cli,
        ["keys", "policy", key_id, "--trial", "--watermark-text", "ACME", "--rules", str(rules),
         "--output-threshold", "0.4"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "trial: yes" in out.output and "'text': 'ACME'" in out.output
    assert "extra rules: brand" in out.output and "output threshold: 0.4" in out.output

    shown = CliRunner().invoke(cli, ["keys", "policy", key_id, "--no-trial", "--default-threshold"])
    assert "trial: no" in shown.output and "output threshold: default" in shown.output

    rules.write_text('[categories.x]\npatterns = ["(unclosed"]\n')
    broken = CliRunner().invoke(cli, ["keys", "policy", key_id, "--rules", str(rules)])
    assert broken.exit_code != 0 and "bad pattern" in broken.output


def test_the_logo_source_opens_only_whitelisted_demuxers(tmp_path: Path) -> None:
    """Given a "logo" that is a concat script naming another file, the logo's `movie=` source refuses it,
    as every ffmpeg input does: it never reads the file the script names."""
    from videoapi.outputs.watermark import VisibleWatermark, vf_for_frames

    secret = make_image(tmp_path / "someone-elses.png", color="red")
    logo = tmp_path / "logo.png"
    logo.write_text(f"ffconcat version 1.0\nfile '{secret.name}'\n")  # relative: concat's safe mode allows it
    vf, _ = vf_for_frames(VisibleWatermark(image={"url": "https://example.com/l.png"}), logo, tmp_path)
    clip = tmp_path / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:size=320x240:rate=5:duration=0.4", "-c:v", "libx264", "-preset",
           "ultrafast", "-pix_fmt", "yuv420p", str(clip))  # fmt: skip
    with pytest.raises(RuntimeError, match="Format not on whitelist"):
        ffmpeg("-i", str(clip), "-vf", vf, str(tmp_path / "out.mp4"))
