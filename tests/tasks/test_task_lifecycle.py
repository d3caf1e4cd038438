"""Task lifecycle on the embedded shape: list, cancel, time limits, retries, exactly-once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from tests.support.app import SLOW_TRANSCODE, Api, assert_problem, running_app
from videoapi.composition import build_services
from videoapi.errors import TransientError
from videoapi.queue import runtime as runtime_mod
from videoapi.queue.jobs import JobContext, JobOutput, JobSpec
from videoapi.settings import Settings

pytestmark = pytest.mark.ffmpeg


def ffmpeg_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "ffmpeg" in p.name()]


def trim(api: Api, asset_id: str, start: float = 0.2, end: float = 1.0, **extra: object) -> str:
    resp = api.post(
        "/v1/video/edit/trim", json={"input": {"asset_id": asset_id}, "start_s": start, "end_s": end, **extra}
    )
    assert resp.status_code == 202, resp.text
    return resp.json()["id"]


def test_list_filters_and_paginates_newest_first(api: Api, clip: Path) -> None:
    asset = api.upload(clip)
    ids = [trim(api, asset["id"]) for _ in range(5)]
    for task_id in ids:
        api.wait(task_id)
    seen, cursor = [], None
    while True:
        page = api.get("/v1/video/tasks", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    assert len(api.get("/v1/video/tasks", params={"status": "succeeded", "kind": "edit.trim"}).json()["items"]) == 5
    assert api.get("/v1/video/tasks", params={"status": "failed"}).json()["items"] == []
    assert_problem(api.get("/v1/video/tasks", params={"status": "bogus"}), 422)
    assert_problem(api.get("/v1/video/tasks", params={"cursor": "!!"}), 422, "invalid_cursor")


def test_many_tasks_submitted_at_once_all_finish_exactly_once(api: Api, clip: Path) -> None:
    asset = api.upload(clip)
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: trim(api, asset["id"]), range(12)))
    tasks = [api.wait(i, timeout_s=120) for i in ids]
    assert all(t["status"] == "succeeded" for t in tasks)
    assert all(t["attempts"] == 1 for t in tasks)
    assert len({t["result"]["asset_id"] for t in tasks}) == 12


def test_cancel_a_queued_task_is_immediate(make_settings: Callable[..., Settings], clip: Path) -> None:
    # No worker threads free: the long transcode holds the only one, so the trim stays queued.
    with running_app(make_settings(**{"server.worker_threads": 1})) as api:
        blocker = api.post(
            "/v1/video/edit/transcode", json={"input": {"asset_id": api.upload(clip)["id"]}, **SLOW_TRANSCODE}
        ).json()["id"]
        api.wait(blocker, until={"running"})
        queued = trim(api, api.upload(clip)["id"])
        resp = api.post(f"/v1/video/tasks/{queued}/cancel")
        assert resp.status_code == 202 and resp.json()["status"] == "canceled"
        assert_problem(api.post(f"/v1/video/tasks/{queued}/cancel"), 409, "task_not_cancelable")
        api.post(f"/v1/video/tasks/{blocker}/cancel")
        api.wait(blocker)


def test_cancel_running_task_kills_ffmpeg_within_two_seconds(api: Api, slow_clip: Path) -> None:
    asset = api.upload(slow_clip)
    task_id = api.post("/v1/video/edit/transcode", json={"input": {"asset_id": asset["id"]}, **SLOW_TRANSCODE}).json()[
        "id"
    ]
    deadline = time.monotonic() + 30
    while not ffmpeg_children():
        assert time.monotonic() < deadline, "ffmpeg never started"
        time.sleep(0.05)
    victims = ffmpeg_children()
    resp = api.post(f"/v1/video/tasks/{task_id}/cancel")
    assert resp.status_code == 202 and resp.json()["cancel_requested"]
    # From the accepted cancel: the POST's own latency on a loaded machine is not the kill's.
    started = time.monotonic()
    _, alive = psutil.wait_procs(victims, timeout=2.0)
    assert not alive, "ffmpeg still running 2 s after cancel"
    assert time.monotonic() - started < 2.0
    task = api.wait(task_id, timeout_s=5)
    assert task["status"] == "canceled"
    assert task["result"] is None


def test_an_edit_time_limit_grows_with_its_output_duration(make_settings: Callable[..., Settings], clip: Path) -> None:
    settings = make_settings(**{"tasks.time_limit_s": {"edit.transcode": 1.0}, "editing.time_limit_per_output_s": 10.0})
    with running_app(settings) as api:
        asset = api.upload(clip)
        resp = api.post("/v1/video/edit/transcode", json={"input": {"asset_id": asset["id"]}})
        task = api.wait(resp.json()["id"], timeout_s=30)
    assert task["status"] == "succeeded"

    async def load() -> float | None:
        services = await build_services(settings, None)
        try:
            return (await services.tasks.get(task["id"], None)).time_limit_s
        finally:
            await services.engine.dispose()

    assert asyncio.run(load()) == pytest.approx(1.0 + 10.0 * asset["media"]["duration_s"])


def test_time_limit_fails_the_task_and_stops_ffmpeg(make_settings: Callable[..., Settings], slow_clip: Path) -> None:
    settings = make_settings(**{"tasks.time_limit_s": {"edit.transcode": 1.0}, "editing.time_limit_per_output_s": 0.0})
    with running_app(settings) as api:
        asset = api.upload(slow_clip)
        resp = api.post("/v1/video/edit/transcode", json={"input": {"asset_id": asset["id"]}, **SLOW_TRANSCODE})
        task = api.wait(resp.json()["id"], timeout_s=20)
        assert task["status"] == "failed"
        assert task["error"]["code"] == "timeout"
        assert task["attempts"] == 1  # time limits are not retried
        psutil.wait_procs(ffmpeg_children(), timeout=2)
        assert not ffmpeg_children()


def test_transient_errors_are_retried_with_backoff_and_user_errors_are_not(
    make_settings: Callable[..., Settings],
) -> None:
    calls: dict[str, list[float]] = {}

    async def flaky(ctx: JobContext) -> JobOutput:
        calls.setdefault(ctx.task.id, []).append(time.monotonic())
        if ctx.task.params.get("fail_times", 0) >= ctx.task.attempts:
            raise TransientError("storage hiccup")
        return JobOutput(result={"ok": True})

    settings = make_settings(**{"tasks.retry_backoff_s": 0.5, "tasks.max_attempts": 3})
    with running_app(settings) as api:
        runtime = run_async_wait(lambda: runtime_mod._runtime)
        runtime.jobs["test.flaky"] = JobSpec("test.flaky", "cpu", flaky)
        services = api.client.app.state.services
        portal = api.client.blocking_portal
        owner = portal.call(services.keys.authenticate, api.key).id

        def create(fail_times: int) -> str:
            task = portal.call(
                lambda: services.tasks.create(
                    owner_id=owner, kind="test.flaky", queue="cpu", params={"fail_times": fail_times}
                )
            )
            return task.id

        once, always = create(1), create(5)
        ok = api.wait(once, timeout_s=20)
        assert ok["status"] == "succeeded" and ok["attempts"] == 2
        first, second = calls[once]
        assert second - first >= 0.5 * 0.8  # backoff with jitter
        failed = api.wait(always, timeout_s=30)
        assert failed["status"] == "failed" and failed["attempts"] == 3
        assert failed["error"]["code"] == "transient"
        del runtime.jobs["test.flaky"]


def run_async_wait(get: Callable[[], object], timeout_s: float = 5) -> object:
    deadline = time.monotonic() + timeout_s
    while (value := get()) is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return value
