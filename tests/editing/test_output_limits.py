"""The output limits hold for every kind, before a task exists: a request that asks for a frame or a
length of work past editing.max_output_* is a 422 naming the setting, even when its input is a URL
that nobody has probed yet."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.app import assert_problem, running_app, serve_in_thread
from videoapi.settings import Settings

URL_INPUT = {"url": "https://media.example.com/clip.mp4"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"width": 7680, "height": 7680, "fps": 120}, "width"),
        ({"height": 7680}, "height"),
        ({"width": 3840, "height": 3840}, "width"),  # each side allowed, their product is not
    ],
)
def test_a_transcode_past_the_output_limits_is_refused_before_any_task(
    make_settings: Callable[..., Settings], body: dict[str, int], field: str
) -> None:
    with running_app(make_settings()) as api:
        resp = api.post("/v1/video/edit/transcode", json={"input": URL_INPUT, **body})
        problem = assert_problem(resp, 422, "limit_exceeded")
        assert problem["errors"][0]["field"] == field and "editing.max_output_" in problem["detail"]
        assert api.get("/v1/video/tasks").json()["items"] == []


def test_the_pixel_seconds_limit_counts_the_planned_length(make_settings: Callable[..., Settings], clip: Path) -> None:
    settings = make_settings(**{"editing.max_output_pixel_seconds": 320 * 240 * 2.0})
    with running_app(settings) as api:
        asset = api.upload(clip)
        body = {"input": {"asset_id": asset["id"]}, "width": 320, "height": 240}
        problem = assert_problem(api.post("/v1/video/edit/transcode", json=body), 422, "limit_exceeded")
        assert "editing.max_output_pixel_seconds" in problem["detail"]
        small = {**body, "width": 160, "height": 120}
        assert api.post("/v1/video/edit/transcode", json=small).status_code == 202


def test_a_transcode_that_keeps_a_frame_past_the_output_limits_is_refused(
    make_settings: Callable[..., Settings], clip: Path
) -> None:
    """No size asked for: the output keeps the input's 320x240, past a 200-pixel output limit."""
    with running_app(make_settings(**{"editing.max_output_width": 200})) as api:
        asset = api.upload(clip)
        problem = assert_problem(
            api.post("/v1/video/edit/transcode", json={"input": {"asset_id": asset["id"]}}), 422, "limit_exceeded"
        )
        assert "320x240" in problem["detail"] and "editing.max_output_width" in problem["detail"]
        assert (
            api.post("/v1/video/edit/transcode", json={"input": {"asset_id": asset["id"]}, "width": 160}).status_code
            == 202
        )


def test_a_url_input_past_the_output_limits_fails_before_any_work(
    make_settings: Callable[..., Settings], clip: Path
) -> None:
    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(clip.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serve_in_thread(server)
    url = f"http://127.0.0.1:{server.server_address[1]}/{clip.name}"
    settings = make_settings(**{"editing.max_output_width": 200, "limits.fetch_allow_cidrs": ["127.0.0.1/32"]})
    try:
        with running_app(settings) as api:
            task = api.post("/v1/video/edit/transcode", json={"input": {"url": url}})
            assert task.status_code == 202, task.text  # nobody knows its size yet
            failed = api.wait(task.json()["id"])
            assert failed["status"] == "failed" and failed["error"]["code"] == "limit_exceeded", failed
            assert "320x240" in failed["error"]["message"]
    finally:
        server.shutdown()
