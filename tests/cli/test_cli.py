"""The admin CLI: migrations, keys, and task requeue/cancel, against a real database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.app import running_app
from videoapi.settings import Settings


def test_keys_create_list_revoke(cli: Callable[..., str], make_settings: Callable[..., Settings]) -> None:
    cli("db", "upgrade")
    created = cli("keys", "create", "--name", "ci-bot")
    plaintext = created.strip().splitlines()[-1]
    assert plaintext.startswith("vk_")
    listing = cli("keys", "list")
    assert "ci-bot" in listing and "active" in listing
    assert plaintext not in listing  # secrets are never shown again
    prefix = plaintext.split("_")[1]
    assert "revoked" in cli("keys", "revoke", prefix)
    assert "revoked" in cli("keys", "list")
    assert "no API key" in cli("keys", "revoke", "nope", ok=False)


def test_tasks_cancel_and_requeue_from_the_cli(
    cli: Callable[..., str], make_settings: Callable[..., Settings], clip: Path
) -> None:
    settings = make_settings()
    with running_app(settings) as api:
        body = {"input": {"url": "http://127.0.0.1:9/x.mp4"}, "start_s": 0, "end_s": 1}
        failed = api.wait(api.post("/v1/video/edit/trim", json=body).json()["id"])
        assert failed["status"] == "failed"
        assert "url_forbidden" in cli("tasks", "list", "--status", "failed")
        assert "requeued 1 task(s)" in cli("tasks", "requeue", "--failed")
        again = api.wait(failed["id"], timeout_s=30)
        # It ran again from scratch: a new finish time, attempts counted afresh.
        assert again["status"] == "failed" and again["attempts"] == 1
        assert again["finished_at"] != failed["finished_at"]
        assert "already failed" in cli("tasks", "cancel", failed["id"], ok=False)
        ok = api.wait(
            api.post("/v1/video/edit/trim", json={**body, "input": {"asset_id": api.upload(clip)["id"]}}).json()["id"]
        )
        assert ok["status"] == "succeeded"
        assert "only failed or canceled" in cli("tasks", "requeue", ok["id"], ok=False)


def test_worker_refuses_the_in_process_broker(cli: Callable[..., str]) -> None:
    assert "stub" in cli("worker", "--queues", "cpu", ok=False)


def test_invalid_configuration_is_a_clear_error(cli: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEOAPI_TASKS__LEASE_S", "soon")
    out = cli("db", "upgrade", ok=False)
    assert "tasks.lease_s" in out


def test_db_downgrade_and_current_for_a_rollback(cli: Callable[..., str]) -> None:
    cli("db", "upgrade")
    assert "(head)" in cli("db", "current")

    cli("db", "downgrade", "0004", "--yes")
    now = cli("db", "current")
    assert "0004" in now and "(head)" not in now

    assert "Aborted" in cli("db", "downgrade", "0003", input="n\n", ok=False)
    assert "0004" in cli("db", "current")
    assert "Can't locate revision identified by 'nonsense'" in cli("db", "downgrade", "nonsense", "--yes", ok=False)
    cli("db", "upgrade")
    assert "(head)" in cli("db", "current")
