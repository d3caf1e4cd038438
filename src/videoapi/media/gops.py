"""The GOP structure of a video stream, read by demuxing only (no decoding): what smart rendering needs
to know where it may copy packets and how to encode the pieces it re-encodes.

`read_index` is synchronous and reads the whole file's packet headers (a 60 s 1080p file: ~1,500
packets, tens of milliseconds); callers run it in a worker thread.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from videoapi.media.probe import open_input
from videoapi.settings import LimitSettings


@dataclass(frozen=True)
class Keyframe:
    pts_s: float
    """Presentation time, seconds from the start of the stream."""
    dts_s: float
    """Decoding time of its packet (before `pts_s` when the stream has B-frames)."""


@dataclass(frozen=True)
class StreamIndex:
    """What a copy of the stream's packets keeps: its encoding, its frame grid and its clean keyframes."""

    container: str
    codec: str
    profile: str | None
    level: int | None
    """level_idc (e.g. 40 for 4.0)."""
    width: int
    height: int
    pix_fmt: str
    sar: Fraction | None
    color: dict[str, str]
    """ffmpeg output options for the colour description the stream declares (`-colorspace` ...)."""
    time_base: Fraction
    frame_s: float | None
    """One frame, when every frame lasts the same (constant frame rate); None otherwise."""
    end_s: float
    """End of the last frame, from the first frame."""
    origin_s: float
    """Timestamp of the first frame in the file (keyframe times are relative to it)."""
    lead_s: float
    """How far the first frame lies after the file's start (where ffmpeg's `-ss 0` is)."""
    keyframes: tuple[Keyframe, ...]
    """Keyframes a copy may start at: no later packet shows before them (open-GOP I-frames excluded)."""
    open_keyframes: int = 0
    """Keyframes left out of `keyframes`: pictures decoded after them are shown before them (an open
    GOP: H.264 recovery points, HEVC CRA pictures with leading pictures)."""
    high_tier: bool = False
    """HEVC: the stream is coded in the High tier (read from its hvcC record)."""


def clean_keyframes(packets: Iterable[tuple[int, int | None, bool]], time_base: Fraction) -> list[Keyframe]:
    """Keyframes from (pts, dts, is_keyframe) in decoding order, relative to the first frame's pts.

    A keyframe is clean when no packet decoded after it is shown before it: the GOP before it then
    ends with it, and one starting at it needs nothing earlier. The leading B-frames of an open GOP
    fail this, so its I-frame is no place to cut.
    """
    rows = [(pts, dts, key) for pts, dts, key in packets if pts is not None]
    if not rows:
        return []
    origin = min(pts for pts, _, _ in rows)
    # The smallest pts of everything decoded after row i, filled from the end.
    later_min: list[float] = [float("inf")] * len(rows)
    for i in range(len(rows) - 2, -1, -1):
        later_min[i] = min(later_min[i + 1], rows[i + 1][0])
    out = []
    for i, (pts, dts, key) in enumerate(rows):
        if key and later_min[i] > pts:
            dts_ = dts if dts is not None else pts
            out.append(Keyframe(float((pts - origin) * time_base), float((dts_ - origin) * time_base)))
    return out


def frame_grid(pts: Iterable[int], time_base: Fraction) -> float | None:
    """The frame duration in seconds when the sorted timestamps are evenly spaced, else None."""
    ordered = sorted(pts)
    steps = {b - a for a, b in itertools.pairwise(ordered)}
    if len(steps) != 1:
        # One tick of rounding (a 1/1000 time base at 30 fps) is still a constant rate.
        if not steps or max(steps) - min(steps) > 1:
            return None
        return float((ordered[-1] - ordered[0]) * time_base / (len(ordered) - 1))
    return float(steps.pop() * time_base)


def read_index(path: Path, limits: LimitSettings) -> StreamIndex | None:
    """The index of the first video stream of `path`, or None when it has none."""
    with open_input(path, limits) as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        cc = stream.codec_context
        time_base = stream.time_base or Fraction(1, 90000)
        packets = [(p.pts, p.dts, p.is_keyframe) for p in container.demux(stream) if p.size and p.pts is not None]
        frame_s = frame_grid((pts for pts, _, _ in packets), time_base)
        pts_all = [pts for pts, _, _ in packets]
        origin = min(pts_all) if pts_all else 0
        last = max(pts_all) if pts_all else 0
        end_s = float((last - origin) * time_base) + (frame_s or 0.0)
        origin_s = float(origin * time_base)
        file_start_s = container.start_time / 1e6 if container.start_time is not None else origin_s
        color = {
            option: names[value]
            for option, attr in _COLOR_ATTRS.items()
            if (names := _COLOR_NAMES[option]) and (value := _number(getattr(cc, attr, None))) in names
        }
        keyframes = clean_keyframes(packets, time_base)
        return StreamIndex(
            container=container.format.name,
            codec=cc.name,
            profile=cc.profile,
            level=getattr(cc, "level", None),
            width=cc.width,
            height=cc.height,
            pix_fmt=cc.pix_fmt or "",
            sar=stream.sample_aspect_ratio,
            color=color,
            time_base=time_base,
            frame_s=frame_s,
            end_s=end_s,
            origin_s=origin_s,
            lead_s=origin_s - file_start_s,
            keyframes=tuple(keyframes),
            open_keyframes=sum(key for _, _, key in packets) - len(keyframes),
            high_tier=cc.name == "hevc" and _hvcc_high_tier(bytes(cc.extradata or b"")),
        )


# libavutil's names for the enum values PyAV gives as ints; unspecified (2) and rare ones are left out.
_COLOR_ATTRS = {
    "-color_primaries": "color_primaries",
    "-color_trc": "color_trc",
    "-colorspace": "colorspace",
    "-color_range": "color_range",
}
_COLOR_NAMES: dict[str, dict[int, str]] = {
    "-color_primaries": {1: "bt709", 5: "bt470bg", 6: "smpte170m", 9: "bt2020"},
    "-color_trc": {
        1: "bt709",
        6: "smpte170m",
        13: "iec61966-2-1",
        14: "bt2020-10",
        16: "smpte2084",
        18: "arib-std-b67",
    },
    "-colorspace": {1: "bt709", 5: "bt470bg", 6: "smpte170m", 9: "bt2020nc"},
    "-color_range": {1: "tv", 2: "pc"},
}


def _hvcc_high_tier(extradata: bytes) -> bool:
    # HEVCDecoderConfigurationRecord: version 1, then general_profile_space(2) general_tier_flag(1)
    # general_profile_idc(5). Annex B extradata (start codes) carries no record: Main tier assumed.
    return len(extradata) > 1 and extradata[0] == 1 and bool(extradata[1] & 0x20)


def _number(value: object) -> int | None:
    number = getattr(value, "value", value)
    return number if isinstance(number, int) else None
