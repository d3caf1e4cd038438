"""Pipelines on the embedded shape: the graph checked before anything runs, steps run as tasks once the
steps they read succeeded, failures, cancel and retry carried through the graph."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import av
import pytest

from tests.support.app import Api, assert_problem
from tests.support.media import make_video

pytestmark = pytest.mark.ffmpeg


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "clip.mp4", duration_s=2.0, width=160, height=120, fps=10)


def wait_pipeline(api: Api, pipeline_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        resp = api.get(f"/v1/video/pipelines/{pipeline_id}")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        if body["status"] != "running":
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def trim_then_transcode(asset_id: str, end_s: float = 1.0) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": "cut",
                "kind": "edit.trim",
                "params": {"input": {"asset_id": asset_id}, "start_s": 0, "end_s": end_s},
            },
            {"id": "small", "kind": "edit.transcode", "params": {"input": {"step": "cut"}, "width": 96, "height": 72}},
        ]
    }


def test_a_step_runs_on_the_output_of_the_step_it_reads(api: Api, video: Path, tmp_path: Path) -> None:
    asset = api.upload(video)
    resp = api.post("/v1/video/pipelines", json=trim_then_transcode(asset["id"]))
    assert resp.status_code == 202, resp.text
    created = resp.json()
    assert resp.headers["location"] == f"/v1/video/pipelines/{created['id']}"
    assert [s["id"] for s in created["steps"]] == ["cut", "small"]
    assert created["steps"][0]["status"] in ("queued", "running") and created["steps"][1]["status"] == "waiting"
    assert created["steps"][1]["depends_on"] == ["cut"]

    done = wait_pipeline(api, created["id"])
    assert done["status"] == "succeeded", done
    cut, small = done["steps"]
    assert small["status"] == "succeeded" and small["progress"] == 1.0
    # The second step's task reads the first step's output asset.
    task = api.get(f"/v1/video/tasks/{small['task_id']}").json()
    assert task["params"]["input"] == {"asset_id": cut["result"]["asset_id"]}
    out = api.download(small["result"]["url"], tmp_path / "out.mp4")
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        assert (stream.width, stream.height) == (96, 72)
        assert abs(c.duration / 1e6 - 1.0) < 0.15

    listed = api.get("/v1/video/pipelines", params={"limit": 1}).json()
    assert [p["id"] for p in listed["items"]] == [created["id"]]


@pytest.mark.parametrize(
    ("steps", "field", "code"),
    [
        (
            [{"id": "a", "kind": "edit.transcode", "params": {"input": {"step": "b"}}},
             {"id": "b", "kind": "edit.transcode", "params": {"input": {"step": "a"}}}],
            "steps[1].params.input", "pipeline_cycle",
        ),
        (
            [{"id": "a", "kind": "edit.transcode", "params": {"input": {"step": "nope"}}}],
            "steps[0].params.input", "unknown_step",
        ),
        (
            [{"id": "a", "kind": "edit.thumbnails", "params": {"input": {"asset_id": "ASSET"}}},
             {"id": "a", "kind": "edit.transcode", "params": {"input": {"asset_id": "ASSET"}}}],
            "steps[1].id", "invalid_request",
        ),
        (
            [{"id": "shots", "kind": "edit.thumbnails", "params": {"input": {"asset_id": "ASSET"}}},
             {"id": "mix", "kind": "edit.composite", "params": {
                 "timeline": {"tracks": [{"clips": [{"type": "video", "source": {"step": "shots"}, "length_s": 1}]}]},
                 "output": {"width": 160, "height": 120}}}],
            "steps[1].params.timeline.tracks[0].clips[0].source", "step_output_mismatch",
        ),
        (
            [{"id": "a", "kind": "edit.trim", "params": {"input": {"asset_id": "ASSET"}, "start_s": "zero"}}],
            "steps[0].params.start_s", "invalid_request",
        ),
        (
            [{"id": "a", "kind": "edit.nothing", "params": {}}],
            "steps[0].kind", "unknown_kind",
        ),
        (
            [{"id": "a", "kind": "edit.thumbnails", "params": {"input": {"asset_id": "ASSET"}}},
             {"id": "b", "kind": "edit.transcode", "params": {"step": "a"}}],
            "steps[1].params", "invalid_request",
        ),
        (
            [{"id": "a", "kind": "edit.trim", "params": {"input": {"asset_id": "ASSET"}, "end_s": 1}},
             {"id": "b", "kind": "edit.transcode", "params": {"input": {"step": "a"}, "webhook_url": "http://x"}}],
            "steps[1].params.webhook_url", "invalid_request",
        ),
    ],
)  # fmt: skip
def test_an_invalid_graph_is_a_422_naming_the_step_path(
    api: Api, video: Path, steps: list[dict[str, Any]], field: str, code: str
) -> None:
    asset = api.upload(video)
    body = {"steps": _with_asset(steps, asset["id"])}
    problem = assert_problem(api.post("/v1/video/pipelines", json=body), 422, code)
    assert field in [e["field"] for e in problem["errors"]], problem
    assert api.get("/v1/video/tasks").json()["items"] == []  # nothing was created


def test_a_failed_step_fails_its_dependents_and_retry_runs_them_again(api: Api) -> None:
    # A URL input is fetched by the worker: one whose host does not resolve fails the first step there.
    # (Deleting an uploaded input after the submission raced the worker, which had sometimes read it.)
    body = trim_then_transcode("unused")
    body["steps"][0]["params"]["input"] = {"url": "https://example.invalid/a.mp4"}
    body["steps"].append({"id": "poster", "kind": "edit.thumbnails", "params": {"input": {"step": "small"}}})
    resp = api.post("/v1/video/pipelines", json=body)
    assert resp.status_code == 202, resp.text
    pipeline_id = resp.json()["id"]
    done = wait_pipeline(api, pipeline_id)
    assert done["status"] == "failed", done
    cut, small, poster = done["steps"]
    assert cut["status"] == "failed" and cut["error"]["code"] == "fetch_failed", cut
    for step in (small, poster):
        assert step["status"] == "failed" and step["error"]["code"] == "dependency_failed", step
        assert step["attempts"] == 0

    problem = assert_problem(api.post(f"/v1/video/pipelines/{pipeline_id}/cancel"), 409, "pipeline_not_cancelable")
    assert "failed" in problem["detail"]
    # The host still does not resolve: the retried first step runs again, fails again, and so do its dependents.
    resp = api.post(f"/v1/video/pipelines/{pipeline_id}/retry")
    assert resp.status_code == 202, resp.text
    # The answer is what the retry committed, even when the worker has failed the step again since.
    assert resp.json()["status"] == "running"
    assert [s["status"] for s in resp.json()["steps"]] == ["queued", "waiting", "waiting"]
    again = wait_pipeline(api, pipeline_id)
    assert again["status"] == "failed"
    assert again["steps"][0]["attempts"] >= 1 and again["steps"][2]["error"]["code"] == "dependency_failed"


def test_cancel_cascades_to_every_step_and_retry_runs_the_canceled_ones(api: Api, video: Path) -> None:
    asset = api.upload(video)
    pipeline_id = api.post("/v1/video/pipelines", json=trim_then_transcode(asset["id"])).json()["id"]
    # The second step waits for an ffmpeg run of the first: it is still waiting when the cancel comes.
    resp = api.delete(f"/v1/video/pipelines/{pipeline_id}")
    assert resp.status_code == 202, resp.text
    done = wait_pipeline(api, pipeline_id)
    assert done["status"] == "canceled", done
    assert done["steps"][1]["status"] == "canceled" and done["steps"][1]["attempts"] == 0
    assert done["steps"][0]["status"] in ("canceled", "succeeded")

    resp = api.post(f"/v1/video/pipelines/{pipeline_id}/retry")
    assert resp.status_code == 202, resp.text
    again = wait_pipeline(api, pipeline_id)
    assert again["status"] == "succeeded", again
    assert [s["status"] for s in again["steps"]] == ["succeeded", "succeeded"]
    assert_problem(api.post(f"/v1/video/pipelines/{pipeline_id}/retry"), 409, "pipeline_not_retryable")


def test_another_owner_sees_no_pipeline(api: Api, video: Path) -> None:
    from tests.support.app import create_key

    asset = api.upload(video)
    pipeline_id = api.post("/v1/video/pipelines", json=trim_then_transcode(asset["id"])).json()["id"]
    other = api.as_key(create_key(api.settings, "other"))
    assert_problem(other.get(f"/v1/video/pipelines/{pipeline_id}"), 404, "pipeline_not_found")
    assert_problem(other.post(f"/v1/video/pipelines/{pipeline_id}/cancel"), 404, "pipeline_not_found")
    assert other.get("/v1/video/pipelines").json()["items"] == []


def _with_asset(value: Any, asset_id: str) -> Any:
    if isinstance(value, dict):
        return {k: _with_asset(v, asset_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_asset(v, asset_id) for v in value]
    return asset_id if value == "ASSET" else value


def test_a_template_render_is_a_step_whose_output_a_later_step_reads(api: Api, tmp_path: Path) -> None:
    template = api.post(
        "/v1/video/templates",
        json={
            "name": "card",
            "fields": {"title": {"type": "text", "required": True}},
            "timeline": {"tracks": [
                {"clips": [{"type": "color", "color": "#336699", "duration_s": 1}]},
                {"clips": [{"type": "text", "text": "{{title}}", "duration_s": 1}]},
            ]},
            "output": {"width": 160, "height": 120, "fps": 10},
        },
    ).json()  # fmt: skip
    body = {
        "steps": [
            {"id": "card", "kind": "template.render",
             "params": {"template_id": template["id"], "merge": {"title": "Hello"}}},
            {"id": "small", "kind": "edit.transcode", "params": {"input": {"step": "card"}, "width": 80, "height": 60}},
        ]
    }  # fmt: skip
    missing = {**body, "steps": [{**body["steps"][0], "params": {"template_id": template["id"]}}]}
    problem = assert_problem(api.post("/v1/video/pipelines", json=missing), 422)
    assert "steps[0].params.merge.title" in [e["field"] for e in problem["errors"]], problem

    resp = api.post("/v1/video/pipelines", json=body)
    assert resp.status_code == 202, resp.text
    done = wait_pipeline(api, resp.json()["id"])
    assert done["status"] == "succeeded", done
    card, small = done["steps"]
    assert card["kind"] == "edit.composite"
    with av.open(str(api.download(small["result"]["url"], tmp_path / "small.mp4"))) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (80, 60)


def test_a_template_asset_field_can_take_an_earlier_steps_output(api: Api, video: Path) -> None:
    template = api.post(
        "/v1/video/templates",
        json={
            "name": "framed",
            "fields": {"clip": {"type": "asset", "required": True}},
            "timeline": {"tracks": [{"clips": [{"type": "video", "source": {"asset_id": "{{clip}}"}}]}]},
            "output": {"width": 160, "height": 120, "fps": 10},
        },
    )
    assert template.status_code == 201, template.text
    asset = api.upload(video)
    body = {
        "steps": [
            {"id": "cut", "kind": "edit.trim",
             "params": {"input": {"asset_id": asset["id"]}, "start_s": 0, "end_s": 1}},
            {"id": "framed", "kind": "template.render",
             "params": {"template_id": template.json()["id"], "merge": {"clip": {"step": "cut"}}}},
        ]
    }  # fmt: skip
    resp = api.post("/v1/video/pipelines", json=body)
    assert resp.status_code == 202, resp.text
    done = wait_pipeline(api, resp.json()["id"])
    assert done["status"] == "succeeded", done
    cut, framed = done["steps"]
    task = api.get(f"/v1/video/tasks/{framed['task_id']}").json()
    assert task["params"]["timeline"]["tracks"][0]["clips"][0]["source"] == {"asset_id": cut["result"]["asset_id"]}
    assert abs(framed["result"]["duration"] - 1.0) < 0.15
