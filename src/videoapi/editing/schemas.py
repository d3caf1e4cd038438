"""Request types of the edit endpoints; validated by msgspec before anything else runs."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from videoapi.assets.schemas import InputRef
from videoapi.media.encoding import Codec, Format, OutputFormat, Quality
from videoapi.media.hardware import Encoder
from videoapi.outputs.schemas import CommonOptions

Seconds = Annotated[float, Meta(ge=0, le=24 * 3600, description="seconds from the start of the input")]
Resolution = Literal["480p", "720p", "1080p", "1440p", "2160p"]
Dimension = Annotated[int, Meta(ge=16, le=7680, description="pixels; rounded down to an even number")]
Fps = Annotated[float, Meta(gt=0, le=120)]


class Segment(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One range of the input to keep: [start_s, end_s)."""

    start_s: Seconds
    end_s: Seconds


class TrimRequest(CommonOptions, forbid_unknown_fields=True, kw_only=True):
    """Keep one range (`start_s`, `end_s`) or several (`segments`, joined in order) of a video."""

    input: InputRef
    start_s: Seconds | None = None
    end_s: Seconds | None = None
    segments: Annotated[list[Segment], Meta(min_length=1)] | None = None
    """Ranges to keep, in order and not overlapping, joined into one output; instead of start_s/end_s."""
    mode: Literal["accurate", "fast", "reencode"] = "accurate"
    """`accurate` cuts on the exact frame: it copies the GOPs that lie wholly inside the ranges and
    re-encodes only the partial GOPs at the cuts when the input's video fits the output (smart
    rendering, H.264 or HEVC MP4), else it re-encodes everything; `reencode` always re-encodes everything;
    `fast` copies streams from the keyframe at or before `start_s` (no quality loss, may start slightly
    early; one range only). `result.render` says how an accurate or reencode trim was rendered."""
    format: Format = "mp4"
    """Container of an accurate trim; a fast trim keeps the input's codecs (MP4 or WebM input)."""
    quality: Quality = "medium"


HlsRung = Literal["2160p", "1440p", "1080p", "720p", "480p", "360p", "240p", "144p"]


class HlsOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    ladder: Annotated[list[HlsRung], Meta(min_length=1, max_length=5)] = msgspec.field(
        default_factory=lambda: ["1080p", "720p", "480p"]
    )
    """Short side of each rendition; rungs above the source's size are left out (never upscaled), and a
    source smaller than every rung gets one rendition at its own size."""
    segments: Literal["fmp4", "ts"] = "fmp4"
    """Fragmented MP4 (`.m4s`, with an init segment) or MPEG-TS (`.ts`) segments."""


class TranscodeRequest(CommonOptions, forbid_unknown_fields=True, kw_only=True):
    input: InputRef
    resolution: Resolution | None = None
    """Preset for the short side of the frame (a 9:16 video at 1080p is 1080x1920)."""
    width: Dimension | None = None
    height: Dimension | None = None
    """With both width and height the video is fitted inside and padded (letterbox)."""
    fps: Fps | None = None
    format: OutputFormat = "mp4"
    """`mp4`, `webm`, `mov`, `gif` (palette made in the same pass, within `outputs.gif_max_*`) or `hls`
    (an adaptive ladder with a master playlist, see `hls`)."""
    codec: Codec | None = None
    """Video codec; default H.264 (VP9 in WebM). MP4 takes h264, hevc, av1, vp9; WebM vp9, av1;
    MOV h264, hevc, prores; HLS h264, hevc; GIF none."""
    quality: Quality = "medium"
    hls: HlsOptions | None = None
    """Ladder and segments of an `hls` output."""
    encoder: Encoder = "auto"
    """`auto`: a hardware encoder when the worker's probe found one for the codec, else software;
    `software`; or `nvenc`, `qsv`, `vaapi` (the task fails with `encoder_unavailable` on a worker
    without it)."""
