"""What /metrics says about queues, tasks, workers, webhooks, moderation, models, GPUs and disks.

Counters are process-wide, so tests compare a value before and after the behaviour they cause.
"""

from __future__ import annotations

import logging
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from tests.support.app import SLOW_TRANSCODE, Api, assert_problem, migrate, running_app
from tests.support.fake_nvml import FakeGpu, fake_pynvml
from tests.support.gateway import Receiver
from tests.support.waits import wait_until
from videoapi import __version__
from videoapi.db.base import utcnow
from videoapi.db.engine import make_engine, make_sessionmaker, transaction
from videoapi.observability.collectors import DiskCollector, GpuCollector, install_collectors
from videoapi.observability.metrics import REGISTRY
from videoapi.queue.names import QUEUES
from videoapi.settings import Settings
from videoapi.tasks.models import Task
from videoapi.tasks.service import TaskService
from videoapi.tasks.states import Status
from videoapi.tasks.stats import queue_snapshot, set_task_table_gauges

# Loopback inputs are refused by the worker at once: these tasks fail within milliseconds.
FAILING_TRIM = {"input": {"url": "http://127.0.0.1:9/a.mp4"}, "start_s": 0, "end_s": 1}


def value(text: str, name: str, **labels: str) -> float | None:
    """The sample `name` with exactly these labels in Prometheus text; None when absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def current(name: str, **labels: str) -> float:
    """This process's value of a sample (0 when the series does not exist yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def oldest_age(api: Api) -> float:
    return value(api.client.get("/metrics").text, "videoapi_queue_oldest_age_seconds", queue="cpu", priority="2")


# ---- queues, read from the task table ------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_settings(request: pytest.FixtureRequest, make_settings: Callable[..., Settings]) -> Settings:
    overrides = {}
    if request.param == "postgres":
        overrides["database.url"] = request.getfixturevalue("pg_url")
    settings = make_settings(**overrides)
    if request.param == "sqlite":
        migrate(settings.database_url)
    return settings


@pytest.fixture
async def tasks(db_settings: Settings) -> AsyncIterator[TaskService]:
    engine = make_engine(db_settings)
    yield TaskService(make_sessionmaker(engine), db_settings, lambda q, t, d: None)
    await engine.dispose()


async def create(svc: TaskService, priority: int = 1, queue: str = "cpu", **row: Any) -> Task:
    task = await svc.create(owner_id="o", kind="edit.trim", queue=queue, params={}, priority=priority)
    if row:
        async with transaction(svc.sessions) as session:
            await session.execute(update(Task).where(Task.id == task.id).values(**row))
    return task


@pytest.mark.anyio
async def test_queue_snapshot_counts_ready_delayed_and_running_tasks_by_queue_and_priority(tasks: TaskService) -> None:
    now = utcnow()
    await create(tasks, priority=1, created_at=now - timedelta(seconds=120))  # the oldest ready one
    await create(tasks, priority=1)
    await create(tasks, priority=2, not_before=now + timedelta(hours=1))  # waiting for a retry backoff
    await create(tasks, priority=0, status=Status.RUNNING, lease_owner="w", lease_expires_at=now)
    await create(tasks, priority=0, status=Status.SUCCEEDED, finished_at=now)  # not in any queue
    await create(tasks, queue="gpu", status=Status.RUNNING, lease_owner="w", lease_expires_at=now)
    await create(tasks, priority=7)  # outside the API's range, still reported

    snapshot = await queue_snapshot(tasks.sessions, QUEUES)

    rows = {(row.queue, row.priority): row for row in snapshot.rows}
    assert set(rows) == {(q, p) for q in ("cpu", "gpu") for p in (0, 1, 2)} | {("cpu", 7)}
    normal = rows[("cpu", 1)]
    assert (normal.ready, normal.delayed) == (2, 0)
    assert snapshot.oldest_age_s(normal) == pytest.approx(120, abs=10)
    high = rows[("cpu", 2)]
    assert (high.ready, high.delayed, snapshot.oldest_age_s(high)) == (0, 1, 0.0)
    assert (rows[("cpu", 0)].ready, rows[("cpu", 0)].delayed) == (0, 0)  # running and finished ones are not queued
    assert rows[("cpu", 7)].ready == 1
    assert all(row.ready == row.delayed == 0 for (queue, _), row in rows.items() if queue == "gpu")
    assert snapshot.running == {"cpu": 1, "gpu": 1}
    assert snapshot.active == {("edit.trim", "queued"): 4, ("edit.trim", "running"): 2}


