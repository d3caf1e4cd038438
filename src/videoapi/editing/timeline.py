"""The composite timeline: request types, validation and layout on the output's frame grid.

A timeline is a stack of tracks; the first track is the bottom layer and every later track is drawn
over the ones before it. A track is a sequence of clips that do not overlap in time, except where a
transition joins two consecutive clips. A clip without `start_s` starts where the previous clip of
its track ends (minus the transition's length), so a plain list of clips plays back to back.

Validation is up front and precise: every error names the field path (`timeline.tracks[0].clips[2].
transition.duration_s`) and says why. `layout` needs the inputs' durations (probes) for video and
audio clips without `trim_end_s`; without them (URL inputs at submission) the checks that need them
wait for the worker.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, NoReturn

import msgspec
from msgspec import Meta

from videoapi.assets.schemas import InputRef
from videoapi.editing.schemas import Dimension, Fps, Resolution
from videoapi.errors import InvalidRequest
from videoapi.media.colors import Color, parse_color
from videoapi.media.encoding import Codec, Container, Quality, output_codec
from videoapi.media.filters import Anchor
from videoapi.media.fonts import Font, resolve_font
from videoapi.media.hardware import Encoder, check_encoder
from videoapi.media.probe import MediaInfo
from videoapi.outputs.schemas import CommonOptions
from videoapi.settings import Settings

Time = Annotated[float, Meta(ge=0, le=24 * 3600, description="seconds")]
Length = Annotated[float, Meta(gt=0, le=24 * 3600, description="seconds; more than zero")]
Offset = Annotated[int, Meta(ge=-7680, le=7680, description="pixels from the anchor (right and down are positive)")]
Fit = Literal["contain", "cover", "stretch"]
AspectRatio = Literal["16:9", "9:16", "1:1", "4:5"]
TransitionType = Literal[
    "fade", "crossfade", "dissolve", "fade_black", "fade_white",
    "wipe_left", "wipe_right", "wipe_up", "wipe_down",
    "slide_left", "slide_right", "slide_up", "slide_down",
    "circle_open", "circle_close",
]  # fmt: skip

XFADE: dict[str, str] = {
    "fade": "fade", "crossfade": "fade", "dissolve": "dissolve", "fade_black": "fade", "fade_white": "fade",
    "wipe_left": "wipeleft", "wipe_right": "wiperight", "wipe_up": "wipeup", "wipe_down": "wipedown",
    "slide_left": "slideleft", "slide_right": "slideright", "slide_up": "slideup", "slide_down": "slidedown",
    "circle_open": "circleopen", "circle_close": "circleclose",
}  # fmt: skip
"""Our transition names -> ffmpeg xfade transitions; `fade` and `crossfade` are the same dissolve of frames.

