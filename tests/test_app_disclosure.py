"""What the operational endpoints tell a caller: /metrics only to who may scrape it, /ready only
which component is failing, never why in server terms (paths, exception text)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.app import assert_problem, free_port, running_app
from videoapi.settings import Settings, SettingsError, load_settings


def test_metrics_need_the_configured_bearer_token(make_settings: Callable[..., Settings]) -> None:
    with running_app(make_settings(**{"metrics.token": "scrape-me"})) as api:
        assert_problem(api.client.get("/metrics"), 401, "unauthorized")
        wrong = api.client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert_problem(wrong, 401, "unauthorized")
        assert_problem(api.client.get("/metrics", headers=api.auth), 401, "unauthorized")  # an API key is not it
        ok = api.client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert ok.status_code == 200 and "videoapi_http_requests_total" in ok.text


def test_metrics_on_a_separate_listener_leave_the_api_port(make_settings: Callable[..., Settings]) -> None:
    port = free_port()
    with running_app(make_settings(**{"metrics.listen": f"127.0.0.1:{port}"})) as api:
        assert api.client.get("/metrics").status_code == 404
        api.get("/v1/video/tasks")
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert scraped.status_code == 200
        assert "videoapi_http_requests_total" in scraped.text
        assert 'videoapi_queue_depth{priority="0",queue="cpu"}' in scraped.text  # task-table gauges are read there too


def test_production_requires_a_metrics_token_or_listener(make_settings: Callable[..., Settings]) -> None:
    env = {"VIDEOAPI_SERVER__ENVIRONMENT": "production"}
    with pytest.raises(SettingsError, match=r"metrics\.token or metrics\.listen"):
        load_settings(environ=env)
    for extra in ({"VIDEOAPI_METRICS__TOKEN": "t"}, {"VIDEOAPI_METRICS__LISTEN": "10.0.0.5:9100"}):
        try:
            load_settings(environ={**env, **extra})
        except SettingsError as exc:  # other production checks may object; never to the metrics
            assert "metrics." not in str(exc)
    with pytest.raises(SettingsError, match=r"metrics\.listen"):
        load_settings(environ={"VIDEOAPI_METRICS__LISTEN": "no-port"})


def test_ready_names_the_failing_component_without_its_error(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    with running_app(settings) as api:
        shutil.rmtree(settings.storage_dir)
        resp = api.client.get("/ready")
    assert resp.status_code == 503
    assert resp.json() == {"status": "unavailable", "checks": {"database": "ok", "broker": "ok", "store": "fail"}}
    assert str(settings.var_path) not in resp.text


def test_the_separate_metrics_listener_asks_for_the_token_when_one_is_set(
    make_settings: Callable[..., Settings],
) -> None:
    port = free_port()
    settings = make_settings(**{"metrics.listen": f"127.0.0.1:{port}", "metrics.token": "scrape-me"})
    with running_app(settings):
        url = f"http://127.0.0.1:{port}/metrics"
        assert httpx.get(url, timeout=5).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401
        ok = httpx.get(url, headers={"Authorization": "Bearer scrape-me"}, timeout=5)
        assert ok.status_code == 200 and "videoapi_http_requests_total" in ok.text
        assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=5).status_code == 404


@pytest.mark.redis
def test_a_worker_serves_its_metrics_only_behind_the_token(redis_url: str, tmp_path: Path) -> None:
    """`videoapi worker --metrics-port` on server.host: without the token it would show anyone its
    queues and routes."""
    port = free_port()
    env = {
        **os.environ,
        "VIDEOAPI_SERVER__VAR_DIR": str(tmp_path / "var"),
        "VIDEOAPI_SERVER__HOST": "127.0.0.1",
        "VIDEOAPI_QUEUE__BROKER": "redis",
        "VIDEOAPI_QUEUE__URL": redis_url,
        "VIDEOAPI_QUEUE__NAMESPACE": f"metrics{uuid.uuid4().hex[:8]}",
        "VIDEOAPI_METRICS__TOKEN": "scrape-me",
    }
    videoapi = str(Path(sys.executable).with_name("videoapi"))
    args = [videoapi, "worker", "--queues", "cpu", "--threads", "1", "--metrics-port", str(port)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            try:
                refused = httpx.get(url, timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert refused.status_code == 401 and "metrics.token" in refused.text
        ok = httpx.get(url, headers={"Authorization": "Bearer scrape-me"}, timeout=5)
        assert ok.status_code == 200 and "process_resident_memory_bytes" in ok.text
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
