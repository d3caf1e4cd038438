"""Destinations end to end: saved per owner with sealed credentials, and succeeded tasks' outputs copied to
a real S3 protocol server (moto), with retries, a delivery log, and a task that never fails because of one."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import boto3
import moto.settings
import pytest
from sqlalchemy import select

from tests.support.app import Api, assert_problem, create_key, free_port, running_app, with_services
from tests.support.media import make_video
from videoapi.destinations.models import Destination
from videoapi.settings import Settings

pytestmark = pytest.mark.ffmpeg

ACCESS_KEY = "AKIAEXAMPLEKEY123456"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
FAST = {
    "destinations.allow_cidrs": ["127.0.0.0/8"],
    "destinations.allow_ports": [],
    "destinations.retry_delays_s": [0.2, 0.2],
    "destinations.poll_interval_s": 0.1,
}


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "clip.mp4", duration_s=1.0, width=160, height=90, fps=10)


@pytest.fixture
def s3(s3_endpoint: str) -> Any:
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{s3_endpoint}",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="customer")
    return client


@pytest.fixture
def api(make_settings: Callable[..., Settings]) -> Iterator[Api]:
    with running_app(make_settings(**FAST)) as api:
        yield api


def destination(api: Api, endpoint: str, **over: Any) -> dict[str, Any]:
    body = {
        "endpoint": endpoint,
        "bucket": "customer",
        "prefix": "renders/",
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        **over,
    }
    resp = api.post("/v1/video/destinations", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def trim_to(api: Api, video: Path, *destination_ids: str) -> dict[str, Any]:
    asset = api.upload(video)
    body = {
        "input": {"asset_id": asset["id"]},
        "start_s": 0,
        "end_s": 0.5,
        "destinations": [{"id": d} for d in destination_ids],
    }
    resp = api.post("/v1/video/edit/trim", json=body)
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"])
    assert task["status"] == "succeeded", task
    return task


def settled_log(api: Api, task_id: str, timeout_s: float = 30) -> list[dict[str, Any]]:
    """The delivery log once no delivery is waiting or pending."""
    deadline = time.monotonic() + timeout_s
    while True:
        resp = api.get(f"/v1/video/tasks/{task_id}/deliveries")
        assert resp.status_code == 200, resp.text
        items = resp.json()["items"]
        if items and all(d["status"] not in ("waiting", "pending") for d in items):
            return items
        assert time.monotonic() < deadline, items
        time.sleep(0.1)


def test_outputs_are_copied_under_the_prefix_with_their_bytes(
    api: Api, s3_endpoint: str, s3: Any, video: Path, tmp_path: Path
) -> None:
    dest = destination(api, f"http://{s3_endpoint}")
    task = trim_to(api, video, dest["id"])
    (delivery,) = settled_log(api, task["id"])
    assert delivery["delivered"] is True and delivery["status"] == "delivered", delivery
    assert delivery["attempts"] == 1 and delivery["last_error"] is None and delivery["delivered_at"]
    assert delivery["bucket"] == "customer"
    result = task["result"]
    expected = {f"renders/{task['id']}/output.mp4": (result["url"], result["content_type"])}
    if result.get("poster_url"):
        expected[f"renders/{task['id']}/poster.jpg"] = (result["poster_url"], "image/jpeg")
    assert sorted(delivery["object_keys"]) == sorted(expected)
    for key, (url, content_type) in expected.items():
        got = s3.get_object(Bucket="customer", Key=key)
        assert got["ContentType"] == content_type
        assert got["Body"].read() == api.download(url, tmp_path / key.rsplit("/", 1)[-1]).read_bytes()
    assert (
        s3.head_object(Bucket="customer", Key=f"renders/{task['id']}/output.mp4")["ContentLength"]
        == (result["size_bytes"])
    )


@pytest.mark.parametrize("store", ["local", "s3"])
def test_an_hls_output_is_delivered_whole_and_plays_from_the_bucket(
    make_settings: Callable[..., Settings], s3_endpoint: str, s3: Any, tmp_path: Path, store: str
) -> None:
    """The master playlist, each rendition's playlist and every segment (init segments included), with
    the master written after everything it plays; a player opening the delivered master decodes every
    rendition to the end. From the S3 store, each file is fetched while the playlists naming it stay."""
    source = make_video(tmp_path / "src.mp4", duration_s=1.0, width=320, height=240, fps=10)
    stored = {"storage.backend": "s3", "storage.s3_endpoint": s3_endpoint, "storage.s3_access_key": "testing",
              "storage.s3_secret_key": "testing", "storage.s3_bucket": f"store-{free_port()}",
              "storage.s3_secure": False} if store == "s3" else {}  # fmt: skip
    with running_app(make_settings(**FAST, **stored, **{"outputs.hls_segment_s": 0.5})) as api:
        dest = destination(api, f"http://{s3_endpoint}")
        asset = api.upload(source)
        body = {"input": {"asset_id": asset["id"]}, "format": "hls", "quality": "low",
                "hls": {"ladder": ["240p", "144p"]}, "destinations": [{"id": dest["id"]}]}  # fmt: skip
        resp = api.post("/v1/video/edit/transcode", json=body)
        assert resp.status_code == 202, resp.text
        task = api.wait(resp.json()["id"])
        assert task["status"] == "succeeded", task
        (delivery,) = settled_log(api, task["id"])
    assert delivery["status"] == "delivered", delivery
    folder = f"renders/{task['id']}/"
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket="customer", Prefix=folder)["Contents"]}
    keys = delivery["object_keys"]
    assert sorted(keys) == sorted(listed)
    names = [k.removeprefix(folder) for k in keys]
    hls = [n for n in names if n != "poster.jpg"]
    assert hls[-1] == "master.m3u8"  # written last: whoever sees it finds everything it names
    assert sorted(n for n in hls if n.endswith(".m3u8")) == ["master.m3u8", "stream_144p.m3u8", "stream_240p.m3u8"]
    assert {"stream_240p_init.mp4", "stream_144p_init.mp4", "stream_240p_000.m4s", "stream_144p_000.m4s"} <= set(hls)
    assert s3.head_object(Bucket="customer", Key=f"{folder}master.m3u8")["ContentType"] == (
        "application/vnd.apple.mpegurl"
    )
    local = tmp_path / "delivered"
    local.mkdir()
    for name in names:
        s3.download_file("customer", folder + name, str(local / name))
    frames: dict[tuple[int, int], int] = {}
    with av.open(str(local / "master.m3u8")) as container:
        for frame in container.decode(*container.streams.video):
            frames[(frame.width, frame.height)] = frames.get((frame.width, frame.height), 0) + 1
    assert frames == {(320, 240): 10, (192, 144): 10}


def test_wrong_credentials_leave_the_task_succeeded_and_log_the_error(
    api: Api, s3_endpoint: str, s3: Any, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = destination(api, f"http://{s3_endpoint}", prefix="denied/")
    # From here moto checks signatures against its IAM users: our key is unknown to it.
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    task = trim_to(api, video, dest["id"])
    (delivery,) = settled_log(api, task["id"])
    monkeypatch.undo()
    assert delivery["delivered"] is False and delivery["status"] == "failed"
    assert delivery["attempts"] == 3  # the first try and the two retries
    assert "InvalidAccessKeyId" in delivery["last_error"], delivery
    shown = api.get(f"/v1/video/tasks/{task['id']}")
    assert shown.json()["status"] == "succeeded"
    for text in (shown.text, api.get(f"/v1/video/tasks/{task['id']}/deliveries").text):
        assert SECRET_KEY not in text and ACCESS_KEY not in text
    assert s3.list_objects_v2(Bucket="customer", Prefix="denied/").get("KeyCount", 0) == 0


def test_an_endpoint_that_is_down_is_retried_then_marked_undelivered(api: Api, video: Path) -> None:
    dest = destination(api, f"http://127.0.0.1:{free_port()}")
    task = trim_to(api, video, dest["id"])
    (delivery,) = settled_log(api, task["id"])
    assert delivery["delivered"] is False and delivery["attempts"] == 3
    assert delivery["last_error"] and delivery["object_keys"] == []
    assert api.get(f"/v1/video/tasks/{task['id']}").json()["status"] == "succeeded"


def test_credentials_are_sealed_at_rest_and_never_shown(api: Api, s3_endpoint: str) -> None:
    created = destination(api, f"http://{s3_endpoint}", name="archive")
    assert created["access_key"] == "****3456"
    shown = [created, api.get(f"/v1/video/destinations/{created['id']}").json()]
    shown += api.get("/v1/video/destinations").json()["items"]
    for body in shown:
        assert "secret_key" not in body
        assert SECRET_KEY not in str(body) and ACCESS_KEY not in str(body)

    async def row(services: Any) -> Destination:
        async with services.sessions() as session:
            return (await session.scalars(select(Destination).where(Destination.id == created["id"]))).one()

    stored = with_services(api.settings, row)
    assert SECRET_KEY not in stored.credentials and ACCESS_KEY not in stored.credentials
    opened = with_services(api.settings, lambda s: _open(s, stored.credentials))
    assert (opened.access_key, opened.secret_key) == (ACCESS_KEY, SECRET_KEY)


async def _open(services: Any, token: str) -> Any:
    return services.destinations.box.open(token)


def test_destinations_belong_to_their_owner(api: Api, s3_endpoint: str, video: Path) -> None:
    mine = destination(api, f"http://{s3_endpoint}")
    other = api.as_key(create_key(api.settings, "other"))
    assert_problem(other.get(f"/v1/video/destinations/{mine['id']}"), 404, "destination_not_found")
    assert_problem(other.delete(f"/v1/video/destinations/{mine['id']}"), 404, "destination_not_found")
    assert other.get("/v1/video/destinations").json()["items"] == []
    asset = other.upload(video)
    body = {"input": {"asset_id": asset["id"]}, "start_s": 0, "end_s": 0.5, "destinations": [{"id": mine["id"]}]}
    problem = assert_problem(other.post("/v1/video/edit/trim", json=body), 422, "unknown_destination")
    assert problem["errors"][0]["field"] == "destinations[0].id"
    batch = other.post("/v1/video/batch/edit", json={"items": [{"kind": "trim", "request": body}]})
    assert assert_problem(batch, 422, "unknown_destination")["errors"][0]["field"] == (
        "items[0].request.destinations[0].id"
    )
    task = api.post("/v1/video/edit/trim", json={**body, "input": {"asset_id": api.upload(video)["id"]}}).json()
    assert_problem(other.get(f"/v1/video/tasks/{task['id']}/deliveries"), 404, "task_not_found")
    assert api.delete(f"/v1/video/destinations/{mine['id']}").status_code == 204
    assert_problem(api.get(f"/v1/video/destinations/{mine['id']}"), 404, "destination_not_found")


def test_internal_endpoints_are_refused_unless_allowed(make_settings: Callable[..., Settings]) -> None:
    with running_app(make_settings()) as api:
        body = {"bucket": "customer", "access_key": "a", "secret_key": "b"}
        for endpoint in ("http://127.0.0.1:9000", "http://169.254.169.254", "http://10.0.0.5"):
            resp = api.post("/v1/video/destinations", json={**body, "endpoint": endpoint})
            problem = assert_problem(resp, 422, "url_forbidden")
            assert problem["errors"][0]["field"] == "endpoint"
        resp = api.post("/v1/video/destinations", json={**body, "endpoint": "ftp://s3.example.com"})
        assert_problem(resp, 422)


def test_a_task_that_fails_skips_its_deliveries(api: Api, s3_endpoint: str) -> None:
    dest = destination(api, f"http://{s3_endpoint}")
    # The worker refuses to fetch an internal address: the task fails.
    body = {
        "input": {"url": "http://127.0.0.1:9/a.mp4"},
        "start_s": 0,
        "end_s": 1,
        "destinations": [{"id": dest["id"]}],
    }
    resp = api.post("/v1/video/edit/trim", json=body)
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"])
    assert task["status"] == "failed", task
    (delivery,) = settled_log(api, task["id"])
    assert delivery["status"] == "skipped" and delivery["delivered"] is False and delivery["attempts"] == 0


def test_generation_and_template_renders_carry_destinations_too(
    api: Api, s3_endpoint: str, s3: Any, video: Path
) -> None:
    dest = destination(api, f"http://{s3_endpoint}", prefix="styled/")
    body = {"video": {"asset_id": api.upload(video)["id"]}, "style": "sketch", "destinations": [{"id": dest["id"]}]}
    resp = api.post("/v1/video/generate/style-transfer", json=body)
    assert resp.status_code == 202, resp.text
    assert "destinations" not in resp.json()["params"]
    task = api.wait(resp.json()["id"])
    assert task["status"] == "succeeded", task
    (delivery,) = settled_log(api, task["id"])
    assert delivery["delivered"] is True, delivery
    for key in delivery["object_keys"]:
        assert key.startswith(f"styled/{task['id']}/")
        assert s3.head_object(Bucket="customer", Key=key)["ContentLength"] > 0
    # A template render is a composite create: an unknown destination is refused the same way.
    template = api.post(
        "/v1/video/templates",
        json={
            "name": "card",
            "fields": {"title": {"type": "text", "required": True}},
            "timeline": {"tracks": [{"clips": [{"type": "text", "text": "{{title}}", "duration_s": 1}]}]},
            "output": {"resolution": "720p"},
        },
    )
    assert template.status_code == 201, template.text
    render = {"merge": {"title": "hi"}, "destinations": [{"id": "nope"}]}
    problem = assert_problem(api.post(f"/v1/video/templates/{template.json()['id']}/render", json=render), 422)
    assert problem["code"] == "unknown_destination" and problem["errors"][0]["field"] == "destinations[0].id"
