"""Merge fields without the app: declarations, placeholders, values, defaults, limits and previews."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from videoapi.editing.timeline import TextClip, output_size
from videoapi.errors import InvalidRequest
from videoapi.settings import Settings
from videoapi.templates.merge import Field, check_template, composite, preview, resolve, samples, substitute

FIELDS = {
    "title": Field(type="text", required=True, max_length=20),
    "size": Field(type="number", default=24, min=8, max=200),
    "bg": Field(type="color", default="#112233"),
    "seconds": Field(type="duration", default=2, min=0.5, max=10),
    "logo": Field(type="asset", default="logo-id"),
    "clip": Field(type="url", default="https://example.com/a.mp4"),
}
BODY: dict[str, Any] = {
    "timeline": {
        "tracks": [
            {"clips": [{"type": "color", "color": "{{ bg }}", "duration_s": "{{seconds}}"}]},
            {"clips": [{"type": "image", "source": {"asset_id": "{{logo}}"}, "duration_s": 1, "scale": 0.2}]},
            {"clips": [{"type": "video", "source": {"url": "{{clip}}"}, "trim_end_s": 1, "scale": 0.3}]},
            {"clips": [{"type": "text", "text": "Hello {{title}}!", "size": "{{size}}", "duration_s": 1}]},
        ]
    },
    "output": {"width": 320, "height": 180},
}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


def errors_of(exc: pytest.ExceptionInfo[InvalidRequest]) -> dict[str, str]:
    return {e["field"]: e["message"] for e in exc.value.errors}


def test_a_whole_string_placeholder_in_a_number_position_becomes_the_number(settings: Settings) -> None:
    values = resolve(FIELDS, {"title": "World", "size": 40, "seconds": 1.5})
    req = composite(substitute(BODY, values), settings)
    color, text = req.timeline.tracks[0].clips[0], req.timeline.tracks[3].clips[0]
    assert isinstance(text, TextClip)
    assert (text.text, text.size) == ("Hello World!", 40)
    assert (color.color, color.duration_s) == ("#112233", 1.5)
    assert req.timeline.tracks[1].clips[0].source.asset_id == "logo-id"
    assert req.timeline.tracks[2].clips[0].source.url == "https://example.com/a.mp4"


def test_a_number_in_a_text_position_stays_text(settings: Settings) -> None:
    fields = {"n": Field(type="number", required=True)}
    body = {"timeline": {"tracks": [{"clips": [{"type": "text", "text": "{{n}}", "duration_s": 1}]}]}}
    check_template(body, fields, settings)
    req = composite(substitute(body, resolve(fields, {"n": 3.0})), settings)
    assert req.timeline.tracks[0].clips[0].text == "3"


def test_defaults_fill_the_fields_a_render_leaves_out() -> None:
    values = resolve(FIELDS, {"title": "x"})
    assert values == {
        "title": "x", "size": 24, "bg": "#112233", "seconds": 2, "logo": "logo-id", "clip": "https://example.com/a.mp4"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("merge", "field", "message"),
    [
        ({}, "merge.title", "required (text)"),
        ({"title": "x", "colour": "red"}, "merge.colour", "the template has no such field"),
        ({"title": 5}, "merge.title", "expected a string (text)"),
        ({"title": "x" * 21}, "merge.title", "the text has 21 characters; at most 20"),
        ({"title": "x", "size": "big"}, "merge.size", "expected a number"),
        ({"title": "x", "size": True}, "merge.size", "expected a number"),
        ({"title": "x", "size": 10**400}, "merge.size", "expected a number between -1e+15 and 1e+15"),
        ({"title": "x", "size": 7}, "merge.size", "7 is less than the minimum of 8"),
        ({"title": "x", "size": 201}, "merge.size", "201 is more than the maximum of 200"),
        ({"title": "x", "seconds": 11}, "merge.seconds", "11 is more than the maximum of 10"),
        ({"title": "x", "bg": "plaid"}, "merge.bg", "'plaid' is not #RRGGBB, #RRGGBBAA, #RGB or a colour name"),
        ({"title": "x", "clip": "ftp://x/y"}, "merge.clip", "expected an http(s) URL"),
        ({"title": "x", "logo": ""}, "merge.logo", "expected an asset id"),
    ],
)
def test_bad_merge_values_are_a_422_naming_the_field(merge: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        resolve(FIELDS, merge)
    assert exc.value.code == "invalid_merge"
    assert errors_of(exc)[field] == message
    assert exc.value.detail.startswith(field)


def test_every_bad_value_is_named_at_once() -> None:
    with pytest.raises(InvalidRequest) as exc:
        resolve(FIELDS, {"size": 1, "nope": 1})
    assert set(errors_of(exc)) == {"merge.title", "merge.size", "merge.nope"}


def test_the_template_checks_out_with_its_defaults_and_samples(settings: Settings) -> None:
    check_template(BODY, FIELDS, settings)
    assert samples(FIELDS)["title"] == "Sample"
    assert samples({"n": Field(type="number", required=True, min=5)})["n"] == 5


@pytest.mark.parametrize(
    ("fields", "body", "field", "message"),
    [
        ({**FIELDS, "extra": Field(type="text", default="x")}, BODY, "fields.extra", "the field is not used"),
        ({k: v for k, v in FIELDS.items() if k != "bg"}, BODY, "timeline.tracks[0].clips[0].color", "{{bg}} is not"),
        ({"t": Field(type="text", default="x", min=1)}, None, "fields.t.min", "only a number or duration"),
        ({"t": Field(type="number", default=1, max_length=3)}, None, "fields.t.max_length", "only a text field"),
        ({"t": Field(type="number", default=1, min=5, max=2)}, None, "fields.t.min", "min (5) is more than max"),
        ({"t": Field(type="text")}, None, "fields.t.default", "an optional field needs a default"),
        ({"t": Field(type="text", required=True, default="x")}, None, "fields.t.default", "a required field has"),
        ({"t": Field(type="number", default="x")}, None, "fields.t.default", "expected a number"),
        ({"t": Field(type="color", default="nope")}, None, "fields.t.default", "'nope' is not"),
    ],
)
def test_a_template_that_does_not_add_up_is_a_422_naming_the_path(
    settings: Settings, fields: dict[str, Field], body: dict[str, Any] | None, field: str, message: str
) -> None:
    body = body or {"timeline": {"tracks": [{"clips": [{"type": "text", "text": "{{t}}", "duration_s": 1}]}]}}
    with pytest.raises(InvalidRequest) as exc:
        check_template(body, fields, settings)
    assert exc.value.code == "invalid_template"
    assert errors_of(exc)[field].startswith(message), exc.value.errors


def test_a_template_that_is_not_a_valid_composite_with_its_samples_is_refused(settings: Settings) -> None:
    # A text field in a number position: the sample "Sample" is not a size.
    fields = {"t": Field(type="text", required=True)}
    body = {"timeline": {"tracks": [{"clips": [{"type": "text", "text": "x", "size": "{{t}}", "duration_s": 1}]}]}}
    with pytest.raises(InvalidRequest) as exc:
        check_template(body, fields, settings)
    assert exc.value.code == "invalid_template"
    assert exc.value.errors[0]["field"] == "timeline.tracks[0].clips[0].size"
    # A colour default that parses as a string but is no colour: found by the timeline's own checks.
    fields = {"c": Field(type="text", default="plaid")}
    body = {"timeline": {"tracks": [{"clips": [{"type": "color", "color": "{{c}}", "duration_s": 1}]}]}}
    with pytest.raises(InvalidRequest) as exc:
        check_template(body, fields, settings)
    assert exc.value.errors[0]["field"] == "timeline.tracks[0].clips[0].color"


def test_a_merge_value_that_looks_like_a_placeholder_is_drawn_literally(settings: Settings) -> None:
    fields = {"t": Field(type="text", required=True)}
    body = {"timeline": {"tracks": [{"clips": [{"type": "text", "text": "{{t}}", "duration_s": 1}]}]}}
    req = composite(substitute(body, resolve(fields, {"t": "{{t}} {{other}}"})), settings)
    assert req.timeline.tracks[0].clips[0].text == "{{t}} {{other}}"


def test_preview_is_240p_low_quality_with_pixel_sizes_scaled(settings: Settings) -> None:
    body = {
        "timeline": {"tracks": [{"clips": [{"type": "text", "text": "x", "size": 96, "x": 100, "outline_width": 2,
                                            "duration_s": 1}]}]},
        "output": {"resolution": "1080p", "aspect_ratio": "9:16", "quality": "high"},
    }  # fmt: skip
    req = preview(composite(body, settings), settings)
    assert output_size(req.output, settings) == (240, 426)
    assert req.output.quality == "low"
    text = req.timeline.tracks[0].clips[0]
    assert (text.size, text.x, text.outline_width) == (21, 22, 1)
    small = composite({**body, "output": {"width": 160, "height": 90}}, settings)
    shown = preview(small, settings).output
    assert (shown.width, shown.height) == (160, 90)


def test_a_deeply_nested_body_is_refused_before_it_recurses(settings: Settings) -> None:
    body: dict[str, Any] = {"timeline": {}}
    inner = body["timeline"]
    for _ in range(500):
        inner["x"] = {}
        inner = inner["x"]
    with pytest.raises(InvalidRequest) as exc:
        check_template(body, {}, settings)
    assert exc.value.code == "invalid_template" and exc.value.errors[0]["field"].startswith("timeline.x.x")
