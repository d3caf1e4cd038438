"""The edit kinds: for each, its request type, the inputs it names and its planner.

Every edit kind is one task kind on the `cpu` queue and one POST route; `api`, `service` and `jobs`
are generic over this table, so a new kind is a request type plus a pure planner. Analyses
(`analyze.scenes`) are kinds of the same table under another route group: they read the input,
then store what they make (thumbnails, clips) through the same output step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videoapi.assets.schemas import InputRef
from videoapi.editing.audio import AudioRequest, audio_inputs, check_audio, plan_audio
from videoapi.editing.background import BackgroundRequest, background_inputs, check_background, plan_background
from videoapi.editing.compile import check_composite, composite_inputs, plan_composite
from videoapi.editing.lipsync import (
    LipsyncRequest,
    check_lipsync,
    describe_lipsync,
    lipsync_inputs,
    plan_lipsync,
    prepare_lipsync,
)
from videoapi.editing.matting import prepare_background
from videoapi.editing.plan import check_transcode, plan_transcode, plan_trim, trim_ranges
from videoapi.editing.reframe import ReframeRequest, describe_reframe, plan_reframe, with_camera_path
from videoapi.editing.scenes import ScenesRequest, check_scenes, describe_scenes, plan_scenes, with_detected_scenes
from videoapi.editing.schemas import TranscodeRequest, TrimRequest
from videoapi.editing.source import Planner, Source
from videoapi.editing.subtitles import SubtitlesRequest, check_subtitles, plan_subtitles, subtitle_texts
from videoapi.editing.thumbnails import ThumbnailsRequest, check_thumbnails, plan_thumbnails
from videoapi.editing.timeline import CompositeRequest
from videoapi.media.plan import Plan
from videoapi.settings import Settings

# Checks a request can make without its inputs' probes (URL inputs are probed by the worker).
StaticCheck = Callable[[Any, Settings], None]
# (field, text) for text as the output will show it, when a parser changes it (for moderation).
DrawnTexts = Callable[[Any, Settings], Iterable[tuple[str, str]]]


@dataclass(frozen=True)
class EditKind:
    kind: str
    path: str
    """Route under /v1/video/{group}/."""
    request_type: type
    summary: str
    inputs: Callable[[Any], list[InputRef]]
    plan: Planner
    check: StaticCheck | None = None
    drawn: DrawnTexts | None = None
    prepare: Callable[[Any, Sequence[Source], Path, Settings], Awaitable[Any]] | None = None
    """Worker-only step between resolving the inputs and planning that may read them (one sampled frame,
    a downscaled analysis pass); it returns the request to plan. Submission plans without it."""
    reports_progress: bool = False
    """`prepare` takes `on_progress` (a fraction 0..1): a long step (a model's mask pass) that shows progress."""
    index: Callable[[Any], bool] | None = None
    """Whether the worker reads the GOP index of the inputs' video (`Source.index`) before planning."""
    describe: Callable[[Any, Sequence[Source], dict[str, Any]], None] | None = None
    """Adds what the worker found (scenes, notes) to the stored result, given the prepared request."""
    group: str = "edit"
    """Route group: the route is /v1/video/{group}/{path}."""


def _single(req: Any) -> list[InputRef]:
    return [req.input]


def _trim(req: TrimRequest, sources: Sequence[Source], out_dir: Path, settings: Settings) -> Plan:
    source = sources[0]
    return plan_trim(
        req, source.media, source.path, out_dir, max_segments=settings.editing.max_inputs, index=source.index
    )


def _trim_index(req: TrimRequest) -> bool:
    # Smart rendering may copy the input's GOPs; the other blockers are checked by the planner.
    return req.mode == "accurate" and req.watermark is None and req.format == "mp4"


def _transcode(req: TranscodeRequest, sources: Sequence[Source], out_dir: Path, settings: Settings) -> Plan:
    return plan_transcode(req, sources[0].media, sources[0].path, out_dir, settings.outputs)


def _transcode_check(req: TranscodeRequest, settings: Settings) -> None:
    check_transcode(req, settings.outputs)


def _trim_check(req: TrimRequest, settings: Settings) -> None:
    trim_ranges(req, None, max_segments=settings.editing.max_inputs)


def all_kinds() -> list[EditKind]:
    # Later kinds live in their own modules; each adds one line here.
    return [
        EditKind(
            "edit.audio",
            "audio",
            AudioRequest,
            "Add music, ducking, text-to-speech narration, loudness normalisation",
            audio_inputs,
            plan_audio,
            check_audio,
        ),
        EditKind(
            "edit.trim",
            "trim",
            TrimRequest,
            "Cut ranges out of a video",
            _single,
            _trim,
            _trim_check,
            index=_trim_index,
        ),
        EditKind(
            "edit.subtitles",
            "subtitles",
            SubtitlesRequest,
            "Burn in subtitles (SRT, WebVTT or segments) or add them as a soft track",
            _single,
            plan_subtitles,
            check_subtitles,
            drawn=subtitle_texts,
        ),
        EditKind(
            "edit.thumbnails",
            "thumbnails",
            ThumbnailsRequest,
            "Poster frame, contact sheet, or frames at given times",
            _single,
            plan_thumbnails,
            check_thumbnails,
        ),
        EditKind(
            "edit.composite",
            "composite",
            CompositeRequest,
            "Compose clips, images, colours, text and audio on tracks, with transitions",
            composite_inputs,
            plan_composite,
            check_composite,
        ),
        EditKind(
            "edit.transcode",
            "transcode",
            TranscodeRequest,
            "Resize, change fps, re-encode to MP4, WebM, MOV (H.264, HEVC, AV1, VP9, ProRes), GIF or an HLS ladder",
            _single,
            _transcode,
            _transcode_check,
        ),
        EditKind(
            "edit.background",
            "background",
            BackgroundRequest,
            "Replace a video's background (chroma key, people or a prompted object) or make it transparent",
            background_inputs,
            plan_background,
            check_background,
            prepare=prepare_background,
            reports_progress=True,
        ),
        EditKind(
            "edit.reframe",
            "reframe",
            ReframeRequest,
            "Crop to 9:16, 1:1, 4:5 or 16:9 with a camera that follows the subject",
            _single,
            plan_reframe,
            prepare=with_camera_path,
            describe=describe_reframe,
        ),
        EditKind(
            "edit.lipsync",
            "lipsync",
            LipsyncRequest,
            "Regenerate the mouth of a face in sync with an audio asset or spoken narration (Wav2Lip)",
            lipsync_inputs,
            plan_lipsync,
            check_lipsync,
            prepare=prepare_lipsync,
            reports_progress=True,
            describe=describe_lipsync,
        ),
        EditKind(
            "analyze.scenes",
            "scenes",
            ScenesRequest,
            "Shot boundaries, a thumbnail per shot, and optionally each shot as a clip",
            _single,
            plan_scenes,
            check_scenes,
            prepare=with_detected_scenes,
            describe=describe_scenes,
            group="analyze",
        ),
    ]


KINDS: dict[str, EditKind] = {spec.kind: spec for spec in all_kinds()}
