"""The single-node / many-node shape: PostgreSQL, Redis or RabbitMQ, S3, and separate worker processes.

The API runs in the test process with embedded workers off; workers are real `videoapi worker`
processes, so killing one is a real crash.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import httpx
import psutil
import pytest

from tests.support.app import SLOW_TRANSCODE, running_app
from videoapi.settings import Settings

VIDEOAPI = str(Path(sys.executable).with_name("videoapi"))


class Cluster:
    def __init__(self, env: dict[str, str], settings: Settings, log_dir: Path) -> None:
        self.env = env
        self.settings = settings
        self.log_dir = log_dir
        self.workers: list[subprocess.Popen[bytes]] = []

    def start_worker(self, threads: int = 2) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"worker-{len(self.workers)}.log").open("wb")
        proc = subprocess.Popen(
            [VIDEOAPI, "worker", "--queues", "cpu", "--threads", str(threads)],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.log_dir.glob("*.log")))


@pytest.fixture
def cluster_factory(
    tmp_path: Path, make_settings: Callable[..., Settings], pg_url: str, s3_endpoint: str
) -> Iterator[Callable[[str, str], Cluster]]:
    clusters: list[Cluster] = []

    def make(broker: str, broker_url: str) -> Cluster:
        overrides = {
            "database.url": pg_url,
            "queue.broker": broker,
            "queue.url": broker_url,
            "queue.namespace": f"t{uuid.uuid4().hex[:10]}",
            "server.embedded_workers": False,
            "storage.backend": "s3",
            "storage.s3_endpoint": s3_endpoint,
            "storage.s3_access_key": "test",
            "storage.s3_secret_key": "testtest",
            "storage.s3_bucket": f"b{uuid.uuid4().hex[:10]}",
            "tasks.lease_s": 3.0,
            "tasks.heartbeat_s": 0.5,
            "tasks.reconcile_interval_s": 0.5,
        }
        settings = make_settings(**overrides)
        env = {
            "VIDEOAPI_" + k.upper().replace(".", "__"): (v if isinstance(v, str) else str(v).lower())
            for k, v in overrides.items()
        }
        env |= {"VIDEOAPI_SERVER__VAR_DIR": str(tmp_path / "worker-var"), "VIDEOAPI_SERVER__ENVIRONMENT": "test"}
        log_dir = tmp_path / "logs"
        log_dir.mkdir(exist_ok=True)
        cluster = Cluster(env, settings, log_dir)
        clusters.append(cluster)
        return cluster

    yield make
    for cluster in clusters:
        cluster.stop()


def ffmpeg_descendants(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(proc.pid).children(recursive=True) if "ffmpeg" in p.name()]
    except psutil.NoSuchProcess:
        return []


def all_ffmpeg() -> set[int]:
    return {p.pid for p in psutil.process_iter(["name"]) if "ffmpeg" in (p.info["name"] or "")}


def test_postgres_redis_s3_trim_end_to_end(cluster_factory: Callable[[str, str], Cluster], redis_url: str,
                                           clip: Path, tmp_path: Path) -> None:  # fmt: skip
    cluster = cluster_factory("redis", redis_url)
    cluster.start_worker()
    with running_app(cluster.settings) as api:
        assert api.client.get("/ready").json()["checks"] == {"database": "ok", "broker": "ok", "store": "ok"}
        asset = api.upload(clip)
        assert asset["url"].startswith("http://127.0.0.1:")  # an S3 presigned URL
        resp = api.post("/v1/video/edit/trim", json={"input": {"asset_id": asset["id"]}, "start_s": 0.5, "end_s": 1.5})
        task = api.wait(resp.json()["id"], timeout_s=60)
        assert task["status"] == "succeeded", (task, cluster.logs())
        out = tmp_path / "out.mp4"
        out.write_bytes(httpx.get(task["result"]["url"]).content)
        with av.open(str(out)) as c:
            assert abs(c.duration / 1e6 - 1.0) <= 0.08
            assert c.streams.audio and c.streams.video[0].codec_context.name == "h264"


def test_killed_worker_loses_no_task(cluster_factory: Callable[[str, str], Cluster], redis_url: str,
                                     slow_clip: Path) -> None:  # fmt: skip
    cluster = cluster_factory("redis", redis_url)
    first = cluster.start_worker(threads=1)
    with running_app(cluster.settings) as api:
        asset = api.upload(slow_clip)
        body = {"input": {"asset_id": asset["id"]}, **SLOW_TRANSCODE}
        task_id = api.post("/v1/video/edit/transcode", json=body).json()["id"]
        api.wait(task_id, until={"running"}, timeout_s=30)
        deadline = time.monotonic() + 20
        while not (victims := ffmpeg_descendants(first)):
            assert time.monotonic() < deadline, cluster.logs()
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)  # a crash: no cleanup, no ack
        first.wait()
        _, alive = psutil.wait_procs(victims, timeout=5)
        assert not alive, "ffmpeg outlived its worker"
        cluster.start_worker(threads=1)
        task = api.wait(task_id, timeout_s=90)
        assert task["status"] == "succeeded", (task, cluster.logs())
        assert task["attempts"] == 2
        metrics = api.client.get("/metrics").text
        assert 'videoapi_tasks_running{queue="cpu"} 0.0' in metrics
        assert 'videoapi_queue_depth{priority="1",queue="cpu"} 0.0' in metrics


def test_two_worker_processes_finish_every_task_exactly_once(cluster_factory: Callable[[str, str], Cluster],
                                                             redis_url: str, clip: Path) -> None:  # fmt: skip
    cluster = cluster_factory("redis", redis_url)
    cluster.start_worker()
    cluster.start_worker()
    with running_app(cluster.settings) as api:
        asset = api.upload(clip)
        body = {"input": {"asset_id": asset["id"]}, "start_s": 0.2, "end_s": 1.0}
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda _: api.post("/v1/video/edit/trim", json=body).json()["id"], range(16)))
        tasks = [api.wait(i, timeout_s=120) for i in ids]
        assert [t["status"] for t in tasks] == ["succeeded"] * 16, cluster.logs()
        assert all(t["attempts"] == 1 for t in tasks)
        assert len({t["result"]["asset_id"] for t in tasks}) == 16


def test_rabbitmq_broker_runs_tasks(cluster_factory: Callable[[str, str], Cluster], rabbitmq_url: str,
                                    clip: Path) -> None:  # fmt: skip
    cluster = cluster_factory("rabbitmq", rabbitmq_url)
    cluster.start_worker()
    with running_app(cluster.settings) as api:
        assert api.client.get("/ready").json()["checks"]["broker"] == "ok"
        asset = api.upload(clip)
        body = {"input": {"asset_id": asset["id"]}, "height": 120, "format": "mp4"}
        task = api.wait(api.post("/v1/video/edit/transcode", json=body).json()["id"], timeout_s=60)
        assert task["status"] == "succeeded", (task, cluster.logs())
        assert task["result"]["height"] == 120


def test_a_missing_broker_makes_ready_fail(make_settings: Callable[..., Settings], pg_url: str) -> None:
    settings = make_settings(
        **{"database.url": pg_url, "queue.broker": "redis", "queue.url": "redis://127.0.0.1:1/0",
           "server.embedded_workers": False}
    )  # fmt: skip
    with running_app(settings) as api:
        resp = api.client.get("/ready")
        assert resp.status_code == 503
        assert resp.json()["checks"]["broker"] == "fail"  # the reason (host, port) is logged, not shown
        assert resp.json()["checks"]["database"] == "ok"


@pytest.mark.ffmpeg
def test_killed_worker_mid_pipeline_step_reruns_the_step_and_the_pipeline_finishes(
    cluster_factory: Callable[[str, str], Cluster], redis_url: str, tmp_path: Path
) -> None:
    from tests.support.media import make_video

    # A third of slow_clip: upscaled it keeps ffmpeg busy long enough to be killed, and runs twice.
    clip = make_video(tmp_path / "four-seconds.mp4", duration_s=4.0, width=640, height=480)
    cluster = cluster_factory("redis", redis_url)
    first = cluster.start_worker(threads=1)
    with running_app(cluster.settings) as api:
        asset = api.upload(clip)
        body = {
            "steps": [
                {
                    "id": "big",
                    "kind": "edit.transcode",
                    "params": {"input": {"asset_id": asset["id"]}, **SLOW_TRANSCODE},
                },
                {"id": "cut", "kind": "edit.trim", "params": {"input": {"step": "big"}, "start_s": 0, "end_s": 1}},
            ]
        }
        resp = api.post("/v1/video/pipelines", json=body)
        assert resp.status_code == 202, resp.text
        pipeline_id = resp.json()["id"]
        big, cut = (s["task_id"] for s in resp.json()["steps"])
        api.wait(big, until={"running"}, timeout_s=30)
        deadline = time.monotonic() + 20
        while not (victims := ffmpeg_descendants(first)):
            assert time.monotonic() < deadline, cluster.logs()
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)  # a crash in the middle of the first step
        first.wait()
        psutil.wait_procs(victims, timeout=5)
        assert api.get(f"/v1/video/tasks/{cut}").json()["status"] == "waiting"
        cluster.start_worker(threads=1)
        deadline = time.monotonic() + 120
        while (done := api.get(f"/v1/video/pipelines/{pipeline_id}").json())["status"] == "running":
            assert time.monotonic() < deadline, (done, cluster.logs())
            time.sleep(0.2)
        assert done["status"] == "succeeded", (done, cluster.logs())
        first_step, second_step = done["steps"]
        assert first_step["attempts"] == 2 and second_step["attempts"] == 1
        cut_task = api.get(f"/v1/video/tasks/{cut}").json()
        assert cut_task["params"]["input"] == {"asset_id": first_step["result"]["asset_id"]}
        assert abs(second_step["result"]["duration"] - 1.0) < 0.15, second_step["result"]
