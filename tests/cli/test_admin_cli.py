"""The admin CLI against real services: task listing filters, `tasks show`, `tasks purge` (rows and
stored files really gone, a dry run deletes nothing), keys list/show/revoke, and `storage usage`.
The task tests run on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, update

from tests.support.app import migrate, running_app, with_services
from videoapi.assets.models import Asset
from videoapi.billing.models import UsageRecord
from videoapi.cli import main
from videoapi.db.engine import transaction
from videoapi.gateway.models import IdempotencyRecord
from videoapi.settings import Settings
from videoapi.tasks.models import Task

DAY = timedelta(days=1)
UNREACHABLE = {"url": "http://127.0.0.1:9/x.mp4"}  # nothing listens: the task fails at once


def invoke(*args: str) -> Result:
    """Run `videoapi ARGS` with the environment the test set; stdout and stderr stay apart."""
    return CliRunner().invoke(main, list(args))


def cli_json(*args: str) -> Any:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def backdate(settings: Settings, task_ids: list[str], age: timedelta) -> None:
    """Make tasks look as if they were created and finished `age` ago, with the idempotency records
    that name them (a record is always written just before its tasks)."""

    async def run(services: Any) -> None:
        when = datetime.now(UTC) - age
        async with transaction(services.sessions) as session:
            await session.execute(
                update(Task).where(Task.id.in_(task_ids)).values(created_at=when, finished_at=when, updated_at=when)
            )
            records = (await session.execute(select(IdempotencyRecord.id, IdempotencyRecord.task_ids))).all()
            naming = [rid for rid, ids in records if set(ids or []) & set(task_ids)]
            await session.execute(
                update(IdempotencyRecord).where(IdempotencyRecord.id.in_(naming)).values(created_at=when)
            )

    with_services(settings, run)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_settings(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings of the app under test; the CLI (see the `cli` fixture) reads the same database."""
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
        monkeypatch.setenv("VIDEOAPI_DATABASE__URL", url)
        return make_settings(**{"database.url": url})
    settings = make_settings()
    migrate(settings.database_url)
    return settings


# ---- tasks ---------------------------------------------------------------------------------------


def test_tasks_list_filters_by_status_kind_owner_queue_and_time(cli: Callable[..., str], db_settings: Settings) -> None:
    async def seed(services: Any) -> dict[str, Any]:
        key, _ = await services.keys.create("partner")
        trim = await services.tasks.create(owner_id=key.id, kind="edit.trim", queue="cpu", params={"n": 1})
        gen = await services.tasks.create(owner_id="someone", kind="generate.text-to-video", queue="gpu", params={})
        old = await services.tasks.create(owner_id="someone", kind="edit.trim", queue="cpu", params={})
        async with transaction(services.sessions) as session:
            await session.execute(update(Task).where(Task.id == gen.id).values(status="failed", error_code="boom"))
            await session.execute(update(Task).where(Task.id == old.id).values(created_at=datetime.now(UTC) - 3 * DAY))
        return {"key": key, "trim": trim.id, "gen": gen.id, "old": old.id}

    made = with_services(db_settings, seed)

    def ids(*args: str) -> set[str]:
        return {t["id"] for t in cli_json("tasks", "list", "--json", *args)}

    assert ids() == {made["trim"], made["gen"], made["old"]}
    assert ids("--kind", "edit.trim") == {made["trim"], made["old"]}
    assert ids("--queue", "gpu") == {made["gen"]}
    assert ids("--status", "failed") == {made["gen"]}
    assert ids("--owner", made["key"].prefix) == {made["trim"]}  # a key prefix means that key's tasks
    assert ids("--owner", "someone") == {made["gen"], made["old"]}
    assert ids("--since", "24h") == {made["trim"], made["gen"]}
    two_days_ago = (datetime.now(UTC) - 2 * DAY).date().isoformat()
    assert ids("--since", two_days_ago) == {made["trim"], made["gen"]}
    assert len(ids("--limit", "1")) == 1
    text = cli("tasks", "list", "--status", "failed")
    assert made["gen"] in text and "boom" in text and made["trim"] not in text


