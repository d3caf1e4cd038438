"""Billing over HTTP: estimates create nothing, quotas refuse with 402, succeeded tasks carry their cost,
and the caller reads usage by day and kind (the admin by CLI)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.support.app import assert_problem, running_app
from videoapi.cli import main as cli
from videoapi.composition import build_services
from videoapi.settings import Settings


def set_quota(settings: Settings, owner_id: str, credits: float) -> None:
    async def run() -> None:
        services = await build_services(settings, None)
        try:
            await services.billing.set_quota(owner_id, credits)
        finally:
            await services.close()

    asyncio.run(run())


def test_estimate_quota_cost_and_usage(
    make_settings: Callable[..., Settings], clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(**{"gateway.default_rate_per_s": 1000.0, "gateway.default_burst": 1000})
    trim: dict[str, Any] = {"start_s": 0.0, "end_s": 1.0}
    with running_app(settings) as api:
        asset = api.upload(clip)
        empty = api.get("/v1/video/usage").json()
        assert empty["total_tasks"] == 0 and empty["quota"]["monthly_credits"] is None
        body = {"input": {"asset_id": asset["id"]}, **trim}

        est = api.post("/v1/video/edit/trim/estimate", json=body)
        assert est.status_code == 200, est.text
        estimate = est.json()
        assert estimate["valid"] and estimate["output_seconds"] == pytest.approx(1.0)
        assert estimate["estimate_credits"] > 0 and estimate["eta_s"] > 0
        assert api.get("/v1/video/tasks").json()["items"] == []  # nothing was created
        assert_problem(api.post("/v1/video/edit/trim/estimate", json={**body, "end_s": 99.0}), 422)

        # Room for exactly two such tasks: the third is refused with 402 while both are queued or done.
        key_id = next(iter(_key_ids(settings)))
        set_quota(settings, key_id, 2 * estimate["estimate_credits"] + 1e-6)
        first = api.post("/v1/video/edit/trim", json=body)
        second = api.post("/v1/video/edit/trim", json=body)
        assert first.status_code == 202 and second.status_code == 202
        refused = assert_problem(api.post("/v1/video/edit/trim", json=body), 402, "quota_exceeded")
        assert "credits" in refused["detail"]

        done = [api.wait(r.json()["id"]) for r in (first, second)]
        assert all(t["status"] == "succeeded" for t in done)
        assert all(t["cost"] == pytest.approx(estimate["estimate_credits"]) for t in done)

        report = api.get("/v1/video/usage").json()
        assert report["total_tasks"] == 2
        assert report["total_credits"] == pytest.approx(2 * estimate["estimate_credits"])
        [row] = report["by_day_and_kind"]
        assert row["kind"] == "edit.trim" and row["tasks"] == 2 and row["output_seconds"] == pytest.approx(2.0, abs=0.1)
        assert report["quota"]["remaining"] == pytest.approx(0.0, abs=1e-5)
        assert_problem(api.get("/v1/video/usage", params={"since": "2999-01-01"}), 422)

        monkeypatch.setenv("VIDEOAPI_SERVER__VAR_DIR", str(settings.var_path))
        out = CliRunner().invoke(cli, ["usage", "report", "--key", key_id])
        assert out.exit_code == 0, out.output
        assert "edit.trim" in out.output and "total: 2 task(s)" in out.output


def test_failed_tasks_cost_nothing(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(**{"gateway.default_rate_per_s": 1000.0, "gateway.default_burst": 1000})
    with running_app(settings) as api:
        # A URL input that the worker cannot fetch: the task fails, and is not charged.
        task = api.post(
            "/v1/video/edit/trim", json={"input": {"url": "http://127.0.0.1:9/x.mp4"}, "start_s": 0, "end_s": 1}
        )
        assert task.status_code == 202, task.text
        failed = api.wait(task.json()["id"])
        assert failed["status"] == "failed" and failed["cost"] is None
        assert api.get("/v1/video/usage").json()["total_tasks"] == 0


def _key_ids(settings: Settings) -> list[str]:
    async def run() -> list[str]:
        services = await build_services(settings, None)
        try:
            return [k.id for k in await services.keys.list()]
        finally:
            await services.close()

    return asyncio.run(run())


def test_a_storage_quota_refuses_the_upload_that_would_pass_it_and_usage_shows_it(
    make_settings: Callable[..., Settings], clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = clip.stat().st_size
    settings = make_settings(**{"limits.storage_quota_bytes": 2 * size + size // 2})
    with running_app(settings) as api:
        first = api.upload(clip)
        assert api.get("/v1/video/usage").json()["storage"] == {
            "used_bytes": first["size_bytes"],
            "quota_bytes": 2 * size + size // 2,
            "remaining_bytes": 2 * size + size // 2 - first["size_bytes"],
        }
        api.upload(clip)
        with clip.open("rb") as fh:
            refused = api.post("/v1/video/assets", files={"file": ("clip.mp4", fh, "video/mp4")})
        body = assert_problem(refused, 402, "storage_quota_exceeded")
        assert "storage quota" in body["detail"]
        assert api.get("/v1/video/usage").json()["storage"]["used_bytes"] == 2 * first["size_bytes"]

        # Deleting an asset frees its bytes; the key's own quota (CLI) overrides the default.
        assert api.delete(f"/v1/video/assets/{first['id']}").status_code == 204
        api.upload(clip)
        key_id = next(iter(_key_ids(settings)))
        monkeypatch.setenv("VIDEOAPI_SERVER__VAR_DIR", str(settings.var_path))
        out = CliRunner().invoke(cli, ["keys", "storage-quota", key_id, "--unlimited"])
        assert out.exit_code == 0, out.output
        assert "quota unlimited" in out.output
        api.upload(clip)
        assert api.get("/v1/video/usage").json()["storage"]["quota_bytes"] is None
        out = CliRunner().invoke(cli, ["usage", "report", "--key", key_id])
        assert f"storage: {3 * first['size_bytes']} bytes stored, no quota" in out.output
