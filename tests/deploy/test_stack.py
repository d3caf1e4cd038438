"""The compose stack's shape, run on this machine without containers.

PostgreSQL, Redis and a local S3 server (moto) stand in for the compose services; the API and one
CPU worker are separate processes started with the image's entrypoint and the same commands and
environment as docker-compose.yml. A composite job runs while the worker is killed and restarted:
nothing is lost, and the metrics of both processes say what happened.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import psutil
import pytest

from tests.support.app import free_port

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"


class Stack:
    """Processes of one install; each gets its own var dir, as containers get their own filesystems."""

    def __init__(self, env: dict[str, str], base: Path) -> None:
        self.env = env
        self.base = base
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def command(self, *args: str, name: str = "cli") -> str:
        out = subprocess.run(
            [str(ENTRYPOINT), *args], env=self._env(name), capture_output=True, timeout=120, check=False
        )
        assert out.returncode == 0, out.stderr.decode(errors="replace")[-3000:]
        return out.stdout.decode()

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.base / f"{name}.log").open("wb")
        proc = subprocess.Popen([str(ENTRYPOINT), *args], env=self._env(name), stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def _env(self, name: str) -> dict[str, str]:
        # `videoapi` from this venv on PATH, as the image puts /opt/venv/bin on its PATH.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, **self.env, "PATH": path, "VIDEOAPI_SERVER__VAR_DIR": str(self.base / name / "var")}

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}" for p in sorted(self.base.glob("*.log"))
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200 within {timeout_s} s")


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text; 0 when the series is absent."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(2))
    return 0.0


@pytest.fixture
def stack(tmp_path: Path, pg_url: str, redis_url: str, s3_endpoint: str) -> Iterator[Stack]:
    port = free_port()
    env = {
        # As in docker-compose.yml's x-videoapi block, with localhost for the service names.
        "VIDEOAPI_SERVER__ENVIRONMENT": "test",
        "VIDEOAPI_SERVER__EMBEDDED_WORKERS": "false",
        "VIDEOAPI_SERVER__HOST": "127.0.0.1",
        "VIDEOAPI_SERVER__PORT": str(port),
        "VIDEOAPI_SERVER__PUBLIC_URL": f"http://127.0.0.1:{port}",
        "VIDEOAPI_DATABASE__URL": pg_url,
        "VIDEOAPI_QUEUE__BROKER": "redis",
        "VIDEOAPI_QUEUE__URL": redis_url,
        "VIDEOAPI_QUEUE__NAMESPACE": f"stack{uuid.uuid4().hex[:8]}",
        "VIDEOAPI_STORAGE__BACKEND": "s3",
        "VIDEOAPI_STORAGE__S3_ENDPOINT": s3_endpoint,
        "VIDEOAPI_STORAGE__S3_ACCESS_KEY": "test",
        "VIDEOAPI_STORAGE__S3_SECRET_KEY": "testtest",
        "VIDEOAPI_STORAGE__S3_BUCKET": f"stack{uuid.uuid4().hex[:8]}",
        # Short leases, so that the killed worker's task comes back within seconds.
        "VIDEOAPI_TASKS__LEASE_S": "3",
        "VIDEOAPI_TASKS__RECONCILE_INTERVAL_S": "0.5",
        "VIDEOAPI_WAIT_FOR": f"127.0.0.1:5432 127.0.0.1:6379 {s3_endpoint}",
    }
    stack = Stack(env, tmp_path)
    yield stack
    stack.stop()


def ffmpeg_children(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(proc.pid).children(recursive=True) if "ffmpeg" in p.name()]
    except psutil.NoSuchProcess:
        return []


def composite_body(a: str, b: str) -> dict[str, object]:
    # Two 12 s clips with a crossfade and a caption, upscaled at high quality: several seconds of ffmpeg.
    return {
        "timeline": {
            "tracks": [
                {
                    "clips": [
                        {"type": "video", "source": {"asset_id": a}},
                        {"type": "video", "source": {"asset_id": b},
                         "transition": {"type": "crossfade", "duration_s": 1}},
                    ]
                },
                {"clips": [{"type": "text", "text": "stack test 字幕", "start_s": 1, "duration_s": 4, "size": 40}]},
            ]
        },
        "output": {"width": 1280, "height": 960, "fps": 25, "quality": "high"},
    }  # fmt: skip


def test_composite_survives_a_killed_worker_on_the_compose_shape(stack: Stack, slow_clip: Path, tmp_path: Path) -> None:
    # Given: migrations run once by the one-shot service, then the API and one CPU worker.
    stack.command("db", "upgrade", name="migrate")
    key = stack.command("keys", "create", "--name", "stack", name="cli").strip().splitlines()[-1]
    api_port = stack.env["VIDEOAPI_SERVER__PORT"]
    base = f"http://127.0.0.1:{api_port}"
    stack.start("api", "serve")
    first_metrics, second_metrics = free_port(), free_port()
    first = stack.start("worker-1", "worker", "--queues", "cpu", "--threads", "1", "--metrics-port", str(first_metrics))
    wait_http(f"{base}/ready")
    wait_http(f"http://127.0.0.1:{first_metrics}/metrics")
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    with slow_clip.open("rb") as f:
        a = client.post("/v1/video/assets", files={"file": ("a.mp4", f, "video/mp4")}).json()["id"]
    with slow_clip.open("rb") as f:
        b = client.post("/v1/video/assets", files={"file": ("b.mp4", f, "video/mp4")}).json()["id"]

    # When: the worker dies (SIGKILL: no cleanup, no ack) while ffmpeg renders the composite...
    resp = client.post("/v1/video/edit/composite", json=composite_body(a, b))
    assert resp.status_code == 202, resp.text
    task_id = resp.json()["id"]
    deadline = time.monotonic() + 60
    while not (victims := ffmpeg_children(first)):
        assert first.poll() is None and time.monotonic() < deadline, stack.logs()
        time.sleep(0.05)
    assert client.get(f"/v1/video/tasks/{task_id}").json()["status"] == "running"
    during = httpx.get(f"{base}/metrics").text
    assert metric(during, "videoapi_tasks_running", queue="cpu") == 1
    assert metric(during, "videoapi_tasks", kind="edit.composite", status="running") == 1
    first.send_signal(signal.SIGKILL)
    first.wait()
    _, alive = psutil.wait_procs(victims, timeout=5)
    assert not alive, "ffmpeg outlived its worker"

    # ...and a new worker process starts in its place.
    stack.start("worker-2", "worker", "--queues", "cpu", "--threads", "1", "--metrics-port", str(second_metrics))
    deadline = time.monotonic() + 180
    while (task := client.get(f"/v1/video/tasks/{task_id}").json())["status"] not in {
        "succeeded",
        "failed",
        "canceled",
    }:
        assert time.monotonic() < deadline, (task, stack.logs())
        time.sleep(0.3)

    # Then: the task ran again and succeeded, and its output is a real video of the right shape.
    assert task["status"] == "succeeded", (task, stack.logs())
    assert task["attempts"] == 2
    out = tmp_path / "out.mp4"
    out.write_bytes(httpx.get(task["result"]["url"], timeout=30).content)
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.codec_context.name, v.width, v.height) == ("h264", 1280, 960)
        assert c.streams.audio
        assert abs(c.duration / 1e6 - 23.0) <= 0.1  # 12 + 12 - 1 s of crossfade

    # The metrics say what happened: the API's (read from the task table) and the new worker's own.
    api_metrics = httpx.get(f"{base}/metrics").text
    assert metric(api_metrics, "videoapi_queue_depth", queue="cpu") == 0
    assert metric(api_metrics, "videoapi_tasks_running", queue="cpu") == 0
    worker_metrics = httpx.get(f"http://127.0.0.1:{second_metrics}/metrics").text
    assert metric(worker_metrics, "videoapi_task_retries_total", kind="edit.composite", reason="lease_expired") == 1
    assert metric(worker_metrics, "videoapi_tasks_finished_total", kind="edit.composite", status="succeeded") == 1
    assert metric(worker_metrics, "videoapi_worker_busy_seconds_total", queue="cpu") > 1
