"""Merge fields: find `{{field}}` placeholders in a template, check declared fields and merge values in.

Pure: a template body (the composite request's `timeline` and `output`, as JSON values) and values in,
a composite request or a 422 naming the field out. Placeholders are replaced by the value's text and
the result is parsed leniently (msgspec's `strict=False` turns `"24"` into 24), so `"{{size}}"` in a
number position becomes the number while `"{{count}}"` in a text position stays text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from videoapi.editing.timeline import CompositeRequest, output_size, validate
from videoapi.errors import InvalidRequest
from videoapi.media.colors import parse_color
from videoapi.settings import Settings
from videoapi.web import msgspec_problem

FieldType = Literal["text", "number", "color", "asset", "url", "duration"]
FieldName = Annotated[str, Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_MAX_REF_CHARS = 2048
MAX_DEPTH = 32
MAX_NUMBER = 1e15
"""Larger numbers fit no composite field (JSON integers have no bound, Python floats do)."""
# Values a required field takes when the template is checked at creation: they must make a valid
# composite (an asset id need not exist, it is not looked up until a render).
_SAMPLES: dict[str, Any] = {
    "text": "Sample",
    "number": 1,
    "color": "#808080",
    "asset": "00000000-0000-0000-0000-000000000000",
    "url": "https://example.com/sample.mp4",
    "duration": 1.0,
}


class Field(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """One merge field of a template."""

    type: FieldType
    required: bool = False
    """A render must give it; otherwise it takes `default`."""
    default: Any = None
    """The value of an optional field a render does not give (every optional field has one)."""
    example: Any = None
    """A required field's value when the template is checked at creation (default: one per type)."""
    description: Annotated[str, Meta(max_length=500)] | None = None
    max_length: Annotated[int, Meta(ge=1, le=100_000)] | None = None
    """`text`: at most this many characters."""
    min: float | None = None
    """`number` and `duration` (seconds): the smallest value allowed."""
    max: float | None = None
    """`number` and `duration` (seconds): the largest value allowed."""


Fields = dict[FieldName, Field]


def _fail(errors: list[dict[str, str]], code: str) -> InvalidRequest:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return InvalidRequest(f"{first['field']}: {first['message']}{more}", code=code, errors=errors)


