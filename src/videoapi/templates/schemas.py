"""Wire types of the template routes: create/replace, read, list, render."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from videoapi.outputs.schemas import CommonOptions
from videoapi.templates.merge import Fields

Name = Annotated[str, Meta(min_length=1, max_length=200)]


class TemplateIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A composite timeline and output with `{{field}}` placeholders, and the fields they name.

    `timeline` and `output` are those of POST /v1/video/edit/composite; they are checked as one when
    the template is saved, with the fields' defaults and sample values."""

    name: Name
    description: Annotated[str, Meta(max_length=2000)] | None = None
    fields: Annotated[Fields, Meta(max_length=100)] = msgspec.field(default_factory=dict)
    timeline: dict[str, Any]
    output: dict[str, Any] = msgspec.field(default_factory=dict)


class VersionOut(msgspec.Struct):
    version: int
    created_at: datetime


class TemplateOut(msgspec.Struct):
    id: str
    name: str
    description: str | None
    version: int
    """The version shown (the latest unless `?version=` asked for another)."""
    latest_version: int
    fields: dict[str, Any]
    timeline: dict[str, Any]
    output: dict[str, Any]
    versions: list[VersionOut]
    created_at: datetime
    updated_at: datetime


class TemplatePage(msgspec.Struct):
    items: list[TemplateOut]
    next_cursor: str | None


class RenderRequest(CommonOptions, forbid_unknown_fields=True, kw_only=True):
    """Merge values into a template and render it as a composite task."""

    merge: dict[str, Any] = msgspec.field(default_factory=dict)
    """Field name -> value; a field left out takes its default."""
    output: dict[str, Any] = msgspec.field(default_factory=dict)
    """Output options (those of a composite) over the template's own, key by key."""
    version: Annotated[int, Meta(ge=1)] | None = None
    """The template version to render; default the latest."""
    preview: bool = False
    """Render fast at low resolution: short side 240 pixels, `low` quality."""
