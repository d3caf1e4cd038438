"""The sync and async clients against the live app on a socket: upload, edits, wait, errors, retries, pages."""

from __future__ import annotations

import asyncio
import io
import subprocess
from pathlib import Path

import httpx
import pytest
from videoapi_client import (
    AsyncClient,
    AuthenticationError,
    Client,
    ConflictError,
    GoneError,
    NotFoundError,
    RateLimitedError,
    UnprocessableEntityError,
    verify_webhook,
)
from videoapi_client.models import CompositeRequest, InputRef, StepIn, TrimRequest

from tests.sdk.conftest import Server
from tests.support.gateway import make_key
from tests.support.media import decode, make_video, video_info

pytestmark = pytest.mark.ffmpeg


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("sdk-media") / "small.mp4", duration_s=2.0, width=160, height=90)


@pytest.fixture
def client(server: Server) -> Client:
    with Client(server.url, server.key) as client:
        yield client


def test_upload_streams_the_file_and_reports_progress(client: Client, small_clip: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    asset = client.upload(small_clip, progress=lambda sent, total: seen.append((sent, total)))
    size = small_clip.stat().st_size
    assert asset.size_bytes == size and asset.filename == "small.mp4"
    assert asset.media["video"]["width"] == 160
    assert seen[-1] == (size, size) and [s for s, _ in seen] == sorted(s for s, _ in seen)
    # a file object of unknown length (a pipe) goes up chunked
    with subprocess.Popen(["cat", str(small_clip)], stdout=subprocess.PIPE) as cat:
        again = client.upload(cat.stdout, filename="again.mp4")
    assert again.size_bytes == size and again.filename == "again.mp4"
    from_memory = client.upload(io.BytesIO(small_clip.read_bytes()), filename="memory.mp4")
    assert from_memory.size_bytes == size
    assert client.assets.get(asset.id).id == asset.id
    client.assets.delete(again.id)
    with pytest.raises(GoneError):
        client.assets.get(again.id)


def test_trim_then_wait_follows_the_event_stream_to_the_finished_task_and_its_output(
    client: Client, small_clip: Path, tmp_path: Path
) -> None:
    asset = client.upload(small_clip)
    estimate = client.edit.estimate("trim", input={"asset_id": asset.id}, start_s=0.5, end_s=1.5)
    assert estimate.valid and estimate.kind == "edit.trim"
    task = client.edit.trim(TrimRequest(input=InputRef(asset_id=asset.id), start_s=0.5, end_s=1.5))
    assert task.status in ("queued", "running") and task.kind == "edit.trim"

    done = client.wait(task.id, timeout_s=60)

    assert done.status == "succeeded", done.error
    # wait read the task's event stream (GET /v1/video/tasks/{id}/events) to its final `task` event.
    assert client._events_supported is True
    auth: list[str | None] = []
    client._http.event_hooks["request"].append(lambda r: auth.append(r.headers.get("authorization")))
    out = client.download(done.result["url"], tmp_path / "out.mp4")
    assert video_info(out)["frames"] == pytest.approx(25, abs=2)
    # another origin (here the same server under another name) gets the signed URL but not the key
    elsewhere = client.download(done.result["url"].replace("127.0.0.1", "localhost"), tmp_path / "again.mp4")
    assert elsewhere.read_bytes() == out.read_bytes()
    assert auth[0] is not None and auth[1] is None
    with pytest.raises(ConflictError) as err:
        client.tasks.cancel(task.id)
    assert err.value.code == "task_not_cancelable"


def test_creates_carry_an_idempotency_key_and_a_replay_returns_the_same_task(server: Server, small_clip: Path) -> None:
    sent: list[str | None] = []
    replayed: list[str | None] = []
    with Client(server.url, server.key) as client:
        client._http.event_hooks["request"].append(lambda r: sent.append(r.headers.get("idempotency-key")))
        client._http.event_hooks["response"].append(lambda r: replayed.append(r.headers.get("idempotent-replayed")))
        asset = client.upload(small_clip)
        body = {"input": {"asset_id": asset.id}, "format": "webm", "width": 160}
        first = client.edit.transcode(**body)
        second = client.edit.transcode(**body)
        assert first.id != second.id  # a fresh automatic key per call
        assert sent[1].startswith("sdk-") and sent[2].startswith("sdk-") and sent[1] != sent[2]
        mine = client.edit.transcode(**body, idempotency_key="order-4711")
        again = client.edit.transcode(**body, idempotency_key="order-4711")
        assert again.id == mine.id and replayed[-1] == "true"
        with pytest.raises(ConflictError) as err:
            client.edit.transcode(**{**body, "format": "mp4"}, idempotency_key="order-4711")
        assert err.value.code == "idempotency_key_reused"


def test_errors_are_typed_and_carry_the_problem_code(server: Server, client: Client) -> None:
    with pytest.raises(UnprocessableEntityError) as err:
        client.edit.trim(input={"asset_id": "nope"}, start_s=0, end_s=100000)
    assert err.value.status == 422 and err.value.code
    assert [e["field"] for e in err.value.errors] == ["end_s"]
    with pytest.raises(NotFoundError) as no_asset:
        client.edit.trim(input={"asset_id": "nope"}, start_s=0, end_s=1)
    assert no_asset.value.code == "asset_not_found"
    with pytest.raises(NotFoundError) as missing:
        client.tasks.get("no-such-task")
    assert missing.value.code == "task_not_found"
    with pytest.raises(NotFoundError):
        client.wait("no-such-task", timeout_s=5)  # the events route's 404 falls back to polling, which says why
    with Client(server.url, "vk_wrong") as anonymous, pytest.raises(AuthenticationError) as denied:
        anonymous.usage()
    assert denied.value.code
    with pytest.raises(TypeError, match="unknown_field"):
        client.edit.trim(input={"asset_id": "a"}, unknown_field=1)


def test_429_is_retried_after_its_retry_after(server: Server) -> None:
    key = make_key(server.settings, "slow", rate_per_s=1, burst=1)
    statuses: list[int] = []
    with Client(server.url, key) as client:
        client._http.event_hooks["response"].append(lambda r: statuses.append(r.status_code))
        client.usage()
        usage = client.usage()  # the bucket is empty: 429, Retry-After: 1, then 200
        assert usage.total_tasks == 0
    assert statuses[:2] == [200, 429] and statuses[-1] == 200
    with Client(server.url, make_key(server.settings, "impatient", rate_per_s=1, burst=1), max_retries=0) as impatient:
        impatient.usage()
        with pytest.raises(RateLimitedError) as err:
            impatient.usage()
    assert err.value.code == "rate_limited" and int(err.value.headers["retry-after"]) >= 1


def test_iterate_walks_every_page(client: Client) -> None:
    made = {
        client.edit.composite(
            timeline={"tracks": [{"clips": [{"type": "color", "color": "red", "duration_s": 0.2}]}]},
            output={"width": 64, "height": 64, "fps": 5},
            priority="low",
        ).id
        for _ in range(3)
    }
    listed = [t.id for t in client.tasks.iterate(kind="edit.composite", page_size=2)]
    assert made <= set(listed) and len(listed) == len(set(listed))
    first = client.tasks.list(kind="edit.composite", limit=2)
    assert len(first.items) == 2 and first.next_cursor


def test_webhook_from_the_server_verifies_with_the_keys_secret(server: Server, client: Client) -> None:
    task = client.edit.composite(
        timeline={"tracks": [{"clips": [{"type": "color", "color": "blue", "duration_s": 0.2}]}]},
        output={"width": 64, "height": 64, "fps": 5},
        webhook_url=server.receiver.url("/sdk"),
    )
    client.wait(task.id, timeout_s=60)
    secrets = client.webhooks.secrets().secrets
    request = next(r for r in server.receiver.wait_for(1) if r["path"] == "/sdk")
    event = verify_webhook(secrets, request["headers"], request["body"])
    assert event.type == "task.succeeded" and event.data.id == task.id
    assert client.webhooks.deliveries(task.id).items[0].status == "succeeded"


def test_async_client_composes_waits_and_reads_usage(server: Server, tmp_path: Path) -> None:
    async def run() -> tuple[str, Path, float]:
        async with AsyncClient(server.url, server.key) as client:
            request = CompositeRequest(
                timeline={"tracks": [{"clips": [{"type": "color", "color": "#00ff00", "duration_s": 0.4}]}]},
                output={"width": 64, "height": 64, "fps": 10},
            )
            task = await client.edit.composite(request)
            done = await client.wait(task.id, timeout_s=60)
            out = await client.download(done.result["url"], tmp_path / "green.mp4")
            usage = await client.usage()
            pages = [t.id async for t in client.tasks.iterate(kind="edit.composite", page_size=1)]
            assert task.id in pages
            return done.status, out, usage.total_credits

    status, out, credits = asyncio.run(run())
    assert status == "succeeded" and credits > 0
    r, g, b = decode(out)[0][32][32]
    assert g > 200 and r < 60 and b < 60


def test_async_upload_streams_with_progress(server: Server, small_clip: Path) -> None:
    seen: list[int] = []

    async def run() -> int:
        async with AsyncClient(server.url, server.key) as client:
            asset = await client.upload(small_clip, progress=lambda sent, _total: seen.append(sent))
            return asset.size_bytes

    assert asyncio.run(run()) == small_clip.stat().st_size == seen[-1]


def test_a_non_problem_error_body_still_raises_by_status(server: Server) -> None:
    with Client(server.url, server.key) as client, pytest.raises(NotFoundError) as err:
        client.download(server.url + "/nothing-here", Path("/dev/null"))
    assert err.value.status == 404
    assert isinstance(err.value.headers, httpx.Headers)


def test_classical_style_transfer_and_a_batch_through_the_sdk(client: Client, small_clip: Path) -> None:
    assert "sepia" in client.generate.models().classical_styles
    asset = client.upload(small_clip)
    styled = client.generate.style_transfer(video={"asset_id": asset.id}, style="sepia")
    color = {"type": "color", "color": "white", "duration_s": 0.2}
    item = {
        "kind": "composite",
        "request": {"timeline": {"tracks": [{"clips": [color]}]}, "output": {"width": 64, "height": 64}},
    }
    batch = client.batch.edit([item, item])
    assert len(batch.task_ids) == 2 and [t.id for t in batch.tasks] == batch.task_ids
    for task_id in [styled.id, *batch.task_ids]:
        assert client.wait(task_id, timeout_s=60).status == "succeeded"


def test_wait_polls_when_the_server_has_no_event_stream(client: Client, small_clip: Path) -> None:
    asset = client.upload(small_clip)
    task = client.edit.trim(TrimRequest(input=InputRef(asset_id=asset.id), start_s=0.0, end_s=0.5))
    client._events_supported = False  # what wait remembers after a 404 `not_found` from an older server
    done = client.wait(task.id, timeout_s=60)
    assert done.status == "succeeded", done.error
    assert done.result is not None and done.result["duration"] == pytest.approx(0.5, abs=0.05)


def test_analyze_scenes_and_reframe_are_reachable_from_the_client(client: Client, small_clip: Path) -> None:
    asset = client.upload(small_clip)
    scenes = client.wait(client.analyze.scenes(input={"asset_id": asset.id}).id, timeout_s=120)
    assert scenes.status == "succeeded", scenes.error
    assert scenes.result is not None and len(scenes.result["scenes"]) >= 1
    reframed = client.wait(client.edit.reframe(input={"asset_id": asset.id}, aspect="9:16").id, timeout_s=120)
    assert reframed.status == "succeeded", reframed.error
    assert reframed.result is not None and reframed.result["height"] > reframed.result["width"]


def test_transcribe_is_reachable_from_the_client(client: Client, small_clip: Path) -> None:
    asset = client.upload(small_clip)
    task = client.wait(client.transcribe(input={"asset_id": asset.id}, language="en").id, timeout_s=180)
    assert task.status == "succeeded", task.error
    assert task.result is not None and task.result["language"] == "en" and "segments" in task.result


def test_a_pipeline_runs_its_steps_and_retries_what_failed(client: Client, small_clip: Path) -> None:
    asset = client.upload(small_clip)
    steps = [
        StepIn(id="cut", kind="edit.trim", params={"input": {"asset_id": asset.id}, "start_s": 0, "end_s": 1}),
        StepIn(id="poster", kind="edit.thumbnails", params={"input": {"step": "cut"}}),
    ]
    created = client.pipelines.create(steps, idempotency_key="pipeline-1")
    assert [s.id for s in created.steps] == ["cut", "poster"] and created.steps[1].status == "waiting"
    assert client.pipelines.create(steps, idempotency_key="pipeline-1").id == created.id
    client.wait(created.steps[1].task_id, timeout_s=60)
    done = client.pipelines.get(created.id)
    assert done.status == "succeeded" and [s.status for s in done.steps] == ["succeeded", "succeeded"]
    assert client.pipelines.list(limit=1).items[0].id == created.id
    with pytest.raises(ConflictError) as err:
        client.pipelines.retry(created.id)
    assert err.value.code == "pipeline_not_retryable"
    with pytest.raises(ConflictError) as err:
        client.pipelines.cancel(created.id)
    assert err.value.code == "pipeline_not_cancelable"