@pytest.mark.anyio
async def test_the_scrape_counts_active_tasks_only_so_its_cost_does_not_grow_with_history(
    tasks: TaskService,
) -> None:
    # Finished tasks are history: counting them at every scrape read the whole table (154 ms per
    # scrape at 1M rows, scripts/bench/metrics.py). Workers count them as they finish instead.
    now = utcnow()
    for status in (Status.SUCCEEDED, Status.FAILED, Status.CANCELED):
        await create(tasks, status=status, finished_at=now)
    await create(tasks)

    snapshot = await queue_snapshot(tasks.sessions, QUEUES)
    set_task_table_gauges(snapshot)

    text = generate_latest(REGISTRY).decode()
    assert value(text, "videoapi_tasks", kind="edit.trim", status="queued") == 1
    for status in ("succeeded", "failed", "canceled"):
        assert value(text, "videoapi_tasks", kind="edit.trim", status=status) is None


def test_metrics_endpoint_exports_every_queue_and_priority_and_a_waiting_task(
    make_settings: Callable[..., Settings], pg_url: str, redis_url: str
) -> None:
    # No workers: what is submitted stays queued.
    settings = make_settings(
        **{
            "database.url": pg_url,
            "queue.broker": "redis",
            "queue.url": redis_url,
            "queue.namespace": f"t{uuid.uuid4().hex[:10]}",
            "server.embedded_workers": False,
            "gateway.default_max_priority": "high",
        }
    )
    with running_app(settings) as api:
        idle = api.client.get("/metrics").text
        for queue in QUEUES:
            assert value(idle, "videoapi_tasks_running", queue=queue) == 0
            for priority in ("0", "1", "2"):
                for name in ("videoapi_queue_depth", "videoapi_queue_delayed", "videoapi_queue_oldest_age_seconds"):
                    assert value(idle, name, queue=queue, priority=priority) == 0, (name, queue, priority)

        assert api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "priority": "high"}).status_code == 202
        wait_until(
            lambda: (
                value(api.client.get("/metrics").text, "videoapi_queue_oldest_age_seconds", queue="cpu", priority="2")
                >= 1.0
            ),
            timeout_s=10,
            what="the queued task to be at least 1 s old on /metrics",
        )
        waiting = api.client.get("/metrics").text
        assert value(waiting, "videoapi_queue_depth", queue="cpu", priority="2") == 1
        assert value(waiting, "videoapi_queue_oldest_age_seconds", queue="cpu", priority="2") >= 1.0
        assert value(waiting, "videoapi_queue_depth", queue="cpu", priority="1") == 0
        assert value(waiting, "videoapi_tasks", kind="edit.trim", status="queued") == 1


# ---- retries -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_transient_retries_and_expired_leases_both_count_as_retries(tasks: TaskService) -> None:
    transient = current("videoapi_task_retries_total", kind="edit.trim", reason="transient_error")
    expired = current("videoapi_task_retries_total", kind="edit.trim", reason="lease_expired")
    await create(tasks)
    await create(tasks)

    first = await tasks.claim("cpu", "w")
    assert first is not None and await tasks.retry_later(first, "w", ("transient", "hiccup"))
    second = await tasks.claim("cpu", "dead-worker")
    assert second is not None and second.id != first.id
    async with transaction(tasks.sessions) as session:
        await session.execute(
            update(Task).where(Task.id == second.id).values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await tasks.reconcile())["requeued"] == 1

    assert current("videoapi_task_retries_total", kind="edit.trim", reason="transient_error") == transient + 1
    assert current("videoapi_task_retries_total", kind="edit.trim", reason="lease_expired") == expired + 1


