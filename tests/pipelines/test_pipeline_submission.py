"""What a pipeline shares with every create: the quota reserved for all its steps in one transaction,
Idempotency-Key replays, one signed webhook when it ends (none per step), and deliveries of its final
steps to the caller's bucket (moto's S3 server), again after a retry."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from standardwebhooks.webhooks import Webhook

from tests.billing.test_usage_api import _key_ids, set_quota
from tests.destinations.test_destinations import ACCESS_KEY, SECRET_KEY, settled_log
from tests.destinations.test_destinations import FAST as DESTINATIONS_FAST
from tests.gateway.test_webhooks import FAST, secrets_of
from tests.pipelines.test_pipelines import wait_pipeline
from tests.support.app import Api, assert_problem, running_app
from tests.support.gateway import Receiver, make_key
from tests.support.media import make_video
from videoapi.settings import Settings

pytestmark = pytest.mark.ffmpeg

# Loopback inputs are refused by the worker at once: the first step fails within milliseconds.
FAILING_INPUT = {"url": "http://127.0.0.1:9/a.mp4"}


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "clip.mp4", duration_s=2.0, width=160, height=120, fps=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def hook_api(make_settings: Callable[..., Settings]) -> Iterator[Api]:
    with running_app(make_settings(**FAST)) as api:
        yield api


def two_steps(first_input: dict[str, Any]) -> dict[str, Any]:
    return {
        "steps": [
            {"id": "cut", "kind": "edit.trim", "params": {"input": first_input, "start_s": 0, "end_s": 1}},
            {"id": "small", "kind": "edit.transcode", "params": {"input": {"step": "cut"}, "width": 96, "height": 72}},
        ]
    }


def test_the_pipeline_end_is_one_signed_webhook_with_every_step(hook_api: Api, receiver: Receiver) -> None:
    resp = hook_api.post("/v1/video/pipelines", json={**two_steps(FAILING_INPUT), "webhook_url": receiver.url()})
    assert resp.status_code == 202, resp.text
    pipeline_id = resp.json()["id"]
    request = receiver.wait_for(1)[0]
    (secret,) = secrets_of(hook_api.settings, hook_api.key)
    payload = Webhook(secret).verify(request["body"], request["headers"])
    assert payload["type"] == "pipeline.failed"
    data = payload["data"]
    assert data["id"] == pipeline_id and data["status"] == "failed"
    assert [s["status"] for s in data["steps"]] == ["failed", "failed"]
    assert data["steps"][0]["error"]["code"] == "url_forbidden"
    assert data["steps"][1]["error"]["code"] == "dependency_failed"
    time.sleep(0.5)  # stays: no other delivery (a step's own, a second one) comes in this window
    assert len(receiver.requests) == 1


def test_an_idempotency_key_replays_the_same_pipeline(api: Api, video: Path) -> None:
    asset = api.upload(video)
    body = two_steps({"asset_id": asset["id"]})
    first = api.post("/v1/video/pipelines", json=body, headers={"Idempotency-Key": "pipe-1"})
    again = api.post("/v1/video/pipelines", json=body, headers={"Idempotency-Key": "pipe-1"})
    assert first.status_code == again.status_code == 202, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert len(api.get("/v1/video/pipelines").json()["items"]) == 1
    other = {**body, "priority": "low"}
    assert_problem(
        api.post("/v1/video/pipelines", json=other, headers={"Idempotency-Key": "pipe-1"}),
        409,
        "idempotency_key_reused",
    )


def test_the_quota_covers_every_step_or_nothing_is_created(make_settings: Callable[..., Settings], video: Path) -> None:
    settings = make_settings()
    with running_app(settings) as api:
        asset = api.upload(video)
        body = two_steps({"asset_id": asset["id"]})
        one = api.post("/v1/video/edit/trim/estimate", json=body["steps"][0]["params"]).json()["estimate_credits"]
        (key_id,) = _key_ids(settings)
        # Room for the first step alone, not for both.
        set_quota(settings, key_id, one * 1.5)
        problem = assert_problem(api.post("/v1/video/pipelines", json=body), 402, "quota_exceeded")
        assert "credits" in problem["detail"]
        assert api.get("/v1/video/pipelines").json()["items"] == []
        assert api.get("/v1/video/tasks").json()["items"] == []


def test_a_retry_needs_the_quota_to_cover_the_steps_it_runs_again(
    make_settings: Callable[..., Settings], video: Path
) -> None:
    """An ended step's reservation lapses; a retry makes it live again, so it is checked like a create."""
    settings = make_settings()
    with running_app(settings) as api:
        body = two_steps(FAILING_INPUT)
        (key_id,) = _key_ids(settings)
        set_quota(settings, key_id, 1000.0)
        resp = api.post("/v1/video/pipelines", json=body)
        assert resp.status_code == 202, resp.text
        pipeline_id = resp.json()["id"]
        failed = wait_pipeline(api, pipeline_id)
        assert failed["status"] == "failed", failed
        # Meanwhile the month's credits were spent: nothing is left for what the steps held.
        used = api.get("/v1/video/usage").json()["quota"]["used_this_month"]
        set_quota(settings, key_id, used)

        problem = assert_problem(api.post(f"/v1/video/pipelines/{pipeline_id}/retry"), 402, "quota_exceeded")
        assert "again" in problem["detail"] and "credits" in problem["detail"], problem
        after = api.get(f"/v1/video/pipelines/{pipeline_id}").json()
        assert after["status"] == "failed" and [s["attempts"] for s in after["steps"]] == [
            s["attempts"] for s in failed["steps"]
        ]  # nothing changed

        set_quota(settings, key_id, 1000.0)
        assert api.post(f"/v1/video/pipelines/{pipeline_id}/retry").status_code == 202
        assert wait_pipeline(api, pipeline_id)["status"] == "failed"  # the input is still unreachable


