"""Uploads stream to disk: a 1 GB upload raises the server's RSS by well under 100 MB."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.app import free_port

VIDEOAPI = str(Path(sys.executable).with_name("videoapi"))
UPLOAD_BYTES = 1024**3
CHUNK = b"\0" * (1024 * 1024)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, psutil.Process]]:
    port = free_port()
    env = {
        **os.environ,
        "VIDEOAPI_SERVER__VAR_DIR": str(tmp_path / "var"),
        "VIDEOAPI_SERVER__PORT": str(port),
        "VIDEOAPI_SERVER__ENVIRONMENT": "test",
    }
    subprocess.run([VIDEOAPI, "db", "upgrade"], env=env, check=True, capture_output=True)
    key = subprocess.run(
        [VIDEOAPI, "keys", "create", "--name", "mem"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    proc = subprocess.Popen([VIDEOAPI, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
        time.sleep(0.1)
    yield base, key, psutil.Process(proc.pid)
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.slow
def test_a_1gb_upload_does_not_grow_the_server_memory(server: tuple[str, str, psutil.Process]) -> None:
    base, key, process = server
    for _ in range(3):  # warm up the code paths first, so imports do not count as growth
        httpx.get(f"{base}/v1/video/tasks", headers={"Authorization": f"Bearer {key}"})
    baseline = process.memory_info().rss
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.02)

    boundary = "videoapi-memory-test"

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        for _ in range(UPLOAD_BYTES // len(CHUNK)):
            yield CHUNK
        yield f"\r\n--{boundary}--\r\n".encode()

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        resp = httpx.post(
            f"{base}/v1/video/assets",
            content=body(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
            timeout=300,
        )
    finally:
        done.set()
        sampler.join()
    # A gigabyte of zeros is not media: refused after it was received and probed.
    assert resp.status_code == 422, resp.text
    growth_mb = (peak - baseline) / 1024**2
    assert growth_mb < 100, f"RSS grew by {growth_mb:.1f} MB during a 1 GB upload"
    assert httpx.get(f"{base}/health").status_code == 200