def test_tasks_show_prints_the_whole_task_as_json(cli: Callable[..., str], db_settings: Settings) -> None:
    task = with_services(
        db_settings,
        lambda s: s.tasks.create(owner_id="o", kind="edit.trim", queue="cpu", params={"start_s": 1.5}),
    )
    shown = cli_json("tasks", "show", task.id)
    assert shown["id"] == task.id and shown["params"] == {"start_s": 1.5} and shown["status"] == "queued"
    for field in ("result", "error_code", "error_message", "attempts", "max_attempts", "lease_owner"):
        assert field in shown
    for field in ("lease_expires_at", "created_at", "started_at", "finished_at", "outputs"):
        assert field in shown
    assert datetime.fromisoformat(shown["created_at"]).tzinfo is not None


def test_unknown_task_and_bad_time_values_are_clear_errors(cli: Callable[..., str], db_settings: Settings) -> None:
    missing = invoke("tasks", "show", "no-such-task")
    assert missing.exit_code == 1 and "task no-such-task not found" in missing.output
    assert "Traceback" not in missing.output
    for args in (
        ("tasks", "list", "--since", "yesterday"),
        ("tasks", "purge", "--older-than", "30"),  # no unit: refused, a purge is not a guess
        ("tasks", "purge", "--older-than", "0d"),
        ("tasks", "requeue", "--failed", "--since", "soon"),
    ):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)  # a usage error
        assert "Invalid value" in result.output and "Traceback" not in result.output


def test_tasks_purge_deletes_old_finished_tasks_with_their_outputs_and_files(
    cli: Callable[..., str], db_settings: Settings, clip: Path
) -> None:
    with running_app(db_settings) as api:
        source = api.upload(clip)
        trim = {"input": {"asset_id": source["id"]}, "start_s": 0, "end_s": 1}
        replayable = {"Idempotency-Key": "trim-once"}
        old_ok = api.wait(api.post("/v1/video/edit/trim", json=trim, headers=replayable).json()["id"])
        old_failed = api.wait(api.post("/v1/video/edit/trim", json={**trim, "input": UNREACHABLE}).json()["id"])
        recent = api.wait(api.post("/v1/video/edit/trim", json=trim).json()["id"])
        assert [t["status"] for t in (old_ok, old_failed, recent)] == ["succeeded", "failed", "succeeded"]
        output = with_services(db_settings, lambda s: s.assets.get(old_ok["result"]["asset_id"], None))
        files = [db_settings.storage_dir / k for k in (output.storage_key, output.poster_key) if k]
        assert files and all(f.is_file() for f in files)
        backdate(db_settings, [old_ok["id"], old_failed["id"]], 40 * DAY)

        dry = cli("tasks", "purge", "--older-than", "30d", "--dry-run")
        assert f"would delete {old_ok['id']}" in dry and f"would delete {old_failed['id']}" in dry
        assert recent["id"] not in dry and "2 task(s) to delete with 1 output asset(s)" in dry
        assert api.get(f"/v1/video/tasks/{old_ok['id']}").status_code == 200
        assert all(f.is_file() for f in files)

        real = cli("tasks", "purge", "--older-than", "30d")
        assert f"deleted {old_ok['id']}" in real and "2 task(s) deleted with 1 output asset(s)" in real
        for gone in (old_ok, old_failed):
            assert api.get(f"/v1/video/tasks/{gone['id']}").status_code == 404
        assert api.get(f"/v1/video/assets/{output.id}").status_code == 404
        assert not any(f.exists() for f in files)
        # What was not asked for stays: the recent task and its output, and the uploaded input.
        assert api.get(f"/v1/video/tasks/{recent['id']}").status_code == 200
        assert api.get(f"/v1/video/assets/{recent['result']['asset_id']}").status_code == 200
        assert api.get(f"/v1/video/assets/{source['id']}").status_code == 200
        # The idempotency record pointed at a task that is gone: a replay now makes a new task.
        again = api.post("/v1/video/edit/trim", json=trim, headers=replayable)
        assert again.status_code == 202 and again.json()["id"] != old_ok["id"]
        api.wait(again.json()["id"])

    async def ledger(services: Any) -> tuple[int, int]:
        async with services.sessions() as session:
            charged = await session.scalar(
                select(func.count()).select_from(UsageRecord).where(UsageRecord.task_id == old_ok["id"])
            )
            rows = await session.scalar(select(func.count()).select_from(Asset).where(Asset.id == output.id))
        return int(charged or 0), int(rows or 0)

    # The usage record is billing history and stays; the output's row is gone, not just marked deleted.
    assert with_services(db_settings, ledger) == (1, 0)
    assert "0 task(s) deleted" in cli("tasks", "purge", "--older-than", "30d")


