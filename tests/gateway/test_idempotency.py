"""Idempotency-Key: same key and body -> the same task and status; another body -> 409; in flight -> 409."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from tests.support.app import Api, assert_problem, with_services
from videoapi.gateway.idempotency import IdempotencyStore, fingerprint

TRIM = {"input": {"url": "https://example.invalid/a.mp4"}, "start_s": 0, "end_s": 1}


def idem(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def count_tasks(api: Api) -> int:
    return len(api.get("/v1/video/tasks", params={"limit": 100}).json()["items"])


def test_same_key_and_body_returns_the_original_task(queued_api: Callable[..., AbstractContextManager[Api]]) -> None:
    with queued_api() as api:
        first = api.post("/v1/video/edit/trim", json=TRIM, headers=idem("order-1"))
        assert first.status_code == 202
        # The same JSON with other key order and spacing is the same request.
        again = api.post(
            "/v1/video/edit/trim",
            content=json.dumps(dict(reversed(list(TRIM.items()))), indent=2),
            headers={**idem("order-1"), "content-type": "application/json"},
        )
        assert again.status_code == 202
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["Location"] == first.headers["Location"]
        assert again.headers["Idempotent-Replayed"] == "true"
        assert count_tasks(api) == 1
        # Keys belong to their owner: another key's "order-1" is another request.
        from tests.support.app import create_key

        other = api.as_key(create_key(api.settings, "other"))
        assert other.post("/v1/video/edit/trim", json=TRIM, headers=idem("order-1")).json()["id"] != first.json()["id"]


def test_same_key_with_another_body_is_409(queued_api: Callable[..., AbstractContextManager[Api]]) -> None:
    with queued_api() as api:
        assert api.post("/v1/video/edit/trim", json=TRIM, headers=idem("k")).status_code == 202
        assert_problem(
            api.post("/v1/video/edit/trim", json={**TRIM, "end_s": 2}, headers=idem("k")), 409, "idempotency_key_reused"
        )
        transcode = {"input": TRIM["input"], "resolution": "480p"}
        assert_problem(api.post("/v1/video/edit/transcode", json=transcode, headers=idem("k")), 409)
        assert count_tasks(api) == 1


def test_request_in_flight_is_409(queued_api: Callable[..., AbstractContextManager[Api]]) -> None:
    with queued_api() as api:

        async def hold(services):  # type: ignore[no-untyped-def]
            key = await services.keys.authenticate(api.key)
            store = IdempotencyStore(services.sessions, services.settings.gateway)
            body = json.dumps(TRIM).encode()
            return await store.begin(key.id, "busy", fingerprint("POST", "/v1/video/edit/trim", body), batch=False)

        with_services(api.settings, hold)
        resp = api.post("/v1/video/edit/trim", json=TRIM, headers=idem("busy"))
        assert_problem(resp, 409, "idempotency_in_flight")
        assert count_tasks(api) == 0


def test_abandoned_in_flight_key_is_taken_over_after_the_lock(
    queued_api: Callable[..., AbstractContextManager[Api]],
) -> None:
    with queued_api(**{"gateway.idempotency_lock_s": 0.0}) as api:

        async def hold(services):  # type: ignore[no-untyped-def]
            key = await services.keys.authenticate(api.key)
            store = IdempotencyStore(services.sessions, services.settings.gateway)
            return await store.begin(key.id, "crashed", "x" * 64, batch=False)

        with_services(api.settings, hold)
        assert api.post("/v1/video/edit/trim", json=TRIM, headers=idem("crashed")).status_code == 202


def test_failed_request_frees_its_key(queued_api: Callable[..., AbstractContextManager[Api]]) -> None:
    with queued_api() as api:
        bad = {**TRIM, "start_s": 5, "end_s": 1}
        assert_problem(api.post("/v1/video/edit/trim", json=bad, headers=idem("fix-me")), 422)
        assert api.post("/v1/video/edit/trim", json=TRIM, headers=idem("fix-me")).status_code == 202


def test_key_is_stored_in_the_tasks_transaction(
    queued_api: Callable[..., AbstractContextManager[Api]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If recording the key fails, the task is not created either (and the key stays usable)."""
    with queued_api() as api:

        async def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("database went away")

        monkeypatch.setattr(IdempotencyStore, "complete", broken)
        assert_problem(api.post("/v1/video/edit/trim", json=TRIM, headers=idem("atomic")), 500, "internal")
        assert count_tasks(api) == 0
        monkeypatch.undo()
        assert api.post("/v1/video/edit/trim", json=TRIM, headers=idem("atomic")).status_code == 202
        assert count_tasks(api) == 1


def test_keys_expire_and_are_purged(queued_api: Callable[..., AbstractContextManager[Api]]) -> None:
    with queued_api(**{"gateway.idempotency_ttl_s": 0.0}) as api:
        first = api.post("/v1/video/edit/trim", json=TRIM, headers=idem("old")).json()["id"]
        # Expired: the key is new again.
        second = api.post("/v1/video/edit/trim", json=TRIM, headers=idem("old")).json()["id"]
        assert second != first

        async def purge(services):  # type: ignore[no-untyped-def]
            return await IdempotencyStore(services.sessions, services.settings.gateway).purge()

        assert with_services(api.settings, purge) >= 1


def test_idempotent_batch(queued_api: Callable[..., AbstractContextManager[Api]]) -> None:
    with queued_api() as api:
        batch = {
            "items": [{"kind": "trim", "request": TRIM}, {"kind": "transcode", "request": {"input": TRIM["input"]}}]
        }
        first = api.post("/v1/video/batch/edit", json=batch, headers=idem("b"))
        again = api.post("/v1/video/batch/edit", json=batch, headers=idem("b"))
        assert first.status_code == again.status_code == 202
        assert again.json()["task_ids"] == first.json()["task_ids"]
        assert count_tasks(api) == 2


def test_malformed_key_is_422(queued_api: Callable[..., AbstractContextManager[Api]]) -> None:
    with queued_api() as api:
        assert_problem(
            api.post("/v1/video/edit/trim", json=TRIM, headers=idem("x" * 300)), 422, "invalid_idempotency_key"
        )
