"""Templates over HTTP: save, list, version, delete, owner isolation, and renders that are real composites."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.support.app import Api, assert_problem, create_key, running_app
from tests.support.gateway import make_key
from tests.support.media import make_image
from videoapi.settings import Settings

BLUE = (0x22, 0x44, 0xCC)
RED = (0xCC, 0x22, 0x22)


def template(background: str = "#2244cc", **over: Any) -> dict[str, Any]:
    """A coloured card with a white title in the middle; its length and title are merge fields."""
    body: dict[str, Any] = {
        "name": "title card",
        "fields": {
            "title": {"type": "text", "required": True, "max_length": 40},
            "seconds": {"type": "duration", "default": 1, "min": 0.5, "max": 3},
            "size": {"type": "number", "default": 40, "min": 8, "max": 80},
        },
        "timeline": {
            "tracks": [
                {"clips": [{"type": "color", "color": background, "duration_s": "{{seconds}}"}]},
                {"clips": [{"type": "text", "text": "{{title}}", "size": "{{size}}", "position": "center",
                            "duration_s": "{{seconds}}"}]},
            ]
        },
        "output": {"width": 160, "height": 90, "fps": 10, "quality": "low"},
    }  # fmt: skip
    body.update(over)
    return body


def create(api: Api, body: dict[str, Any] | None = None) -> dict[str, Any]:
    resp = api.post("/v1/video/templates", json=body or template())
    assert resp.status_code == 201, resp.text
    assert resp.headers["location"] == f"/v1/video/templates/{resp.json()['id']}"
    return resp.json()


def render(api: Api, template_id: str, body: dict[str, Any], tmp_path: Path) -> tuple[dict[str, Any], np.ndarray]:
    """Render, wait for the task, and return its result and its middle frame (RGB)."""
    resp = api.post(f"/v1/video/templates/{template_id}/render", json=body)
    assert resp.status_code == 202, resp.text
    task = api.wait(resp.json()["id"], timeout_s=120)
    assert task["status"] == "succeeded", task
    assert task["kind"] == "edit.composite"
    out = api.download(task["result"]["url"], tmp_path / f"{task['id']}.mp4")
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        task["result"]["probed"] = (stream.width, stream.height, float(stream.duration * stream.time_base))
        frames = [f.to_ndarray(format="rgb24").astype(int) for f in c.decode(video=0)]
    return task["result"], frames[len(frames) // 2]


def test_create_list_get_replace_delete(api: Api) -> None:
    first = create(api)
    assert (first["version"], first["latest_version"], [v["version"] for v in first["versions"]]) == (1, 1, [1])
    assert first["fields"]["title"] == {"type": "text", "required": True, "max_length": 40}
    ids = [first["id"], create(api)["id"], create(api)["id"]]

    page = api.get("/v1/video/templates", params={"limit": 2}).json()
    assert [t["id"] for t in page["items"]] == ids[:0:-1]
    rest = api.get("/v1/video/templates", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [t["id"] for t in rest["items"]] == [ids[0]] and rest["next_cursor"] is None

    replaced = api.put(f"/v1/video/templates/{ids[0]}", json=template("#cc2222", name="red card"))
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["version"], replaced.json()["name"]) == (2, "red card")
    latest = api.get(f"/v1/video/templates/{ids[0]}").json()
    assert [v["version"] for v in latest["versions"]] == [1, 2]
    assert latest["timeline"]["tracks"][0]["clips"][0]["color"] == "#cc2222"
    old = api.get(f"/v1/video/templates/{ids[0]}", params={"version": 1}).json()
    old_colour = old["timeline"]["tracks"][0]["clips"][0]["color"]
    assert (old["version"], old["name"], old_colour) == (1, "title card", "#2244cc")
    assert_problem(api.get(f"/v1/video/templates/{ids[0]}", params={"version": 3}), 404, "template_version_not_found")

    assert api.delete(f"/v1/video/templates/{ids[0]}").status_code == 204
    assert_problem(api.get(f"/v1/video/templates/{ids[0]}"), 404, "template_not_found")
    assert [t["id"] for t in api.get("/v1/video/templates").json()["items"]] == ids[:0:-1]


@pytest.mark.postgres
def test_versions_and_pages_on_postgres(make_settings: Callable[..., Settings], pg_url: str) -> None:
    with running_app(make_settings(**{"database.url": pg_url})) as api:
        test_create_list_get_replace_delete(api)


def test_another_owner_sees_none_of_them(api: Api) -> None:
    mine = create(api)["id"]
    other = api.as_key(create_key(api.settings, "other"))
    assert other.get("/v1/video/templates").json()["items"] == []
    for resp in (
        other.get(f"/v1/video/templates/{mine}"),
        other.put(f"/v1/video/templates/{mine}", json=template()),
        other.delete(f"/v1/video/templates/{mine}"),
        other.post(f"/v1/video/templates/{mine}/render", json={"merge": {"title": "x"}}),
    ):
        assert_problem(resp, 404, "template_not_found")
    assert api.get(f"/v1/video/templates/{mine}").json()["version"] == 1


def test_saving_and_rendering_need_the_edit_scope(api: Api) -> None:
    tid = create(api)["id"]
    reader = api.as_key(make_key(api.settings, "reader", scopes=["read"]))
    assert reader.get("/v1/video/templates").status_code == 200
    for resp in (
        reader.post("/v1/video/templates", json=template()),
        reader.put(f"/v1/video/templates/{tid}", json=template()),
        reader.delete(f"/v1/video/templates/{tid}"),
        reader.post(f"/v1/video/templates/{tid}/render", json={"merge": {"title": "x"}}),
    ):
        assert_problem(resp, 403, "insufficient_scope")


def test_a_template_that_does_not_add_up_is_refused_naming_the_path(api: Api) -> None:
    body = template()
    body["timeline"]["tracks"][1]["clips"][0]["text"] = "{{title}} {{subtitle}}"
    problem = assert_problem(api.post("/v1/video/templates", json=body), 422, "invalid_template")
    assert problem["errors"][0]["field"] == "timeline.tracks[1].clips[0].text"
    # With its defaults the composite is invalid: a text size of 2000 pixels is over the limit of 1000.
    body = template(fields={**template()["fields"], "size": {"type": "number", "default": 2000}})
    problem = assert_problem(api.post("/v1/video/templates", json=body), 422, "invalid_template")
    assert problem["errors"][0]["field"] == "timeline.tracks[1].clips[0].size"
    assert_problem(api.put("/v1/video/templates/nope", json=template()), 404, "template_not_found")


def test_bad_merge_values_are_a_422_naming_merge_fields(api: Api) -> None:
    tid = create(api)["id"]
    url = f"/v1/video/templates/{tid}/render"
    problem = assert_problem(api.post(url, json={"merge": {"seconds": "long", "font": "x"}}), 422, "invalid_merge")
    assert {e["field"] for e in problem["errors"]} == {"merge.title", "merge.seconds", "merge.font"}
    problem = assert_problem(api.post(url, json={"merge": {"title": "x", "seconds": 9}}), 422, "invalid_merge")
    assert problem["errors"] == [{"field": "merge.seconds", "message": "9 is more than the maximum of 3"}]
    problem = assert_problem(api.post(url, json={"merge": {"title": "bad\u0007"}}), 422, "invalid_text")
    assert problem["errors"][0]["field"] == "timeline.tracks[1].clips[0].text"
    assert_problem(api.post(url, json={"merge": {"title": "x"}, "version": 2}), 404, "template_version_not_found")
    assert api.get("/v1/video/tasks").json()["items"] == []


def test_merged_text_goes_through_moderation(api: Api) -> None:
    tid = create(api)["id"]
    resp = api.post(f"/v1/video/templates/{tid}/render", json={"merge": {"title": "N.U.D.E pics"}})
    problem = assert_problem(resp, 422, "moderation_blocked")
    assert problem["errors"][0]["field"] == "merge.title"
    # The template's own text is screened when it is saved.
    body = template(fields={**template()["fields"], "title": {"type": "text", "default": "gore"}})
    assert_problem(api.post("/v1/video/templates", json=body), 422, "moderation_blocked")


@pytest.mark.ffmpeg
def test_render_draws_the_merged_text_and_can_pin_a_version(api: Api, tmp_path: Path) -> None:
    tid = create(api)["id"]
    api.put(f"/v1/video/templates/{tid}", json=template("#cc2222")).raise_for_status()

    result, frame = render(api, tid, {"merge": {"title": "HELLO", "seconds": 2}}, tmp_path)
    assert result["probed"][:2] == (160, 90) and abs(result["probed"][2] - 2) <= 0.1
    assert (result["width"], result["height"]) == (160, 90) and abs(result["duration"] - 2) <= 0.1
    centre, corner = frame[35:55, 40:120], frame[:15, :15]
    assert np.all(np.abs(corner - RED) <= 24), corner.mean(axis=(0, 1))
    assert (centre.min(axis=2) > 200).sum() > 50  # white letters drawn over the card

    pinned, pinned_frame = render(api, tid, {"merge": {"title": "."}, "version": 1}, tmp_path)
    assert abs(pinned["duration"] - 1) <= 0.1  # the default length
    assert np.all(np.abs(pinned_frame[:15, :15] - BLUE) <= 24)
    # A one-character title leaves the middle mostly the card colour: the text is what changed it.
    assert (pinned_frame[35:55, 40:120].min(axis=2) > 200).sum() < (centre.min(axis=2) > 200).sum() / 4


@pytest.mark.ffmpeg
def test_preview_renders_at_240p_through_the_composite_submit_path(api: Api, tmp_path: Path) -> None:
    body = template(output={"width": 640, "height": 360, "fps": 10})
    tid = create(api, body)["id"]
    request = {"merge": {"title": "Hi"}, "preview": True, "output": {"fps": 5}}
    headers = {"Idempotency-Key": "preview-1"}
    first = api.post(f"/v1/video/templates/{tid}/render", json=request, headers=headers)
    again = api.post(f"/v1/video/templates/{tid}/render", json=request, headers=headers)
    assert first.status_code == again.status_code == 202, first.text
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    task = api.wait(first.json()["id"], timeout_s=120)
    assert task["status"] == "succeeded", task
    assert (task["result"]["width"], task["result"]["height"]) == (426, 240)
    out = api.download(task["result"]["url"], tmp_path / "preview.mp4")
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        assert (stream.width, stream.height, float(stream.average_rate)) == (426, 240, 5)


@pytest.mark.ffmpeg
def test_an_asset_field_places_the_callers_upload(api: Api, tmp_path: Path) -> None:
    logo = api.upload(make_image(tmp_path / "logo.png", 32, 32, color="red"))["id"]
    body = template(fields={"logo": {"type": "asset", "required": True}})
    body["timeline"]["tracks"][1] = {
        "clips": [{"type": "image", "source": {"asset_id": "{{logo}}"}, "duration_s": 1, "scale": 0.5}]
    }
    body["timeline"]["tracks"][0]["clips"][0]["duration_s"] = 1
    tid = create(api, body)["id"]
    _, frame = render(api, tid, {"merge": {"logo": logo}}, tmp_path)
    assert np.all(np.abs(frame[40:50, 75:85] - (255, 0, 0)) <= 40)  # the red logo in the middle
    assert np.all(np.abs(frame[:10, :10] - BLUE) <= 24)  # the card around it
    # Another owner's upload is as absent as a missing one.
    theirs = api.as_key(create_key(api.settings, "other")).upload(tmp_path / "logo.png")["id"]
    for asset_id in ("no-such-asset", theirs):
        resp = api.post(f"/v1/video/templates/{tid}/render", json={"merge": {"logo": asset_id}})
        assert_problem(resp, 404, "asset_not_found")