def test_tasks_purge_keeps_a_task_whose_output_a_queued_task_uses_or_whose_webhook_or_copy_is_owed(
    cli: Callable[..., str], db_settings: Settings, clip: Path
) -> None:
    with running_app(db_settings) as api:
        source = api.upload(clip)
        done = api.wait(
            api.post(
                "/v1/video/edit/trim", json={"input": {"asset_id": source["id"]}, "start_s": 0, "end_s": 1}
            ).json()["id"]
        )
    # With the app stopped no worker takes it: the task stays queued, naming the output as its input.
    output_id = done["result"]["asset_id"]
    with_services(
        db_settings,
        lambda s: s.tasks.create(
            owner_id="o", kind="edit.trim", queue="cpu", params={"input": {"asset_id": output_id}}
        ),
    )
    announced = with_services(
        db_settings,
        lambda s: s.tasks.create(owner_id="o", kind="edit.trim", queue="cpu", params={}, webhook_url="http://h/x"),
    )

    copied = with_services(
        db_settings, lambda s: s.tasks.create(owner_id="o", kind="edit.trim", queue="cpu", params={})
    )

    async def finish_unannounced(services: Any) -> None:
        async with transaction(services.sessions) as session:
            await session.execute(update(Task).where(Task.id.in_([announced.id, copied.id])).values(status="succeeded"))
            await services.destinations.plan(session, [copied], [["some-destination"]])

    with_services(db_settings, finish_unannounced)
    backdate(db_settings, [done["id"], announced.id, copied.id], 40 * DAY)
    out = cli("tasks", "purge", "--older-than", "30d")
    assert f"kept {done['id']} (a queued or running task uses its output)" in out
    assert f"kept {announced.id} (its webhook is not delivered yet)" in out
    assert f"kept {copied.id} (its outputs are not copied to its destinations yet)" in out
    assert "0 task(s) deleted" in out
    assert cli_json("tasks", "show", done["id"])["outputs"][0]["asset_id"] == output_id


# ---- keys ----------------------------------------------------------------------------------------


def test_keys_show_list_and_revoke(cli: Callable[..., str], make_settings: Callable[..., Settings]) -> None:
    cli("db", "upgrade")
    created = cli("keys", "create", "--name", "partner", "--scope", "read", "--rate", "5", "--monthly-credits", "100")
    plaintext = created.strip().splitlines()[-1]
    prefix = plaintext.split("_")[1]
    assert "quota: 100 credits per month" in created
    cli("keys", "policy", prefix, "--trial")

    shown = cli("keys", "show", prefix)
    assert "partner" in shown and "scopes:" in shown and "read" in shown
    assert "5 requests/s" in shown and re.search(r"last used:\s+never", shown)
    assert "100 credits per month, 0 used, 100 left" in shown and re.search(r"trial:\s+yes", shown)
    record = cli_json("keys", "show", prefix, "--json")
    assert record["name"] == "partner" and record["scopes"] == ["read"] and record["rate_per_s"] == 5
    assert record["quota"]["monthly_credits"] == 100 and record["policy"]["trial"] is True
    assert record["revoked_at"] is None and record["created_at"]
    for secret in (plaintext, "whsec_", "key_hash"):
        assert secret not in json.dumps(record) and secret not in shown

    cli("keys", "create", "--name", "other")
    cli("keys", "revoke", prefix)
    listing = cli("keys", "list")
    assert "other" in listing and "partner" not in listing and "1 revoked key(s) not shown" in listing
    assert "partner" in cli("keys", "list", "--all")
    everything = cli_json("keys", "list", "--all", "--json")
    assert {k["name"]: k["revoked_at"] is not None for k in everything} == {"partner": True, "other": False}
    assert "revoked" in cli("keys", "show", prefix)
    missing = invoke("keys", "show", "nope")
    assert missing.exit_code == 1 and "no API key nope" in missing.output