# ---- workers: busy time, threads, end-to-end latency ---------------------------------------------


def test_a_running_task_counts_as_busy_while_it_runs_and_its_latency_when_it_ends(
    make_settings: Callable[..., Settings], slow_clip: Path
) -> None:
    settings = make_settings(**{"tasks.heartbeat_s": 0.2, "server.worker_threads": 3})
    with running_app(settings) as api:
        text = api.client.get("/metrics").text
        assert value(text, "videoapi_worker_threads", queues="cpu,gpu") == 3
        busy_before = current("videoapi_worker_busy_seconds_total", queue="cpu")
        canceled_before = current("videoapi_task_latency_seconds_count", kind="edit.transcode", status="canceled")

        asset = api.upload(slow_clip)
        task = api.post("/v1/video/edit/transcode", json={"input": {"asset_id": asset["id"]}, **SLOW_TRANSCODE}).json()
        api.wait(task["id"], until={"running"})
        # Heartbeats add the time as it passes, not only when the task ends.
        wait_until(
            lambda: current("videoapi_worker_busy_seconds_total", queue="cpu") >= busy_before + 0.6,
            timeout_s=20,
            what="heartbeats adding busy time while the task runs",
        )
        during = api.client.get("/metrics").text
        assert value(during, "videoapi_worker_busy", queue="cpu") == 1
        assert value(during, "videoapi_worker_busy_seconds_total", queue="cpu") >= busy_before + 0.6
        assert api.post(f"/v1/video/tasks/{task['id']}/cancel").status_code == 202
        assert api.wait(task["id"])["status"] == "canceled"

        wait_until(
            lambda: current("videoapi_worker_busy", queue="cpu") == 0,
            timeout_s=20,
            what="the busy gauge going back to 0",
        )
        assert current("videoapi_task_latency_seconds_count", kind="edit.transcode", status="canceled") == (
            canceled_before + 1
        )
    # A stopped worker no longer reports threads.
    assert current("videoapi_worker_threads", queues="cpu,gpu") == 0


# ---- webhooks ------------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_webhook_attempts_count_by_outcome_and_are_timed(
    make_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    settings = make_settings(
        **{
            "gateway.webhook_allow_cidrs": ["127.0.0.0/8"],
            "gateway.webhook_allow_ports": [receiver.port],
            "gateway.webhook_poll_interval_s": 0.1,
            "gateway.webhook_retry_delays_s": [0.2],  # one retry, then give up
            "gateway.webhook_timeout_s": 5.0,
        }
    )
    outcomes = ("delivered", "failed", "exhausted")
    before = {o: current("videoapi_webhook_deliveries_total", outcome=o) for o in outcomes}
    timed_before = current("videoapi_webhook_delivery_seconds_count")
    with running_app(settings) as api:
        receiver.statuses = [500]  # fails once, then 200
        api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": receiver.url()})
        receiver.wait_for(2)
        wait_until(lambda: current("videoapi_webhook_deliveries_total", outcome="delivered") == before["delivered"] + 1,
                   timeout_s=20, what="the delivery being counted")  # fmt: skip
        receiver.statuses = [503, 503]  # fails twice: gives up
        api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": receiver.url()})
        receiver.wait_for(4)
        wait_until(lambda: current("videoapi_webhook_deliveries_total", outcome="exhausted") == before["exhausted"] + 1,
                   timeout_s=20, what="the exhausted delivery being counted")  # fmt: skip
        text = api.client.get("/metrics").text

    assert value(text, "videoapi_webhook_deliveries_total", outcome="delivered") == before["delivered"] + 1
    assert value(text, "videoapi_webhook_deliveries_total", outcome="failed") == before["failed"] + 2
    assert value(text, "videoapi_webhook_deliveries_total", outcome="exhausted") == before["exhausted"] + 1
    assert value(text, "videoapi_webhook_delivery_seconds_count") == timed_before + 4  # every HTTP attempt
    assert value(text, "videoapi_webhook_delivery_seconds_sum") > 0