`fade_black`/`fade_white` are dips: the outgoing clip fades to the colour over the first half of the
transition and the incoming one from it over the second half, so the midpoint is the pure colour
(ffmpeg's own `fadeblack` only darkens the mix and is far from black at its midpoint).
"""
DIPS: dict[str, str] = {"fade_black": "black", "fade_white": "white"}


ASPECTS: dict[str, tuple[int, int]] = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:5": (4, 5)}
DEFAULT_RESOLUTION = "1080p"
RESOLUTION_SHORT_SIDE = {"480p": 480, "720p": 720, "1080p": 1080, "1440p": 1440, "2160p": 2160}


class Transition(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """How this clip enters over the end of the previous clip of its track; both overlap by `duration_s`."""

    type: TransitionType = "crossfade"
    duration_s: Annotated[float, Meta(gt=0, le=60)] = 1.0


class _Placed(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="type"):
    start_s: Time | None = None
    """Start on the timeline; omitted: right after the previous clip of the track."""


class _Visual(_Placed, kw_only=True):
    fit: Fit = "contain"
    """How the picture fills its box: `contain` (letterbox), `cover` (crop) or `stretch`."""
    scale: Annotated[float, Meta(gt=0, le=1)] = 1.0
    """Size of the clip's box relative to the output frame (1 = the whole frame)."""
    position: Anchor = "center"
    """Where the box sits in the frame, moved by `x`/`y` pixels."""
    x: Offset = 0
    y: Offset = 0
    opacity: Annotated[float, Meta(ge=0, le=1)] = 1.0
    fade_in_s: Time = 0.0
    """Fade from transparent (from the background colour on the bottom track)."""
    fade_out_s: Time = 0.0
    transition: Transition | None = None
    """Transition from the previous clip of the same track into this one."""


class VideoClip(_Visual, tag="video", kw_only=True):
    source: InputRef
    trim_start_s: Time = 0.0
    """In point in the source."""
    trim_end_s: Time | None = None
    """Out point in the source; omitted: the end of the source."""
    speed: Annotated[float, Meta(ge=0.25, le=4)] = 1.0
    volume: Annotated[float, Meta(ge=0, le=4)] = 1.0
    """Gain of the clip's own audio (0 mutes it)."""


class ImageClip(_Visual, tag="image", kw_only=True):
    """A still picture (PNG, JPEG, WebP...); on an upper track, a logo or a visible watermark."""

    source: InputRef
    duration_s: Length


class ColorClip(_Visual, tag="color", kw_only=True):
    color: str
    """`#RRGGBB`, `#RRGGBBAA`, `#RGB` or a colour name."""
    duration_s: Length


class TextClip(_Placed, tag="text", kw_only=True):
    """Text drawn over the tracks below it (and its own track's earlier layers)."""

    text: Annotated[str, Meta(min_length=1)]
    """Rendered literally; line breaks (`\\n`) start new lines; other control characters are refused."""
    duration_s: Length
    font: str | None = None
    """Font family (see the README); default DejaVu Sans, or Noto Sans CJK for CJK text."""
    size: Annotated[int, Meta(ge=4, le=1000)] | None = None
    """Font size in pixels; default 1/18 of the output height."""
    color: str = "white"
    outline_color: str = "black"
    outline_width: Annotated[int, Meta(ge=0, le=50)] = 0
    box_color: str | None = None
    """Colour of a box behind the text (e.g. `#00000080`); none when omitted."""
    box_padding: Annotated[int, Meta(ge=0, le=500)] = 10
    position: Anchor = "bottom"
    margin: Annotated[int, Meta(ge=0, le=4000)] | None = None
    """Pixels between the text (its box) and the frame edges it is anchored to; default, as subtitles:
    5% of the output height at the top and bottom, 4% of the width at the sides; 0: flush."""
    x: Offset = 0
    y: Offset = 0
    fade_in_s: Time = 0.0
    fade_out_s: Time = 0.0


class AudioClip(_Placed, tag="audio", kw_only=True):
    """Music or voice mixed with the clips' own audio."""

    source: InputRef
    trim_start_s: Time = 0.0
    trim_end_s: Time | None = None
    duration_s: Length | None = None
    """Length on the timeline; default: the trimmed source once, or up to the end of the timeline with `loop`."""
    loop: bool = False
    """Repeat the trimmed source to fill `duration_s` (or the rest of the timeline)."""
    volume: Annotated[float, Meta(ge=0, le=4)] = 1.0
    fade_in_s: Time = 0.0
    fade_out_s: Time = 0.0


Clip = VideoClip | ImageClip | ColorClip | TextClip | AudioClip
VisualClip = VideoClip | ImageClip | ColorClip


class Track(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    clips: Annotated[list[Clip], Meta(min_length=1, max_length=500)]


class Timeline(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    tracks: Annotated[list[Track], Meta(min_length=1, max_length=50)]
    """Bottom layer first; each later track is drawn over the ones before it."""


class OutputSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    format: Container = "mp4"
    codec: Codec | None = None
    """Video codec; default H.264 (VP9 in WebM). MP4 takes h264, hevc, av1, vp9; WebM vp9, av1; MOV
    h264, hevc, prores."""
    resolution: Resolution | None = None
    """Short side of the frame (default 1080p), shaped by `aspect_ratio`; 720p 9:16 is 720x1280."""
    aspect_ratio: AspectRatio = "16:9"
    width: Dimension | None = None
    height: Dimension | None = None
    """Exact size; with only one of them the other follows `aspect_ratio`."""
    fps: Fps = 30.0
    quality: Quality = "medium"
    encoder: Encoder = "auto"
    """`auto`, `software`, `nvenc`, `qsv` or `vaapi`, as for transcode."""
    background: str = "black"
    """Colour wherever no clip covers the frame (letterbox bars, gaps)."""


class CompositeRequest(CommonOptions, forbid_unknown_fields=True, kw_only=True):
    """Compose clips, images, colours, text and audio on tracks into one video, encoded in one pass."""

    timeline: Timeline
    output: OutputSpec = msgspec.field(default_factory=OutputSpec)


# ---- layout -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """One clip on the output's frame grid."""

    track: int
    index: int
    clip: Clip
    start_f: int
    length_f: int
    transition_f: int
    """Frames this clip overlaps the previous clip of its track (its transition); 0 without one."""
    source: int | None
    """Index into the request's unique inputs (`source_refs`); None for colour and text clips."""
    src_start_s: float = 0.0
    src_length_s: float = 0.0
    """The range of the source the clip reads (before speed and looping)."""

    @property
    def end_f(self) -> int:
        return self.start_f + self.length_f

    @property
    def path(self) -> str:
        return clip_path(self.track, self.index)


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    fps: float
    total_f: int
    tracks: list[list[Placement]]
    background: Color
    fonts: dict[tuple[int, int], Font]
    """Resolved font of each text clip, by (track, index)."""

    @property
    def duration_s(self) -> float:
        return self.total_f / self.fps


def clip_path(track: int, index: int) -> str:
    return f"timeline.tracks[{track}].clips[{index}]"


def _source_key(ref: InputRef) -> tuple[str, str]:
    return ("asset", ref.asset_id) if ref.asset_id is not None else ("url", ref.url or "")


def source_refs(req: CompositeRequest) -> list[InputRef]:
    """Every distinct media input of the timeline, in order of first use; a source used twice is fetched once."""
    refs: dict[tuple[str, str], InputRef] = {}
    for i, track in enumerate(req.timeline.tracks):
        for j, clip in enumerate(track.clips):
            ref = getattr(clip, "source", None)
            if ref is None:
                continue
            if (ref.asset_id is None) == (ref.url is None):
                _fail(
                    "give exactly one of `asset_id` or `url`",
                    "invalid_request",
                    f"{clip_path(i, j)}.source",
                    "exactly one of asset_id or url is required",
                )
            refs.setdefault(_source_key(ref), ref)
    return list(refs.values())


def _fail(detail: str, code: str, field: str, message: str | None = None) -> NoReturn:
    raise InvalidRequest(detail, code=code, errors=[{"field": field, "message": message or detail}])


def _limit(field: str, setting: str, what: str, limit: float) -> NoReturn:
    _fail(
        f"{what}; the limit is {limit:g} (setting editing.{setting})",
        "limit_exceeded",
        field,
        f"{what}; the limit is {limit:g} (editing.{setting})",
    )


def output_size(out: OutputSpec, settings: Settings) -> tuple[int, int]:
    """The output frame size (even numbers), checked against the output limits."""
    aw, ah = ASPECTS[out.aspect_ratio]
    if out.width and out.height:
        width, height = _even(out.width), _even(out.height)
    elif out.width:
        width, height = _even(out.width), _even(round(out.width * ah / aw))
    elif out.height:
        width, height = _even(round(out.height * aw / ah)), _even(out.height)
    else:
        short = RESOLUTION_SHORT_SIDE[out.resolution or DEFAULT_RESOLUTION]
        if aw >= ah:
            width, height = _even(round(short * aw / ah)), short
        else:
            width, height = short, _even(round(short * ah / aw))
    limits = settings.editing
    size_field = "output.resolution" if not (out.width or out.height) else "output.width"
    if width > limits.max_output_width:
        _limit(size_field, "max_output_width", f"the output is {width} pixels wide", limits.max_output_width)
    if height > limits.max_output_height:
        field = "output.resolution" if not (out.width or out.height) else "output.height"
        _limit(field, "max_output_height", f"the output is {height} pixels high", limits.max_output_height)
    if width * height > limits.max_output_pixels:
        _limit(size_field, "max_output_pixels", f"the output has {width}x{height} pixels", limits.max_output_pixels)
    return width, height


def validate(req: CompositeRequest, settings: Settings, medias: Sequence[MediaInfo] | None = None) -> Layout | None:
    """Check the request and lay it out on the frame grid; raise InvalidRequest naming the field.

    `medias` are the probes of `source_refs(req)` in that order. Without them only the checks that
    need no probe run, and the layout is returned only if every clip's length is known anyway.
    """
    out = req.output
    codec = output_codec(out.format, out.codec, field="output.codec", format_field="output.format")
    check_encoder(out.encoder, codec, field="output.encoder")
    width, height = output_size(out, settings)
    background = parse_color(out.background, "output.background")
    fonts = _check_clips(req, settings, height)
    keys = {_source_key(ref): n for n, ref in enumerate(source_refs(req))}
    uses = sum(1 for track in req.timeline.tracks for clip in track.clips if hasattr(clip, "source"))
    if uses > settings.editing.max_inputs:
        _limit(
            "timeline.tracks",
            "max_inputs",
            f"the timeline has {uses} clips with a media source",
            settings.editing.max_inputs,
        )
    overlays = sum(
        1
        for i, track in enumerate(req.timeline.tracks)
        for clip in track.clips
        if isinstance(clip, TextClip) or (i > 0 and not isinstance(clip, AudioClip))
    )
    if overlays > settings.editing.max_overlays:
        _limit(
            "timeline.tracks",
            "max_overlays",
            f"the timeline has {overlays} overlays (text clips and clips on tracks above the first)",
            settings.editing.max_overlays,
        )

    fps = out.fps
    tracks: list[list[Placement]] = []
    fill: list[tuple[int, int]] = []  # looping audio clips that run to the end of the timeline
    for i, track in enumerate(req.timeline.tracks):
        placed: list[Placement] = []
        prev: Placement | None = None
        for j, clip in enumerate(track.clips):
            path = clip_path(i, j)
            source = keys[_source_key(clip.source)] if isinstance(clip, VideoClip | ImageClip | AudioClip) else None
            media = medias[source] if medias is not None and source is not None else None
            if media is not None:
                _check_source(clip, media, path)
            src_start, src_length, length_s = _lengths(clip, media, path)
            transition = getattr(clip, "transition", None)
            trans_f = 0
            if transition is not None:
                trans_f = frames(transition.duration_s, fps)
                if prev is None:
                    _fail(
                        "the first clip of a track has nothing to transition from",
                        "invalid_transition",
                        f"{path}.transition",
                    )
                if not isinstance(prev.clip, VideoClip | ImageClip | ColorClip):
                    _fail(
                        "a transition joins two video, image or colour clips; the previous clip is "
                        f"a {prev.clip.__struct_config__.tag} clip",
                        "invalid_transition",
                        f"{path}.transition",
                    )
                if trans_f < 1:
                    _fail(
                        f"the transition is shorter than one frame at {fps:g} fps",
                        "transition_too_long",
                        f"{path}.transition.duration_s",
                    )
            if length_s is None:
                if isinstance(clip, AudioClip) and clip.loop and clip.duration_s is None:
                    length_f = -1  # runs to the end of the timeline, known after every other clip
                else:
                    return None  # a length that only the probe knows: the worker lays it out
            else:
                length_f = frames(length_s, fps)
                if length_f < 1:
                    _fail(f"the clip lasts {length_s:g} s, less than one frame at {fps:g} fps", "clip_too_short", path)
            prev_end = prev.end_f if prev is not None else 0
            if clip.start_s is None:
                start_f = prev_end - trans_f
            else:
                start_f = frames(clip.start_s, fps)
                if trans_f and start_f != prev_end - trans_f:
                    _fail(
                        f"with a transition the clip starts {trans_f / fps:g} s before the previous clip ends "
                        f"(at {(prev_end - trans_f) / fps:g} s); omit start_s",
                        "invalid_transition",
                        f"{path}.start_s",
                    )
                if prev is not None and start_f < prev_end:
                    _fail(
                        f"the clip starts at {clip.start_s:g} s, before the previous clip of its track ends "
                        f"({prev_end / fps:g} s); clips of one track may only overlap through a transition",
                        "overlapping_clips",
                        f"{path}.start_s",
                    )
            if trans_f and prev is not None:
                d = transition.duration_s if transition is not None else 0.0
                if trans_f > prev.length_f or trans_f > length_f:
                    _fail(
                        f"the transition ({d:g} s) is longer than the previous clip "
                        f"({prev.length_f / fps:g} s) or this one ({length_f / fps:g} s)",
                        "transition_too_long",
                        f"{path}.transition.duration_s",
                    )
                if prev.transition_f + trans_f > prev.length_f:
                    _fail(
                        f"the previous clip ({prev.length_f / fps:g} s) is shorter than its two transitions "
                        f"together ({(prev.transition_f + trans_f) / fps:g} s)",
                        "transition_too_long",
                        f"{path}.transition.duration_s",
                    )
            placement = Placement(i, j, clip, start_f, length_f, trans_f, source, src_start, src_length)
            if length_f == -1:
                fill.append((i, j))
            else:
                _check_fades(clip, length_f / fps, path)
            placed.append(placement)
            prev = placement
            if length_f == -1 and j + 1 < len(track.clips):
                _fail(
                    "a looping audio clip without duration_s runs to the end of the timeline and must be the "
                    "last clip of its track",
                    "overlapping_clips",
                    f"{clip_path(i, j + 1)}",
                )
        tracks.append(placed)

    visual = [p for track in tracks for p in track if not isinstance(p.clip, AudioClip)]
    if not visual:
        _fail("the timeline has no video, image, colour or text clip", "empty_timeline", "timeline.tracks")
    total_f = max(p.end_f for track in tracks for p in track if p.length_f >= 0)
    for i, j in fill:
        p = tracks[i][j]
        length_f = total_f - p.start_f
        if length_f < 1:
            _fail(
                "the looping audio clip starts at or after the end of the timeline",
                "clip_too_short",
                f"{p.path}.start_s",
            )
        _check_fades(p.clip, length_f / fps, p.path)
        tracks[i][j] = Placement(i, j, p.clip, p.start_f, length_f, 0, p.source, p.src_start_s, p.src_length_s)

    duration_s = total_f / fps
    limits = settings.editing
    if duration_s > limits.max_timeline_s:
        _limit("timeline", "max_timeline_s", f"the timeline lasts {duration_s:g} s", limits.max_timeline_s)
    if width * height * duration_s > limits.max_output_pixel_seconds:
        _limit(
            "output",
            "max_output_pixel_seconds",
            f"{width}x{height} for {duration_s:g} s is {width * height * duration_s:.3g} pixel-seconds",
            limits.max_output_pixel_seconds,
        )
    return Layout(width, height, fps, total_f, tracks, background, fonts)


def _lengths(clip: Clip, media: MediaInfo | None, path: str) -> tuple[float, float, float | None]:
    """(source start, source range length, length on the timeline) in seconds; None where unknown yet."""
    if isinstance(clip, VideoClip | AudioClip):
        start, end = clip.trim_start_s, clip.trim_end_s
        if end is not None and end <= start:
            _fail(
                f"trim_end_s ({end:g}) must be greater than trim_start_s ({start:g})",
                "invalid_range",
                f"{path}.trim_end_s",
            )
        if media is not None:
            if start >= media.duration_s:
                _fail(
                    f"trim_start_s ({start:g}) is at or past the end of the source ({media.duration_s:.3f} s)",
                    "input_out_of_range",
                    f"{path}.trim_start_s",
                )
            if end is not None and end > media.duration_s + 1e-3:
                _fail(
                    f"trim_end_s ({end:g}) is past the end of the source ({media.duration_s:.3f} s)",
                    "input_out_of_range",
                    f"{path}.trim_end_s",
                )
            if end is None:
                end = media.duration_s
        src_length = end - start if end is not None else None
        if isinstance(clip, VideoClip):
            return start, src_length or 0.0, None if src_length is None else src_length / clip.speed
        if clip.duration_s is not None:
            if not clip.loop and src_length is not None and clip.duration_s > src_length + 1e-3:
                _fail(
                    f"duration_s ({clip.duration_s:g}) is longer than the trimmed source ({src_length:.3f} s); "
                    "set loop to repeat it",
                    "input_out_of_range",
                    f"{path}.duration_s",
                )
            return start, src_length or 0.0, clip.duration_s
        # A looping clip without duration_s runs to the end of the timeline (the caller's business).
        return start, src_length or 0.0, None if clip.loop else src_length
    return 0.0, 0.0, clip.duration_s


def _check_fades(clip: Clip, length_s: float, path: str) -> None:
    fade_in, fade_out = getattr(clip, "fade_in_s", 0.0), getattr(clip, "fade_out_s", 0.0)
    if fade_in + fade_out > length_s + 1e-6:
        _fail(
            f"fade_in_s + fade_out_s ({fade_in + fade_out:g} s) is longer than the clip ({length_s:g} s)",
            "fade_too_long",
            f"{path}.fade_out_s" if fade_out else f"{path}.fade_in_s",
        )


def _check_clips(req: CompositeRequest, settings: Settings, height: int) -> dict[tuple[int, int], Font]:
    """Per-clip checks that need no layout: colours, fonts and text."""
    fonts: dict[tuple[int, int], Font] = {}
    for i, track in enumerate(req.timeline.tracks):
        for j, clip in enumerate(track.clips):
            path = clip_path(i, j)
            if isinstance(clip, ColorClip):
                parse_color(clip.color, f"{path}.color")
            if isinstance(clip, TextClip):
                _check_text(clip.text, f"{path}.text", settings.editing.max_text_chars)
                for name in ("color", "outline_color", "box_color"):
                    value = getattr(clip, name)
                    if value is not None:
                        parse_color(value, f"{path}.{name}")
                fonts[(i, j)] = resolve_font(
                    clip.font, clip.text, field=f"{path}.font", extra_dir=settings.editing.fonts_dir
                )
    return fonts


def _check_text(text: str, field: str, max_chars: int) -> None:
    if len(text) > max_chars:
        _limit(field, "max_text_chars", f"the text has {len(text)} characters", max_chars)
    if not text.strip():
        _fail("the text is blank", "invalid_text", field)
    for pos, ch in enumerate(text):
        # Line feeds break lines; every other control or format character (tabs, CR, NUL, ESC,
        # bidi overrides) is refused rather than drawn as a box or silently reordering the text.
        if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            _fail(
                f"the text has a control character U+{ord(ch):04X} at position {pos}",
                "invalid_text",
                field,
                f"control character U+{ord(ch):04X} at position {pos}; only line feeds (\\n) are allowed",
            )


def _check_source(clip: Clip, media: MediaInfo, path: str) -> None:
    kind = clip.__struct_config__.tag
    if isinstance(clip, VideoClip | ImageClip) and media.video is None:
        _fail(
            "the source has no video stream",
            "input_not_video",
            f"{path}.source",
            f"a {kind} clip needs a source with pictures; this one is audio only",
        )
    if isinstance(clip, VideoClip) and media.is_image:
        _fail(
            "the source is a still image",
            "input_not_video",
            f"{path}.source",
            "a still image goes in an `image` clip with a duration_s",
        )
    if isinstance(clip, AudioClip) and media.audio is None:
        _fail("the source has no audio stream", "input_no_audio", f"{path}.source")


def frames(seconds: float, fps: float) -> int:
    """Seconds to whole frames, halves rounded up (0.5 s at 25 fps is 13 frames, as a user expects)."""
    return math.floor(seconds * fps + 0.5 + 1e-9)


def _even(n: int) -> int:
    return max(2, n - n % 2)
