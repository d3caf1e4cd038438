"""The edit kinds: for each, its request type, the inputs it names and its planner.

Every edit kind is one task kind on the `cpu` queue and one POST route; `api`, `service` and `jobs`
are generic over this table, so a new kind is a request type plus a pure planner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videoapi.assets.schemas import InputRef
from videoapi.editing.plan import Plan, check_range, plan_transcode, plan_trim
from videoapi.editing.schemas import TranscodeRequest, TrimRequest
from videoapi.media.probe import MediaInfo
from videoapi.settings import Settings


@dataclass(frozen=True)
class Source:
    """One resolved input of a plan: a local path (a placeholder at submission) and its probe."""

    path: Path
    media: MediaInfo


# (request, sources in the order `inputs` named them, output dir, settings) -> Plan; raises
# InvalidRequest for a request that cannot work on these inputs.
Planner = Callable[[Any, Sequence[Source], Path, Settings], Plan]
# Checks a request can make without its inputs' probes (URL inputs are probed by the worker).
StaticCheck = Callable[[Any, Settings], None]


@dataclass(frozen=True)
class EditKind:
    kind: str
    path: str
    """Route under /v1/video/edit/."""
    request_type: type
    summary: str
    inputs: Callable[[Any], list[InputRef]]
    plan: Planner
    check: StaticCheck | None = None


def _single(req: Any) -> list[InputRef]:
    return [req.input]


def _trim(req: TrimRequest, sources: Sequence[Source], out_dir: Path, settings: Settings) -> Plan:
    return plan_trim(req, sources[0].media, sources[0].path, out_dir)


def _transcode(req: TranscodeRequest, sources: Sequence[Source], out_dir: Path, settings: Settings) -> Plan:
    return plan_transcode(req, sources[0].media, sources[0].path, out_dir)


def _trim_check(req: TrimRequest, settings: Settings) -> None:
    check_range(req.start_s, req.end_s, None)


def all_kinds() -> list[EditKind]:
    # Later kinds live in their own modules; each adds one line here.
    return [
        EditKind("edit.trim", "trim", TrimRequest, "Cut a range out of a video", _single, _trim, _trim_check),
        EditKind(
            "edit.transcode",
            "transcode",
            TranscodeRequest,
            "Resize, change fps, re-encode to MP4 or WebM",
            _single,
            _transcode,
        ),
    ]


KINDS: dict[str, EditKind] = {spec.kind: spec for spec in all_kinds()}