def test_destinations_get_the_final_step_also_after_a_retry(
    make_settings: Callable[..., Settings], s3_endpoint: str, video: Path
) -> None:
    s3 = boto3.client(
        "s3", endpoint_url=f"http://{s3_endpoint}", aws_access_key_id="test", aws_secret_access_key="test",
        region_name="us-east-1",
    )  # fmt: skip
    s3.create_bucket(Bucket="retried")
    with running_app(make_settings(**DESTINATIONS_FAST)) as api:
        dest = api.post(
            "/v1/video/destinations",
            json={"endpoint": f"http://{s3_endpoint}", "bucket": "retried", "access_key": ACCESS_KEY,
                  "secret_key": SECRET_KEY},
        ).json()  # fmt: skip
        asset = api.upload(video)
        body = {**two_steps({"asset_id": asset["id"]}), "destinations": [{"id": dest["id"]}]}
        pipeline = api.post("/v1/video/pipelines", json=body).json()
        cut, small = (s["task_id"] for s in pipeline["steps"])
        # Canceled while the second step waits: its delivery is skipped, the first step has none.
        assert api.post(f"/v1/video/pipelines/{pipeline['id']}/cancel").status_code == 202
        assert settled_log(api, small)[0]["status"] == "skipped"
        assert api.get(f"/v1/video/tasks/{cut}/deliveries").json()["items"] == []

        assert wait_pipeline(api, pipeline["id"])["status"] == "canceled"  # the first step may still have run

        assert api.post(f"/v1/video/pipelines/{pipeline['id']}/retry").status_code == 202
        assert wait_pipeline(api, pipeline["id"])["status"] == "succeeded"
        (delivery,) = settled_log(api, small)
        assert delivery["delivered"] is True, delivery
        assert f"{small}/output.mp4" in delivery["object_keys"]
        s3.head_object(Bucket="retried", Key=f"{small}/output.mp4")


def test_each_step_needs_the_scope_of_its_own_kind(api: Api, video: Path) -> None:
    asset = api.upload(video)
    generate_only = api.as_key(make_key(api.settings, "generate-only", scopes=["generate", "read"]))
    problem = assert_problem(
        generate_only.post("/v1/video/pipelines", json=two_steps({"asset_id": asset["id"]})), 403, "insufficient_scope"
    )
    assert problem["errors"][0]["field"] == "steps[0].kind"
    assert api.get("/v1/video/pipelines").json()["items"] == []
