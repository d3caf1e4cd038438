"""A task is charged what its real inputs cost, whatever its inputs were at submission.

A URL input is not probed until the worker fetches it, so it is reserved for
`billing.unprobed_reserve_s` at the request's size; the worker then tops the reservation up to the
real estimate, and a quota that cannot cover it fails the task with 402 `quota_exceeded` before any
work. Classical style transfer is estimated at the size it outputs and charged its own price, with
a quota or without.
"""

from __future__ import annotations

import functools
import http.server
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.billing.test_usage_api import _key_ids, set_quota
from tests.support.app import Api, running_app, serve_in_thread
from videoapi.settings import Settings

STYLE = "/v1/video/generate/style-transfer"


@pytest.fixture
def served(clip: Path) -> Iterator[str]:
    """The URL of `clip` on a loopback HTTP server."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(clip.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serve_in_thread(server)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{clip.name}"
    finally:
        server.shutdown()


def url_settings(make_settings: Callable[..., Settings]) -> Settings:
    # One second reserved for an unprobed input: the 4 s clip is worth four times its reservation.
    return make_settings(**{"limits.fetch_allow_cidrs": ["127.0.0.1/32"], "billing.unprobed_reserve_s": 1.0})


def real_estimate(api: Api, clip: Path, path: str, body: dict[str, object], field: str = "input") -> float:
    asset = api.upload(clip)
    resp = api.post(f"{path}/estimate", json={**body, field: {"asset_id": asset["id"]}})
    assert resp.status_code == 200, resp.text
    return float(resp.json()["estimate_credits"])


TRANSCODE = {"height": 720, "quality": "low"}


def test_a_url_input_is_charged_its_real_length_not_the_reservation(
    make_settings: Callable[..., Settings], clip: Path, served: str
) -> None:
    settings = url_settings(make_settings)
    with running_app(settings) as api:
        real = real_estimate(api, clip, "/v1/video/edit/transcode", TRANSCODE)
        reserved = api.post("/v1/video/edit/transcode/estimate", json={**TRANSCODE, "input": {"url": served}})
        assert reserved.json()["estimate_credits"] < real  # 1 s reserved, 4 s of output
        set_quota(settings, _key_ids(settings)[0], 10 * real)
        task = api.post("/v1/video/edit/transcode", json={**TRANSCODE, "input": {"url": served}})
        assert task.status_code == 202, task.text
        done = api.wait(task.json()["id"])
        assert done["status"] == "succeeded", done
        assert done["cost"] == pytest.approx(real)
        assert api.get("/v1/video/usage").json()["total_credits"] == pytest.approx(real)


def test_a_url_input_the_quota_cannot_cover_fails_with_402_before_any_work(
    make_settings: Callable[..., Settings], clip: Path, served: str
) -> None:
    settings = url_settings(make_settings)
    with running_app(settings) as api:
        real = real_estimate(api, clip, "/v1/video/edit/transcode", TRANSCODE)
        reserved = api.post("/v1/video/edit/transcode/estimate", json={**TRANSCODE, "input": {"url": served}})
        # Room for the reservation, not for the real cost.
        set_quota(settings, _key_ids(settings)[0], (reserved.json()["estimate_credits"] + real) / 2)
        task = api.post("/v1/video/edit/transcode", json={**TRANSCODE, "input": {"url": served}})
        assert task.status_code == 202, task.text
        failed = api.wait(task.json()["id"])
        assert failed["status"] == "failed", failed
        assert failed["error"]["code"] == "quota_exceeded" and "credits" in failed["error"]["message"]
        assert failed["result"] is None and failed["cost"] is None
        usage = api.get("/v1/video/usage").json()
        assert usage["total_tasks"] == 0 and usage["quota"]["used_this_month"] == pytest.approx(0.0)


def test_a_classical_style_is_charged_what_its_estimate_says_without_a_quota(
    make_settings: Callable[..., Settings], clip: Path
) -> None:
    with running_app(make_settings()) as api:
        body = {"style": "sepia"}
        estimate = real_estimate(api, clip, STYLE, body, field="video")
        asset = api.upload(clip)
        task = api.post(STYLE, json={**body, "video": {"asset_id": asset["id"]}})
        assert task.status_code == 202, task.text
        done = api.wait(task.json()["id"], timeout_s=60)
        assert done["status"] == "succeeded", done
        assert done["cost"] == pytest.approx(estimate)


def test_a_classical_style_is_estimated_at_the_size_it_outputs(
    make_settings: Callable[..., Settings], clip: Path
) -> None:
    with running_app(make_settings()) as api:
        native = real_estimate(api, clip, STYLE, {"style": "sepia"}, field="video")
        upscaled = real_estimate(api, clip, STYLE, {"style": "sepia", "resolution": "1080p"}, field="video")
        shorter = real_estimate(api, clip, STYLE, {"style": "sepia", "resolution": "1080p", "duration_s": 2.0}, "video")
    # 320x240 in, 1440x1080 out: the 1080p rate (4x the 480p one), and only the 2 s asked for.
    assert upscaled == pytest.approx(4 * native)
    assert shorter == pytest.approx(upscaled / 2)


def test_a_classical_style_of_a_url_the_quota_cannot_cover_fails_with_402(
    make_settings: Callable[..., Settings], clip: Path, served: str
) -> None:
    settings = url_settings(make_settings)
    with running_app(settings) as api:
        real = real_estimate(api, clip, STYLE, {"style": "sepia"}, field="video")
        set_quota(settings, _key_ids(settings)[0], real / 2)
        task = api.post(STYLE, json={"style": "sepia", "video": {"url": served}})
        assert task.status_code == 202, task.text
        failed = api.wait(task.json()["id"], timeout_s=60)
        assert failed["status"] == "failed" and failed["error"]["code"] == "quota_exceeded", failed