# ---- moderation ----------------------------------------------------------------------------------


def test_a_refused_prompt_counts_as_a_prompt_block_of_its_category(api: Api) -> None:
    before = current("videoapi_moderation_blocks_total", stage="prompt", category="sexual")
    refused = api.post("/v1/video/generate/text-to-video", json={"prompt": "a n.u.d.e person"})
    assert_problem(refused, 422, "moderation_blocked")
    text = api.client.get("/metrics").text
    assert value(text, "videoapi_moderation_blocks_total", stage="prompt", category="sexual") == before + 1
    # An allowed request counts nothing.
    api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "watermark": {"text": "a calm lake"}})
    assert current("videoapi_moderation_blocks_total", stage="prompt", category="sexual") == before + 1


@pytest.mark.anyio
async def test_a_blocked_output_scan_counts_as_an_output_block_of_its_class(
    make_settings: Callable[..., Settings], clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from videoapi.moderation import frames

    monkeypatch.setattr(frames, "nudenet_detector", lambda images: [
        [{"class": "FEMALE_BREAST_EXPOSED", "score": 0.9, "box": [0, 0, 1, 1]}] for _ in images
    ])  # fmt: skip
    before = current("videoapi_moderation_blocks_total", stage="output", category="FEMALE_BREAST_EXPOSED")
    with pytest.raises(frames.ModerationBlocked):
        await frames.scan_configured(make_settings(), clip)
    assert current("videoapi_moderation_blocks_total", stage="output", category="FEMALE_BREAST_EXPOSED") == before + 1


# ---- model cache ---------------------------------------------------------------------------------


@pytest.mark.slow  # loads torch and diffusers pipelines: seconds before the first assert
def test_model_cache_counts_hits_and_misses_times_loads_and_shows_what_is_resident(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    from tests.support import tiny
    from videoapi.generation.cache import PipelineCache
    from videoapi.generation.registry import Constraints, ModelSpec

    source = tiny.build_ltx(tmp_path / "ltx")
    limits = Constraints(max_frames=9, default_frames=9, default_width=32, default_height=32, max_width=64,
                         max_height=64, default_fps=8, default_steps=2, max_steps=4, default_guidance=3.0)  # fmt: skip
    first, second = (
        ModelSpec(
            name=f"metrics-{uuid.uuid4().hex[:6]}",
            pipeline="LTXPipeline",
            source=str(source),
            kinds=["text-to-video"],
            constraints=limits,
        )
        for _ in range(2)
    )
    settings = make_settings(**{"generation.device": "cpu", "generation.max_loaded_models": 1})
    cache = PipelineCache()

    cache.get(settings, first)
    cache.get(settings, first)
    assert current("videoapi_model_cache_requests_total", model=first.name, result="miss") == 1
    assert current("videoapi_model_cache_requests_total", model=first.name, result="hit") == 1
    assert current("videoapi_model_load_seconds_count", model=first.name) == 1
    assert current("videoapi_model_load_seconds_sum", model=first.name) > 0
    assert current("videoapi_model_cache_loaded", model=first.name) == 1

    cache.get(settings, second)  # room for one model: the first is evicted
    assert current("videoapi_model_cache_loaded", model=first.name) == 0
    assert current("videoapi_model_cache_loaded", model=second.name) == 1
    cache.clear()
    assert current("videoapi_model_cache_loaded", model=second.name) == 0


# ---- GPU -----------------------------------------------------------------------------------------


def gpu_samples(collector: GpuCollector) -> dict[tuple[str, str, str], float]:
    return {
        (sample.name, sample.labels["gpu"], sample.labels["name"]): sample.value
        for family in collector.collect()
        for sample in family.samples
    }


def test_gpu_collector_reads_memory_and_utilisation_of_every_device(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = [
        FakeGpu(b"NVIDIA H100 80GB HBM3", used_bytes=20 << 30, total_bytes=80 << 30, utilisation_pct=75),
        FakeGpu("NVIDIA A100 MIG 1g.10gb", used_bytes=1 << 30, total_bytes=10 << 30, utilisation_pct=None),
    ]
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(gpus))
    assert gpu_samples(GpuCollector()) == {
        ("videoapi_gpu_memory_used_bytes", "0", "NVIDIA H100 80GB HBM3"): 20 << 30,
        ("videoapi_gpu_memory_total_bytes", "0", "NVIDIA H100 80GB HBM3"): 80 << 30,
        ("videoapi_gpu_utilization_ratio", "0", "NVIDIA H100 80GB HBM3"): 0.75,
        # Utilisation is not supported on a MIG instance: its memory is still reported.
        ("videoapi_gpu_memory_used_bytes", "1", "NVIDIA A100 MIG 1g.10gb"): 1 << 30,
        ("videoapi_gpu_memory_total_bytes", "1", "NVIDIA A100 MIG 1g.10gb"): 10 << 30,
    }


def test_without_a_driver_the_gpu_collector_is_silent_logs_once_and_never_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nvml = fake_pynvml([], init_fails=True)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    collector = GpuCollector()
    config = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))  # see debug lines
    try:
        with structlog.testing.capture_logs() as logs:
            assert gpu_samples(collector) == {}
            assert gpu_samples(collector) == {}
    finally:
        structlog.configure(**config)
    assert nvml.init_calls == 1  # type: ignore[attr-defined]
    assert [(e["event"], e["log_level"]) for e in logs] == [("nvml_unavailable", "debug")]
    assert "Driver Not Loaded" in logs[0]["error"]