def test_keys_commands_accept_the_prefix_as_keys_list_prints_it(cli: Callable[..., str]) -> None:
    """`keys list` prints `vk_33d25e1d52da_…`; that text, or `vk_33d25e1d52da`, names the key everywhere."""
    cli("db", "upgrade")
    prefix = cli("keys", "create", "--name", "partner").strip().splitlines()[-1].split("_")[1]
    printed = re.search(r"(vk_[0-9a-f]{12})_…", cli("keys", "list"))
    assert printed is not None and printed.group(1) == f"vk_{prefix}"

    for reference in (f"vk_{prefix}", f"vk_{prefix}_…", f"vk_{prefix}_..."):
        assert re.search(r"name:\s+partner", cli("keys", "show", reference)), reference
    cli("keys", "quota", f"vk_{prefix}", "--monthly", "7")
    assert cli_json("keys", "show", prefix, "--json")["quota"]["monthly_credits"] == 7
    assert cli("keys", "revoke", f"vk_{prefix}_…").startswith("revoked ")
    assert invoke("keys", "show", "vk_000000000000").exit_code == 1


# ---- storage -------------------------------------------------------------------------------------


def test_storage_usage_counts_what_was_uploaded_and_produced(
    cli: Callable[..., str], make_settings: Callable[..., Settings], clip: Path
) -> None:
    settings = make_settings()
    with running_app(settings) as api:
        uploads = [api.upload(clip), api.upload(clip)]
        done = api.wait(
            api.post(
                "/v1/video/edit/trim", json={"input": {"asset_id": uploads[0]["id"]}, "start_s": 0, "end_s": 1}
            ).json()["id"]
        )
        usage = cli_json("storage", "usage", "--json")
        text = cli("storage", "usage")
    clip_bytes = clip.stat().st_size
    out_bytes = done["result"]["size_bytes"]
    assert usage["by_origin"] == {
        "output": {"count": 1, "size_bytes": out_bytes},
        "upload": {"count": 2, "size_bytes": 2 * clip_bytes},
    }
    assert usage["assets"] == {"count": 3, "size_bytes": 2 * clip_bytes + out_bytes}
    assert usage["by_media_type"] == {"video": usage["assets"]}
    assert usage["owners"] == 1 and usage["by_owner"][0]["key_name"] == "test"
    assert usage["by_owner"][0]["count"] == 3 and usage["purged_assets"] == 0
    on_disk = sum(f.stat().st_size for f in settings.storage_dir.rglob("*") if f.is_file())
    local = usage["local_store"]
    assert local["size_bytes"] == on_disk and local["size_bytes"] > usage["assets"]["size_bytes"]
    assert local["objects"] >= 3  # the output's poster is an object of its own
    assert 0 < local["disk_free_bytes"] <= local["disk_total_bytes"]
    assert "stored assets: 3" in text and "upload" in text and str(settings.storage_dir) in text


def test_purge_is_an_alias_of_storage_purge(cli: Callable[..., str]) -> None:
    cli("db", "upgrade")
    assert "0 asset(s) deleted" in cli("purge")
    assert "0 asset(s) to delete" in cli("storage", "purge", "--dry-run")
