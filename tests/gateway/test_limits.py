"""Per-key caps: active tasks (429 too_many_tasks), priority (403), load shedding (503), high priority first."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from tests.support.app import Api, assert_problem, with_services
from tests.support.gateway import make_key

TRIM = {"input": {"url": "https://example.invalid/a.mp4"}, "start_s": 0, "end_s": 1}


def test_active_task_cap_per_key(queued_api: Callable[..., AbstractContextManager[Api]]) -> None:
    with queued_api() as api:
        capped = api.as_key(make_key(api.settings, max_active_tasks=2))
        assert capped.post("/v1/video/edit/trim", json=TRIM).status_code == 202
        assert capped.post("/v1/video/edit/trim", json=TRIM).status_code == 202
        refused = capped.post("/v1/video/edit/trim", json=TRIM)
        assert_problem(refused, 429, "too_many_tasks")
        assert "Retry-After" in refused.headers
        # A batch that would pass the cap creates nothing at all.
        task_id = capped.get("/v1/video/tasks").json()["items"][0]["id"]
        assert capped.post(f"/v1/video/tasks/{task_id}/cancel").status_code == 202
        batch = {"items": [{"kind": "trim", "request": TRIM}] * 2}
        assert_problem(capped.post("/v1/video/batch/edit", json=batch), 429, "too_many_tasks")
        assert len(capped.get("/v1/video/tasks").json()["items"]) == 2
        # Canceled tasks no longer count.
        assert capped.post("/v1/video/edit/trim", json=TRIM).status_code == 202
        # Keys without a cap are not affected.
        for _ in range(3):
            assert api.post("/v1/video/edit/trim", json=TRIM).status_code == 202


def test_default_active_task_cap_from_settings(queued_api: Callable[..., AbstractContextManager[Api]]) -> None:
    with queued_api(**{"gateway.default_max_active_tasks": 1}) as api:
        assert api.post("/v1/video/edit/trim", json=TRIM).status_code == 202
        assert_problem(api.post("/v1/video/edit/trim", json=TRIM), 429, "too_many_tasks")


def test_priority_is_capped_per_key(queued_api: Callable[..., AbstractContextManager[Api]]) -> None:
    with queued_api() as api:
        normal_only = api.as_key(make_key(api.settings, max_priority="normal"))
        body = assert_problem(
            normal_only.post("/v1/video/edit/trim", json={**TRIM, "priority": "high"}), 403, "priority_not_allowed"
        )
        assert body["errors"][0]["field"] == "priority"
        assert normal_only.post("/v1/video/edit/trim", json={**TRIM, "priority": "normal"}).status_code == 202
        assert normal_only.post("/v1/video/edit/trim", json={**TRIM, "priority": "low"}).status_code == 202
        batch = {
            "items": [{"kind": "trim", "request": TRIM}, {"kind": "trim", "request": {**TRIM, "priority": "high"}}]
        }
        body = assert_problem(normal_only.post("/v1/video/batch/edit", json=batch), 403, "priority_not_allowed")
        assert body["errors"][0]["field"] == "items[1].request.priority"
        # A key allowed high may ask for it.
        high = api.as_key(make_key(api.settings, max_priority="high"))
        assert high.post("/v1/video/edit/trim", json={**TRIM, "priority": "high"}).json()["priority"] == "high"


def test_a_key_without_its_own_caps_gets_normal_priority_and_a_bounded_task_count(
    queued_api: Callable[..., AbstractContextManager[Api]],
) -> None:
    """Defaults protect the queue: high priority and unbounded queued work must be granted per key."""
    with queued_api() as api:
        plain = api.as_key(make_key(api.settings))
        assert_problem(
            plain.post("/v1/video/edit/trim", json={**TRIM, "priority": "high"}), 403, "priority_not_allowed"
        )
        cap = api.settings.gateway.default_max_active_tasks
        assert 0 < cap <= 100
        batch = {"items": [{"kind": "trim", "request": TRIM}] * cap}
        assert plain.post("/v1/video/batch/edit", json=batch).status_code == 202
        assert_problem(plain.post("/v1/video/edit/trim", json=TRIM), 429, "too_many_tasks")


def test_high_priority_is_claimed_first(queued_api: Callable[..., AbstractContextManager[Api]]) -> None:
    with queued_api(**{"gateway.default_max_priority": "high"}) as api:
        ids = {p: api.post("/v1/video/edit/trim", json={**TRIM, "priority": p}).json()["id"] for p in ("low", "normal")}
        ids["high"] = api.post("/v1/video/edit/trim", json={**TRIM, "priority": "high"}).json()["id"]

        async def claim_all(services):  # type: ignore[no-untyped-def]
            return [(await services.tasks.claim("cpu", "w")).id for _ in range(3)]

        assert with_services(api.settings, claim_all) == [ids["high"], ids["normal"], ids["low"]]


def test_load_shedding_when_the_queue_is_too_deep(queued_api: Callable[..., AbstractContextManager[Api]]) -> None:
    with queued_api(**{"gateway.max_queue_depth": 2, "gateway.shed_retry_after_s": 7}) as api:
        assert api.post("/v1/video/edit/trim", json=TRIM).status_code == 202
        assert api.post("/v1/video/edit/trim", json=TRIM).status_code == 202
        api.client.app.state.gateway._depths.clear()  # the depth is cached for a second
        shed = api.post("/v1/video/edit/trim", json=TRIM)
        assert_problem(shed, 503, "overloaded")
        assert shed.headers["Retry-After"] == "7"
        # Reads still work while creates are shed.
        assert api.get("/v1/video/tasks").status_code == 200
