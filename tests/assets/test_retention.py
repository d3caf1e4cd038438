"""Retention: inputs go after 24 h, outputs after their own age, never while a task still needs them;
a purged asset answers 410 and its file is gone. The clock is a parameter, so no test waits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from tests.support.app import assert_problem, running_app
from videoapi.assets.retention import PurgeReport, asset_ids_in
from videoapi.cli import main as cli
from videoapi.composition import build_services
from videoapi.db.engine import transaction
from videoapi.settings import Settings
from videoapi.tasks.models import Task
from videoapi.tasks.states import Status

HOUR = timedelta(hours=1)


def purge(settings: Settings, now: datetime, *, dry_run: bool = False, queued_params: Any = None) -> PurgeReport:
    async def run() -> PurgeReport:
        services = await build_services(settings, None)
        try:
            if queued_params is not None:
                await services.tasks.create(owner_id="someone", kind="edit.trim", queue="nowhere", params=queued_params)
            return await services.retention.purge_expired(now, dry_run=dry_run)
        finally:
            await services.close()

    return asyncio.run(run())


def test_inputs_are_purged_after_a_day_but_kept_while_a_queued_task_names_them(
    make_settings: Callable[..., Settings], clip: Path
) -> None:
    settings = make_settings()
    with running_app(settings) as api:
        old, needed = api.upload(clip), api.upload(clip)
        stored = settings.storage_dir
        files_before = {p for p in stored.rglob("*") if p.is_file()}
        now = datetime.now(UTC)

        assert purge(settings, now + 23 * HOUR).deleted == []

        dry = purge(settings, now + 25 * HOUR, dry_run=True)
        assert sorted(dry.deleted) == sorted([old["id"], needed["id"]])
        assert api.get(f"/v1/video/assets/{old['id']}").status_code == 200

        task_params = {"timeline": {"tracks": [{"clips": [{"source": {"asset_id": needed["id"]}}]}]}}
        report = purge(settings, now + 25 * HOUR, queued_params=task_params)
        assert report.deleted == [old["id"]]
        assert report.kept_for_tasks == [needed["id"]]
        assert report.bytes_freed == old["size_bytes"]

        body = assert_problem(api.get(f"/v1/video/assets/{old['id']}"), 410, "asset_deleted")
        assert "deleted" in body["detail"]
        assert api.get(f"/v1/video/assets/{needed['id']}").status_code == 200
        files_after = {p for p in stored.rglob("*") if p.is_file()}
        gone = files_before - files_after
        assert gone and all(old["id"] in str(p) for p in gone)
        assert not any(old["id"] in str(p) for p in files_after)


def test_outputs_outlive_inputs_and_go_after_their_own_age(make_settings: Callable[..., Settings], clip: Path) -> None:
    settings = make_settings(**{"retention.outputs_s": 7 * 24 * 3600.0})
    with running_app(settings) as api:
        asset = api.upload(clip)
        task = api.post("/v1/video/edit/trim", json={"input": {"asset_id": asset["id"]}, "start_s": 0, "end_s": 1})
        done = api.wait(task.json()["id"])
        output_id = done["result"]["asset_id"]
        now = datetime.now(UTC)

        assert purge(settings, now + 2 * 24 * HOUR).deleted == [asset["id"]]
        assert api.get(f"/v1/video/assets/{output_id}").status_code == 200
        assert purge(settings, now + 8 * 24 * HOUR).deleted == [output_id]
        assert_problem(api.get(f"/v1/video/assets/{output_id}"), 410, "asset_deleted")


def test_a_waiting_pipeline_step_keeps_the_outputs_of_the_steps_it_waits_for(
    make_settings: Callable[..., Settings], clip: Path
) -> None:
    """A waiting step's params name a placeholder until what it reads succeeds: the outputs of its
    finished upstream steps are kept through its `depends_on` until it ends."""
    settings = make_settings(**{"retention.outputs_s": 7 * 24 * 3600.0})
    with running_app(settings) as api:
        asset = api.upload(clip)
        task = api.post("/v1/video/edit/trim", json={"input": {"asset_id": asset["id"]}, "start_s": 0, "end_s": 1})
        upstream = api.wait(task.json()["id"])
        output_id = upstream["result"]["asset_id"]
        again = api.post("/v1/video/edit/trim", json={"input": {"asset_id": asset["id"]}, "start_s": 1, "end_s": 2})
        other = api.wait(again.json()["id"])

        async def add_waiting_step() -> None:
            services = await build_services(settings, None)
            try:
                async with transaction(services.tasks.sessions) as session:
                    session.add(Task(kind="edit.transcode", queue="cpu", owner_id="someone", status=Status.WAITING,
                                     params={"input": {"asset_id": "placeholder"}},
                                     depends_on=[upstream["id"], "a-step-still-running"]))  # fmt: skip
            finally:
                await services.close()

        asyncio.run(add_waiting_step())
        report = purge(settings, datetime.now(UTC) + 8 * 24 * HOUR)
        assert report.kept_for_tasks == [output_id]
        assert sorted(report.deleted) == sorted([asset["id"], other["result"]["asset_id"]])
        assert api.get(f"/v1/video/assets/{output_id}").status_code == 200


def test_purge_cli_dry_run_lists_and_deletes_nothing(
    make_settings: Callable[..., Settings], clip: Path, monkeypatch: Any
) -> None:
    # The embedded worker purges at start, before the upload, and not again within the test.
    settings = make_settings(**{"retention.inputs_s": 0.0, "retention.interval_s": 3600.0})
    with running_app(settings) as api:
        asset = api.upload(clip)
        monkeypatch.setenv("VIDEOAPI_SERVER__VAR_DIR", str(settings.var_path))
        monkeypatch.setenv("VIDEOAPI_RETENTION__INPUTS_S", "0.0")
        dry = CliRunner().invoke(cli, ["purge", "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert f"would delete {asset['id']}" in dry.output
        assert api.get(f"/v1/video/assets/{asset['id']}").status_code == 200
        real = CliRunner().invoke(cli, ["purge"])
        assert real.exit_code == 0, real.output
        assert f"deleted {asset['id']}" in real.output and "1 asset(s) deleted" in real.output
        assert_problem(api.get(f"/v1/video/assets/{asset['id']}"), 410, "asset_deleted")


def test_asset_ids_are_found_anywhere_in_task_params() -> None:
    params = {"input": {"asset_id": "a"}, "music": {"source": {"asset_id": "b"}}, "clips": [{"x": [{"asset_id": "c"}]}]}
    assert sorted(asset_ids_in(params)) == ["a", "b", "c"]
