"""Token buckets per key: 429 with Retry-After and RateLimit-* headers; shared across processes through Redis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.app import Api, assert_problem, free_port, running_app, with_services
from tests.support.clock import FakeClock
from tests.support.gateway import make_key
from tests.support.waits import wait_until
from videoapi.gateway.ratelimit import MemoryRateLimiter, RedisRateLimiter
from videoapi.settings import Settings

VIDEOAPI = str(Path(sys.executable).with_name("videoapi"))


def test_bucket_allows_the_burst_then_429_with_headers(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr("videoapi.gateway.service.MemoryRateLimiter", lambda: MemoryRateLimiter(clock=clock))
    with running_app(make_settings()) as api:
        limited = api.as_key(make_key(api.settings, rate_per_s=1, burst=3))
        answers = [limited.get("/v1/video/tasks") for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 200]
        assert [r.headers["RateLimit-Remaining"] for r in answers] == ["2", "1", "0"]
        assert answers[0].headers["RateLimit-Limit"] == "3"
        refused = limited.get("/v1/video/tasks")
        assert_problem(refused, 429, "rate_limited")
        assert refused.headers["Retry-After"] == "1"
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert int(refused.headers["RateLimit-Reset"]) >= 1
        # Other keys have their own buckets.
        assert api.get("/v1/video/tasks").status_code == 200
        clock.advance(1.05)
        assert limited.get("/v1/video/tasks").status_code == 200


def test_default_rate_is_ten_per_second(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr("videoapi.gateway.service.MemoryRateLimiter", lambda: MemoryRateLimiter(clock=clock))
    settings = make_settings(**{"gateway.default_rate_per_s": 10.0, "gateway.default_burst": 10})
    with running_app(settings) as api:
        codes = [api.get("/v1/video/tasks").status_code for _ in range(11)]
        # Ten at once from the bucket; the clock stands still, so nothing refills.
        assert codes == [200] * 10 + [429]
        clock.advance(0.1)  # one token at 10/s
        assert [api.get("/v1/video/tasks").status_code for _ in range(2)] == [200, 429]


def test_memory_bucket_refills_at_its_rate() -> None:
    async def run() -> list[bool]:
        clock = FakeClock()
        limiter = MemoryRateLimiter(clock=clock)
        first = [(await limiter.hit("k", 20.0, 2)).allowed for _ in range(3)]
        clock.advance(0.06)  # 1.2 tokens
        return [*first, (await limiter.hit("k", 20.0, 2)).allowed, (await limiter.hit("k", 20.0, 2)).allowed]

    assert asyncio.run(run()) == [True, True, False, True, False]


@pytest.mark.redis
def test_redis_script_is_atomic_under_concurrency(redis_url: str) -> None:
    async def run() -> int:
        limiter = RedisRateLimiter(redis_url, f"t{uuid.uuid4().hex[:8]}")
        try:
            decisions = await asyncio.gather(*(limiter.hit("k", 0.01, 25) for _ in range(100)))
        finally:
            await limiter.close()
        return sum(d.allowed for d in decisions)

    assert asyncio.run(run()) == 25


@pytest.fixture
def two_api_processes(
    tmp_path: Path, pg_url: str, redis_url: str, make_settings: Callable[..., Settings]
) -> Iterator[tuple[list[str], Settings]]:
    namespace = f"t{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "VIDEOAPI_SERVER__VAR_DIR": str(tmp_path / "var"),
        "VIDEOAPI_SERVER__ENVIRONMENT": "test",
        "VIDEOAPI_DATABASE__URL": pg_url,
        "VIDEOAPI_QUEUE__BROKER": "redis",
        "VIDEOAPI_QUEUE__URL": redis_url,
        "VIDEOAPI_QUEUE__NAMESPACE": namespace,
        "VIDEOAPI_SERVER__EMBEDDED_WORKERS": "false",
        "VIDEOAPI_GATEWAY__RATE_LIMIT_BACKEND": "redis",
        "VIDEOAPI_SERVER__TRUSTED_PROXIES": "[]",
    }
    settings = make_settings(
        **{
            "database.url": pg_url,
            "queue.broker": "redis",
            "queue.url": redis_url,
            "queue.namespace": namespace,
            "server.embedded_workers": False,
            "gateway.rate_limit_backend": "redis",
        }
    )
    ports = [free_port(), free_port()]
    procs = [
        subprocess.Popen(
            [VIDEOAPI, "serve", "--port", str(port)],
            env=env,
            stdout=(tmp_path / f"api-{port}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for port in ports
    ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:

        def healthy(base: str) -> bool:
            try:
                return httpx.get(f"{base}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        for base in bases:
            try:
                wait_until(
                    lambda base=base: healthy(base), timeout_s=60, interval_s=0.2, what=f"{base}/health to answer 200"
                )
            except AssertionError as exc:
                logs = "\n".join(p.read_text() for p in tmp_path.glob("api-*.log"))
                raise AssertionError(f"API processes did not start ({exc}):\n{logs[-3000:]}") from None
        yield bases, settings
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.postgres
@pytest.mark.redis
def test_two_processes_share_one_bucket_through_redis(two_api_processes: tuple[list[str], Settings]) -> None:
    bases, settings = two_api_processes
    key = make_key(settings, rate_per_s=0.05, burst=6)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(timeout=10) as client:
        codes = [client.get(f"{bases[i % 2]}/v1/video/tasks", headers=headers).status_code for i in range(12)]
    # Each process alone would allow 6 (12 in all); sharing the bucket, the two allow 6 together.
    assert codes.count(200) == 6, codes
    assert codes[:6] == [200] * 6
    assert set(codes[6:]) == {429}
    # Another key has its own bucket in both processes.
    calm = {"Authorization": f"Bearer {make_key(settings, rate_per_s=0.05, burst=1)}"}
    assert httpx.get(f"{bases[1]}/v1/video/tasks", headers=calm).status_code == 200
    assert httpx.get(f"{bases[0]}/v1/video/tasks", headers=calm).status_code == 429


@pytest.mark.postgres
@pytest.mark.redis
def test_revoked_key_stops_at_once_in_every_process(two_api_processes: tuple[list[str], Settings]) -> None:
    """Both processes cache the key (Redis limiter); a revoke from the CLI side reaches them at the next request."""
    bases, settings = two_api_processes
    key = make_key(settings)
    headers = {"Authorization": f"Bearer {key}"}
    for base in bases * 2:  # the second round is served from each process's cache
        assert httpx.get(f"{base}/v1/video/tasks", headers=headers).status_code == 200

    async def revoke(services):  # type: ignore[no-untyped-def]
        await services.keys.revoke(key.split("_")[1])

    with_services(settings, revoke)
    for base in bases:
        assert_problem(httpx.get(f"{base}/v1/video/tasks", headers=headers), 401, "invalid_api_key")


def test_rate_limit_headers_absent_without_credentials(api: Api) -> None:
    resp = api.client.get("/health")
    assert "RateLimit-Limit" not in resp.headers
