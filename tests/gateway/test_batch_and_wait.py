"""Batches (all validated first, one transaction, ids in order) and `Prefer: wait=N`."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from tests.support.app import Api, assert_problem, running_app
from videoapi.settings import Settings

URL = {"url": "https://example.invalid/a.mp4"}
TRIM = {"input": URL, "start_s": 0, "end_s": 1}


def count_tasks(api: Api) -> int:
    return len(api.get("/v1/video/tasks", params={"limit": 100}).json()["items"])


def test_batch_edit_creates_all_in_order(queued_api: Callable[..., AbstractContextManager[Api]]) -> None:
    with queued_api(**{"gateway.default_max_priority": "high"}) as api:
        items = [
            {"kind": "trim", "request": TRIM},
            {"kind": "edit.transcode", "request": {"input": URL, "resolution": "480p", "priority": "high"}},
            {"kind": "trim", "request": {**TRIM, "end_s": 2}},
        ]
        resp = api.post("/v1/video/batch/edit", json={"items": items})
        assert resp.status_code == 202, resp.text
        body = resp.json()
        assert [t["id"] for t in body["tasks"]] == body["task_ids"]
        assert [t["kind"] for t in body["tasks"]] == ["edit.trim", "edit.transcode", "edit.trim"]
        assert [t["params"].get("end_s") for t in body["tasks"]] == [1, None, 2]
        assert body["tasks"][1]["priority"] == "high"
        for task_id in body["task_ids"]:
            assert api.get(f"/v1/video/tasks/{task_id}").json()["status"] == "queued"


def test_batch_item_errors_name_the_index_and_create_nothing(
    queued_api: Callable[..., AbstractContextManager[Api]],
) -> None:
    with queued_api() as api:
        items = [
            {"kind": "trim", "request": TRIM},
            {"kind": "trim", "request": {**TRIM, "start_s": 3, "end_s": 1}},
            {"kind": "trim", "request": {**TRIM, "speed": 2}},
            {"kind": "warp", "request": {}},
        ]
        body = assert_problem(api.post("/v1/video/batch/edit", json={"items": items}), 422, "invalid_batch")
        fields = [e["field"] for e in body["errors"]]
        assert fields[0].startswith("items[1].request.")
        assert any(f.startswith("items[2].request") for f in fields)
        assert "speed" in body["detail"]
        assert "items[3].kind" in fields
        assert count_tasks(api) == 0
        # A single bad item keeps its own code and status.
        one = assert_problem(api.post("/v1/video/batch/edit", json={"items": items[:2]}), 422)
        assert one["errors"][0]["field"].startswith("items[1].request.")
        assert one["detail"].startswith("items[1]: ")
        assert count_tasks(api) == 0


def test_batch_size_is_limited(queued_api: Callable[..., AbstractContextManager[Api]]) -> None:
    with queued_api(**{"gateway.max_batch_items": 3}) as api:
        items = [{"kind": "trim", "request": TRIM}] * 4
        body = assert_problem(api.post("/v1/video/batch/edit", json={"items": items}), 422, "limit_exceeded")
        assert "gateway.max_batch_items" in body["detail"]
        assert_problem(api.post("/v1/video/batch/edit", json={"items": []}), 422)
        assert api.post("/v1/video/batch/edit", json={"items": items[:3]}).status_code == 202


def test_batch_generate_validates_with_the_generation_kinds(
    queued_api: Callable[..., AbstractContextManager[Api]],
) -> None:
    with queued_api() as api:
        items = [{"kind": "trim", "request": TRIM}, {"kind": "text-to-video", "request": {"prompt": ""}}]
        body = assert_problem(api.post("/v1/video/batch/generate", json={"items": items}), 422)
        fields = [e["field"] for e in body["errors"]]
        assert fields[0] == "items[0].kind"  # an edit kind is not a generation kind
        assert any(f.startswith("items[1].request") for f in fields)
        assert count_tasks(api) == 0


def test_prefer_wait_returns_the_finished_task(make_settings: Callable[..., Settings]) -> None:
    with running_app(make_settings()) as api:
        # Loopback URLs are refused by the worker at once: the task fails within the wait.
        fast = {"input": {"url": "http://127.0.0.1:9/a.mp4"}, "start_s": 0, "end_s": 1}
        resp = api.post("/v1/video/edit/trim", json=fast, headers={"Prefer": "wait=20"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "failed"
        assert resp.headers["Preference-Applied"] == "wait=20"
        assert resp.headers["Location"] == f"/v1/video/tasks/{resp.json()['id']}"
        # Without the header: 202 at once.
        plain = api.post("/v1/video/edit/trim", json=fast)
        assert plain.status_code == 202 and "Preference-Applied" not in plain.headers


def test_prefer_wait_times_out_to_202_and_is_capped(
    queued_api: Callable[..., AbstractContextManager[Api]],
) -> None:
    with queued_api(**{"gateway.max_wait_s": 0.5}) as api:
        started = time.monotonic()
        resp = api.post("/v1/video/edit/trim", json=TRIM, headers={"Prefer": "respond-async, wait=600"})
        elapsed = time.monotonic() - started
        assert resp.status_code == 202
        assert resp.json()["status"] == "queued"
        assert resp.headers["Preference-Applied"] == "wait=0.5"
        assert 0.45 <= elapsed < 3