def placeholders(body: Any, path: str = "", depth: int = 0) -> Iterator[tuple[str, str]]:
    """(field name, path) for every placeholder in a JSON value; keys are never placeholders.

    A composite nests about 6 levels deep; deeper bodies are refused before anything recurses far."""
    if depth > MAX_DEPTH:
        raise InvalidRequest(
            f"{path}: nested more than {MAX_DEPTH} levels deep",
            code="invalid_template",
            errors=[{"field": path, "message": f"nested more than {MAX_DEPTH} levels deep"}],
        )
    if isinstance(body, str):
        for match in PLACEHOLDER.finditer(body):
            yield match.group(1), path
    elif isinstance(body, Mapping):
        for key, value in body.items():
            yield from placeholders(value, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(body, list):
        for i, value in enumerate(body):
            yield from placeholders(value, f"{path}[{i}]", depth + 1)


def check_value(field: Field, value: Any) -> str | None:
    """Why `value` does not fit `field`, or None when it does."""
    if field.type in ("number", "duration"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "expected a number" if field.type == "number" else "expected a number of seconds"
        if abs(value) > MAX_NUMBER or not math.isfinite(value):
            return f"expected a number between -{MAX_NUMBER:g} and {MAX_NUMBER:g}"
        if field.type == "duration" and value < 0:
            return "a duration cannot be negative"
        if field.min is not None and value < field.min:
            return f"{value:g} is less than the minimum of {field.min:g}"
        if field.max is not None and value > field.max:
            return f"{value:g} is more than the maximum of {field.max:g}"
        return None
    if not isinstance(value, str):
        return f"expected a string ({field.type})"
    if field.type == "text":
        if field.max_length is not None and len(value) > field.max_length:
            return f"the text has {len(value)} characters; at most {field.max_length}"
    elif field.type == "color":
        try:
            parse_color(value)
        except InvalidRequest:
            return f"{value!r} is not #RRGGBB, #RRGGBBAA, #RGB or a colour name"
    elif field.type == "asset":
        if not value or len(value) > 64:
            return "expected an asset id"
    elif field.type == "url":
        if not re.match(r"^https?://[^\s/]+", value) or len(value) > _MAX_REF_CHARS:
            return "expected an http(s) URL"
    return None


def check_fields(fields: Mapping[str, Field]) -> None:
    """The declarations themselves: limits fit the type, defaults fit the limits; 422 naming `fields.<name>`."""
    errors: list[dict[str, str]] = []
    for name, field in fields.items():
        where = f"fields.{name}"
        if field.max_length is not None and field.type != "text":
            errors.append({"field": f"{where}.max_length", "message": "only a text field has a max_length"})
        for bound in ("min", "max"):
            if getattr(field, bound) is not None and field.type not in ("number", "duration"):
                errors.append(
                    {"field": f"{where}.{bound}", "message": f"only a number or duration field has a {bound}"}
                )
        if field.min is not None and field.max is not None and field.min > field.max:
            errors.append({"field": f"{where}.min", "message": f"min ({field.min:g}) is more than max ({field.max:g})"})
        if field.required and field.default is not None:
            errors.append({"field": f"{where}.default", "message": "a required field has no default (use example)"})
        if not field.required and field.default is None:
            errors.append({"field": f"{where}.default", "message": "an optional field needs a default"})
        for key in ("default", "example"):
            value = getattr(field, key)
            if value is not None and (why := check_value(field, value)) is not None:
                errors.append({"field": f"{where}.{key}", "message": why})
    if errors:
        raise _fail(errors, "invalid_template")


def resolve(fields: Mapping[str, Field], merge: Mapping[str, Any], prefix: str = "merge") -> dict[str, Any]:
    """Every field's value: the merged one, else its default; 422 naming `merge.<field>` otherwise."""
    errors: list[dict[str, str]] = []
    for name in merge:
        if name not in fields:
            errors.append({"field": f"{prefix}.{name}", "message": "the template has no such field"})
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in merge or merge[name] is None:
            if field.required:
                errors.append({"field": f"{prefix}.{name}", "message": f"required ({field.type})"})
            else:
                values[name] = field.default
            continue
        why = check_value(field, merge[name])
        if why is not None:
            errors.append({"field": f"{prefix}.{name}", "message": why})
        values[name] = merge[name]
    if errors:
        raise _fail(errors, "invalid_merge")
    return values


def samples(fields: Mapping[str, Field]) -> dict[str, Any]:
    """The values a template is checked with: defaults, examples, else one per type within the limits."""
    out: dict[str, Any] = {}
    for name, field in fields.items():
        value = field.default if field.default is not None else field.example
        if value is None:
            value = _SAMPLES[field.type]
            if field.type in ("number", "duration"):
                value = field.min if field.min is not None else field.max if field.max is not None else value
            elif field.type == "text" and field.max_length is not None:
                value = value[: field.max_length]
        out[name] = value
    return out


def substitute(body: Any, values: Mapping[str, Any]) -> Any:
    """`body` with every placeholder replaced by its value (every name must be in `values`)."""
    if isinstance(body, str):
        return PLACEHOLDER.sub(lambda m: _text(values[m.group(1)]), body)
    if isinstance(body, Mapping):
        return {key: substitute(value, values) for key, value in body.items()}
    if isinstance(body, list):
        return [substitute(value, values) for value in body]
    return body


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_template(body: Mapping[str, Any], fields: Mapping[str, Field], settings: Settings) -> None:
    """A template at creation: declarations, every placeholder declared and every field used, and the
    body with sample values is a valid composite. 422 `invalid_template` naming the path otherwise."""
    check_fields(fields)
    used: dict[str, str] = {}
    errors: list[dict[str, str]] = []
    for name, path in placeholders(body):
        used.setdefault(name, path)
        if name not in fields:
            errors.append({"field": path, "message": f"{{{{{name}}}}} is not a declared field"})
    for name in fields:
        if name not in used:
            errors.append({"field": f"fields.{name}", "message": "the field is not used in the timeline or output"})
    if errors:
        raise _fail(errors, "invalid_template")
    try:
        composite(substitute(body, samples(fields)), settings)
    except InvalidRequest as exc:
        detail = f"with the fields' defaults and sample values: {exc.detail}"
        raise InvalidRequest(detail, code="invalid_template", errors=exc.errors) from None


def composite(merged: Mapping[str, Any], settings: Settings) -> CompositeRequest:
    """A merged body as a composite request, checked as far as it can be without the inputs' probes."""
    try:
        req = msgspec.convert(merged, CompositeRequest, strict=False)
    except msgspec.ValidationError as exc:
        raise msgspec_problem(exc) from None
    validate(req, settings)
    return req


PREVIEW_SHORT_SIDE = 240


def preview(req: CompositeRequest, settings: Settings) -> CompositeRequest:
    """The request rendered fast: the frame scaled so its short side is 240 pixels, `low` quality.

    Pixel quantities of the clips (offsets, text sizes, outlines, margins) shrink with the frame, so
    the preview looks like the render."""
    width, height = output_size(req.output, settings)
    scale = min(1.0, PREVIEW_SHORT_SIDE / min(width, height))
    output = msgspec.structs.replace(
        req.output, resolution=None, width=_even(width * scale), height=_even(height * scale), quality="low"
    )
    tracks = [
        msgspec.structs.replace(track, clips=[_scaled(clip, scale) for clip in track.clips])
        for track in req.timeline.tracks
    ]
    return msgspec.structs.replace(req, output=output, timeline=msgspec.structs.replace(req.timeline, tracks=tracks))


# Clip attributes in pixels of the output frame, and the smallest value a non-zero one may shrink to.
_PIXELS = (("x", None), ("y", None), ("size", 4), ("outline_width", 1), ("box_padding", 0), ("margin", 0))


def _scaled(clip: Any, scale: float) -> Any:
    changes: dict[str, int] = {}
    for name, smallest in _PIXELS:
        value = getattr(clip, name, None)
        if isinstance(value, int) and value:
            scaled = round(value * scale)
            changes[name] = max(smallest, scaled) if smallest is not None else scaled
    return msgspec.structs.replace(clip, **changes) if changes else clip


def _even(n: float) -> int:
    return max(16, round(n / 2) * 2)
