"""Auth on every /v1 route, owners isolated, and every refusal an RFC 9457 problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.app import Api, assert_problem, create_key


@pytest.fixture
def api(shared_api: Api) -> Api:
    """These tests only send requests, each as a new owner: one app serves the module."""
    return shared_api


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer vk_000000000000_nope"}],
)
def test_missing_or_wrong_key_is_401(api: Api, headers: dict[str, str]) -> None:
    resp = api.client.get("/v1/video/tasks", headers=headers)
    assert_problem(resp, 401)


def test_revoked_key_stops_working_at_once(api: Api) -> None:
    key = create_key(api.settings, "short-lived")
    assert api.as_key(key).get("/v1/video/tasks").status_code == 200
    from tests.support.app import run_async
    from videoapi.composition import build_services

    async def revoke() -> None:
        services = await build_services(api.settings, None)
        try:
            await services.keys.revoke(key.split("_")[1])
        finally:
            await services.close()

    run_async(revoke())
    assert_problem(api.as_key(key).get("/v1/video/tasks"), 401, "invalid_api_key")


def test_another_owners_task_and_asset_are_404(api: Api) -> None:
    resp = api.post(
        "/v1/video/edit/trim", json={"input": {"url": "https://example.com/a.mp4"}, "start_s": 0, "end_s": 1}
    )
    assert resp.status_code == 202
    task_id = resp.json()["id"]
    other = api.as_key(create_key(api.settings, "other"))
    assert_problem(other.get(f"/v1/video/tasks/{task_id}"), 404, "task_not_found")
    assert_problem(other.post(f"/v1/video/tasks/{task_id}/cancel"), 404)
    assert other.get("/v1/video/tasks").json()["items"] == []


def test_unknown_fields_are_422_naming_the_field(api: Api) -> None:
    resp = api.post(
        "/v1/video/edit/trim", json={"input": {"url": "https://x.test/a.mp4"}, "start_s": 0, "end_s": 1, "speed": 2}
    )
    body = assert_problem(resp, 422, "invalid_request")
    assert "speed" in body["detail"]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"start_s": -1, "end_s": 1}, "start_s"),
        ({"start_s": 0, "end_s": 1e12}, "end_s"),
        ({"start_s": "soon", "end_s": 1}, "start_s"),
        ({"start_s": 2, "end_s": 1}, "end_s"),
        ({"start_s": 1, "end_s": 1}, "end_s"),
    ],
)
def test_absurd_numbers_are_422(api: Api, payload: dict, fragment: str) -> None:  # type: ignore[type-arg]
    resp = api.post("/v1/video/edit/trim", json={"input": {"url": "https://x.test/a.mp4"}, **payload})
    body = assert_problem(resp, 422)
    assert fragment in resp.text, body


def test_input_needs_exactly_one_source(api: Api) -> None:
    assert_problem(api.post("/v1/video/edit/trim", json={"input": {}, "start_s": 0, "end_s": 1}), 422)
    resp = api.post("/v1/video/edit/trim", json={"input": {"url": "file:///etc/passwd"}, "start_s": 0, "end_s": 1})
    assert_problem(resp, 422, "url_forbidden")


def test_malformed_json_is_a_problem_not_a_crash(api: Api) -> None:
    resp = api.post("/v1/video/edit/trim", content=b"{not json", headers={"content-type": "application/json"})
    assert resp.status_code in (400, 422)
    assert_problem(resp, resp.status_code)


def test_unknown_asset_is_404_and_unknown_route_is_a_problem(api: Api) -> None:
    assert_problem(api.get("/v1/video/assets/nope"), 404, "asset_not_found")
    assert_problem(api.get("/v1/video/nothing-here"), 404)


def test_openapi_schema_is_served(api: Api) -> None:
    resp = api.client.get("/schema/openapi.json")
    assert resp.status_code == 200
    paths = resp.json()["paths"]
    assert {"/v1/video/edit/trim", "/v1/video/edit/transcode", "/v1/video/tasks/{task_id}", "/v1/video/assets"} <= set(
        paths
    )


def test_health_ready_and_metrics(api: Api) -> None:
    assert api.client.get("/health").json() == {"status": "ok"}
    ready = api.client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "store": "ok"}
    api.get("/v1/video/tasks")
    text = api.client.get("/metrics").text
    assert "videoapi_http_requests_total" in text
    assert 'route="/v1/video/tasks"' in text


def test_another_owners_asset_is_404_everywhere(api: Api, clip: Path) -> None:
    asset = api.upload(clip)
    other = api.as_key(create_key(api.settings, "other"))
    assert_problem(other.get(f"/v1/video/assets/{asset['id']}"), 404, "asset_not_found")
    assert_problem(other.delete(f"/v1/video/assets/{asset['id']}"), 404, "asset_not_found")
    body = {"input": {"asset_id": asset["id"]}, "start_s": 0, "end_s": 0.5}
    assert_problem(other.post("/v1/video/edit/trim", json=body), 404, "asset_not_found")
    assert api.get(f"/v1/video/assets/{asset['id']}").status_code == 200
