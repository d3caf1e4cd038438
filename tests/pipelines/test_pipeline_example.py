"""The example of docs/api/pipelines.md, end to end: text-to-video with the tiny generation model, a
composite with a title, narration, captions transcribed from it, and delivery to a bucket on a real S3
protocol server (moto)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import boto3
import pytest

from tests.generation.conftest import _LTX_LIMITS, _model
from tests.support.app import Api, running_app
from tests.support.generation import gen_settings
from videoapi.editing.captions import CueLimits, parse_srt

pytestmark = [pytest.mark.ffmpeg, pytest.mark.slow]

EXAMPLE = Path(__file__).parents[2] / "docs" / "api" / "pipelines.md"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str) -> Iterator[Api]:
    from tests.support import tiny  # torch and diffusers take seconds to import: only here

    root = tmp_path_factory.mktemp("pipeline-example")
    ltx = tiny.build_ltx(root / "ltx")
    registry = root / "models.toml"
    # The tiny generation model, and the bundled Whisper tiny.en of config/models.toml for the transcript.
    bundled = (Path(__file__).parents[2] / "config" / "models.toml").read_text(encoding="utf-8")
    whisper = bundled[bundled.index('[models."whisper-tiny.en"]') :].split("\n\n", 1)[0]
    registry.write_text(
        '[defaults]\ntext-to-video = "tiny-ltx"\nasr = "whisper-tiny.en"\n'
        + _model("tiny-ltx", "LTXPipeline", ltx, ["text-to-video"], _LTX_LIMITS, call={"max_sequence_length": 16})
        + "\n"
        + whisper
        + "\n",
        encoding="utf-8",
    )
    settings = gen_settings(
        root / "var",
        registry,
        **{
            "destinations.allow_cidrs": ["127.0.0.0/8"],
            "destinations.allow_ports": [],
            "destinations.poll_interval_s": 0.1,
            # What is checked is the chain of steps; scanning the frames of each output is not.
            "moderation.scan_outputs": False,
        },
    )
    with running_app(settings) as api:
        yield api


def documented_example() -> dict[str, Any]:
    """The pipeline JSON of the docs' end-to-end example (the block after its marker)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    block = text.split("<!-- example: end-to-end -->", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    return json.loads(block)


def test_text_to_video_title_captions_then_delivery_to_a_bucket(api: Api, s3_endpoint: str, tmp_path: Path) -> None:
    s3 = boto3.client(
        "s3", endpoint_url=f"http://{s3_endpoint}", aws_access_key_id="test", aws_secret_access_key="test",
        region_name="us-east-1",
    )  # fmt: skip
    s3.create_bucket(Bucket="pipeline-out")
    resp = api.post(
        "/v1/video/destinations",
        json={"endpoint": f"http://{s3_endpoint}", "bucket": "pipeline-out", "prefix": "videos/",
              "access_key": "AKIAEXAMPLEKEY123456", "secret_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    body = documented_example()
    body["destinations"] = [{"id": resp.json()["id"]}]

    resp = api.post("/v1/video/pipelines", json=body)
    assert resp.status_code == 202, resp.text
    pipeline_id = resp.json()["id"]
    deadline = time.monotonic() + 120
    while (done := api.get(f"/v1/video/pipelines/{pipeline_id}").json())["status"] == "running":
        assert time.monotonic() < deadline, done
        time.sleep(0.2)
    steps = {s["id"]: s for s in done["steps"]}
    assert done["status"] == "succeeded", done
    assert list(steps) == ["clip", "title", "voice", "captions"]

    # The narration was transcribed, and its words are the captions: the SRT output parses and says them.
    captions_task = api.get(f"/v1/video/tasks/{steps['captions']['task_id']}").json()
    assert captions_task["params"]["input"] == {"asset_id": steps["voice"]["result"]["asset_id"]}
    assert "morning" in captions_task["result"]["transcript"]["text"].lower(), captions_task["result"]
    (srt,) = [o for o in captions_task["result"]["outputs"] if o["content_type"].startswith("application/x-subrip")]
    srt_text = api.download(srt["url"], tmp_path / "captions.srt").read_text(encoding="utf-8")
    cues = parse_srt(srt_text, CueLimits(max_cues=100, max_text_chars=1000))
    assert "morning" in " ".join(c.text for c in cues).lower(), cues

    # The final video: the composite's frame and length, the narration's audio.
    out = api.download(steps["captions"]["result"]["url"], tmp_path / "final.mp4")
    with av.open(str(out)) as c:
        video = c.streams.video[0]
        assert (video.width, video.height) == (160, 120)
        assert c.streams.audio, "the narration is in the final video"
        assert abs(c.duration / 1e6 - 4.0) < 0.3

    # Only the final step is delivered, to the bucket, byte for byte.
    deadline = time.monotonic() + 30
    while (log := api.get(f"/v1/video/tasks/{captions_task['id']}/deliveries").json()["items"]) and log[0][
        "status"
    ] in ("waiting", "pending"):
        assert time.monotonic() < deadline, log
        time.sleep(0.1)
    assert [d["delivered"] for d in log] == [True], log
    key = f"videos/{captions_task['id']}/output.mp4"
    assert key in log[0]["object_keys"]
    assert s3.get_object(Bucket="pipeline-out", Key=key)["Body"].read() == out.read_bytes()
    for step in ("clip", "title", "voice"):
        assert api.get(f"/v1/video/tasks/{steps[step]['task_id']}/deliveries").json()["items"] == []