def test_the_real_nvml_binding_reports_what_this_machine_has(make_settings: Callable[..., Settings]) -> None:
    import pynvml

    try:
        pynvml.nvmlInit()
        devices = pynvml.nvmlDeviceGetCount()
    except pynvml.NVMLError:
        devices = 0  # no driver (as on the CI machines): no GPU series, and the scrape still works
    install_collectors(make_settings())
    text = generate_latest(REGISTRY).decode()
    gpus = {
        s.labels["gpu"]
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "videoapi_gpu_memory_total_bytes"
    }
    assert gpus == {str(i) for i in range(devices)}
    assert value(text, "videoapi_build_info", version=__version__) == 1


# ---- disk, build and process --------------------------------------------------------------------


def test_disk_space_of_the_var_and_work_dirs_is_read_at_scrape_time(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    settings.var_path.mkdir(parents=True, exist_ok=True)  # the work dir does not exist yet: its parent counts
    install_collectors(settings)
    text = generate_latest(REGISTRY).decode()
    usage = shutil.disk_usage(settings.var_path)
    for path in (settings.var_path, settings.work_dir):
        assert value(text, "videoapi_disk_total_bytes", path=str(path)) == usage.total
        free = value(text, "videoapi_disk_free_bytes", path=str(path))
        assert free is not None and abs(free - usage.free) < 64 << 20  # other tests write meanwhile
    assert value(text, "process_resident_memory_bytes") > 0


def test_installing_collectors_again_replaces_the_earlier_ones(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    first, second = make_settings(**{"server.var_dir": str(tmp_path / "other")}), make_settings()
    install_collectors(first)
    install_collectors(second)  # no "Duplicated timeseries" error
    paths = {
        s.labels["path"]
        for f in text_string_to_metric_families(generate_latest(REGISTRY).decode())
        for s in f.samples
        if s.name == "videoapi_disk_free_bytes"
    }
    assert paths == {str(second.var_path), str(second.work_dir)}


def test_a_disk_reading_that_fails_drops_its_series_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.disk_usage

    def usage(path: Path) -> Any:
        if Path(path).name == "broken":
            raise PermissionError("denied")
        return real(path)

    monkeypatch.setattr(shutil, "disk_usage", usage)
    (tmp_path / "broken").mkdir()
    families = list(DiskCollector([tmp_path / "broken", tmp_path]).collect())
    assert {s.labels["path"] for f in families for s in f.samples} == {str(tmp_path)}
