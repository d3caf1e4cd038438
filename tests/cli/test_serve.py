"""`videoapi serve` as a real process: it migrates the embedded SQLite at start, refuses an unmigrated
PostgreSQL in one line, and hands out download URLs on the port it is bound to."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.app import free_port
from tests.support.media import make_video
from tests.support.services import empty_pg_database
from tests.support.waits import wait_until

ROOT = Path(__file__).resolve().parents[2]


def videoapi_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOAPI_")}
    env.update(
        PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{env.get('PYTHONPATH', '')}",
        VIDEOAPI_SERVER__VAR_DIR=str(var_dir),
        VIDEOAPI_SERVER__ENVIRONMENT="test",
        **extra,
    )
    return env


def videoapi(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "videoapi.cli", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def serving(env: dict[str, str], port: int) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`videoapi serve --port PORT` in its own process, until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "videoapi.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: healthy(base) or proc.poll() is not None, timeout_s=40, what="serve to answer /health")
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow  # three processes start (serve, `keys create`, `db current`): seconds each
def test_serve_migrates_a_fresh_embedded_sqlite_database_at_start(tmp_path: Path) -> None:
    env = videoapi_env(tmp_path / "var")
    with serving(env, free_port()) as (base, proc):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        key = videoapi(env, "keys", "create", "--name", "new user").stdout.strip().splitlines()[-1]
        resp = httpx.get(f"{base}/v1/video/tasks", headers={"Authorization": f"Bearer {key}"})
        assert resp.status_code == 200, resp.text
    assert "(head)" in videoapi(env, "db", "current").stdout


@pytest.mark.postgres
def test_serve_on_an_unmigrated_postgresql_says_in_one_line_to_run_db_upgrade(tmp_path: Path) -> None:
    with empty_pg_database("videoapi_serve") as url:
        env = videoapi_env(tmp_path / "var", VIDEOAPI_DATABASE__URL=url)
        proc = subprocess.run(
            [sys.executable, "-m", "videoapi.cli", "serve", "--port", str(free_port())],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode != 0
    said = proc.stderr.strip().splitlines()
    assert len(said) == 1 and "videoapi db upgrade" in said[0], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.ffmpeg
def test_download_urls_follow_the_port_serve_is_bound_to(tmp_path: Path) -> None:
    env = videoapi_env(tmp_path / "var")
    videoapi(env, "db", "upgrade")
    key = videoapi(env, "keys", "create", "--name", "t").stdout.strip().splitlines()[-1]
    clip = make_video(tmp_path / "clip.mp4", duration_s=1.0)
    port = free_port()
    with serving(env, port) as (base, _):
        auth = {"Authorization": f"Bearer {key}"}
        with clip.open("rb") as fh:
            asset = httpx.post(f"{base}/v1/video/assets", headers=auth, files={"file": ("clip.mp4", fh)}).json()
        url = httpx.get(f"{base}/v1/video/assets/{asset['id']}", headers=auth).json()["url"]
        assert url.startswith(f"{base}/v1/video/files/"), url
        assert httpx.get(url).content == clip.read_bytes()
