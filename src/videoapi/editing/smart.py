"""Smart rendering of accurate trims: copy the GOPs that lie wholly inside each kept range, re-encode only
the partial GOPs at the cuts. Pure planning; the GOP index comes from `media.gops.read_index`.

Two ffmpeg passes:
1. one process encodes every partial GOP (each seeked input, one MP4 per piece, with the source's
   profile, level, colour and time base) and the poster;
2. the concat demuxer joins pieces and copied source GOPs (`inpoint`/`outpoint`/`duration` per entry)
   with `-c:v copy`; its `auto_convert` turns each file's H.264 into Annex B with that file's SPS/PPS
   in-band before each IDR, so every piece decodes with its own parameter sets. The audio of every
   range is re-encoded in the same pass from its own seeked input, as the full re-encode does, so it
   stays in sync with the video to the sample.

HEVC: `auto_convert` inserts only `h264_mp4toannexb`, so a plain join decodes every stretch with the
first file's VPS/SPS/PPS (silently: no decoder error, a copied GOP at 5 dB PSNR when the source's CTU
size differs from the pieces'). Every stretch therefore carries its own parameter sets in-band before
each IRAP picture, and the output is tagged `hev1` (parameter sets may change in-band): x265 writes
them into the pieces (`repeat-headers`), and pass 1 also copies each stretch of source GOPs into its
own MP4 through `hevc_mp4toannexb` (a concat input cut like the H.264 copy), which puts the source's
hvcC sets before each IRAP. Pass 2 then joins only those files.

Only clean keyframes are cut points (`media.gops`): an HEVC CRA with leading (RASL) pictures opens a
GOP whose first pictures need the previous one, and a copy cut at its DTS would lose them, so open
GOPs are re-encoded, never copied (x265 writes open GOPs by default).

Cut times are rounded up to the source's frame grid: the output holds the frames shown at or after
`start_s` and before `end_s`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videoapi.editing.schemas import TrimRequest
from videoapi.media.encoding import AUDIO_BITRATE, CONTENT_TYPES, X264, X265, container_flags, poster_args
from videoapi.media.gops import StreamIndex
from videoapi.media.plan import Expected, Plan
from videoapi.media.probe import MediaInfo
from videoapi.media.safety import ALLOWED_DEMUXERS, input_args

Range = tuple[float, float]

# x264 profile names for the H.264 profiles a piece can be encoded in, as PyAV reports them.
X264_PROFILES = {"Constrained Baseline": "baseline", "Baseline": "baseline", "Main": "main", "High": "high"}
# x265 profile names for the HEVC profiles a piece can be encoded in (8-bit 4:2:0: Main only).
X265_PROFILES = {"Main": "main"}
PROFILES = {"h264": X264_PROFILES, "hevc": X265_PROFILES}
"""Codecs smart rendering copies, each with the profiles its pieces can be encoded in."""
CODEC_NAMES = {"h264": "H.264", "hevc": "HEVC"}
# A cut this close to a frame or keyframe time is on it (timestamps are rounded to the time base).
_EPS_FRAMES = 0.01


@dataclass(frozen=True)
class Piece:
    """A stretch of the output: copied source packets or a re-encoded stretch, in source seconds."""

    start_s: float
    end_s: float
    copy: bool
    outpoint_s: float | None = None
    """Copied pieces: decoding time of the keyframe that ends it (the concat demuxer cuts on DTS);
    None when it runs to the end of the stream."""

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s


def render_report(method: str, copied_s: float, encoded_s: float, reason: str | None) -> dict[str, Any]:
    """`result.render` of a trim: how it was rendered, and why not smart when it was not."""
    return {"method": method, "copied_s": round(copied_s, 3), "encoded_s": round(encoded_s, 3), "reason": reason}


def smart_blocker(req: TrimRequest, media: MediaInfo, index: StreamIndex | None) -> str | None:
    """Why this trim cannot copy the input's video, or None when it can."""
    video = media.video
    assert video is not None
    if req.mode == "reencode":
        return "mode `reencode` asks for a full re-encode"
    if req.watermark is not None:
        return "a visible watermark is drawn on every frame"
    if req.format != "mp4":
        return f"format {req.format}: smart rendering copies H.264 and HEVC into MP4 only"
    if index is None:
        return "the input's keyframes are not indexed (they are read by the worker)"
    if index.codec not in PROFILES:
        return f"the input's video is {index.codec}; smart rendering copies H.264 and HEVC only"
    if "mp4" not in index.container.split(","):
        return f"the input is {index.container.split(',')[0]}; smart rendering copies from MP4/MOV inputs only"
    if index.profile not in PROFILES[index.codec]:
        return f"{CODEC_NAMES[index.codec]} profile {index.profile} is not one the output is encoded in"
    if index.pix_fmt != "yuv420p":
        return f"pixel format {index.pix_fmt}: the output is yuv420p"
    if index.width % 2 or index.height % 2:
        return f"odd frame size {index.width}x{index.height}: the output is scaled to even dimensions"
    if video.rotation:
        return f"the input is rotated {video.rotation} degrees: a re-encode turns the frames upright"
    if index.frame_s is None:
        return "the input has a variable frame rate"
    if abs(index.lead_s) > index.frame_s / 2:
        return "the video starts after the file's other streams"
    return None


def cut_pieces(ranges: list[Range], index: StreamIndex) -> list[list[Piece]]:
    """Each range as pieces in output order: encoded head, copied whole GOPs, encoded tail."""
    assert index.frame_s is not None
    frame = index.frame_s
    eps = frame * _EPS_FRAMES
    keys = list(index.keyframes)
    out = []
    for start_s, end_s in ranges:
        start = snap(start_s, frame)
        end = min(snap(end_s, frame), index.end_s)
        first = next((k for k in keys if k.pts_s >= start - eps), None)
        last = next((k for k in reversed(keys) if k.pts_s <= end + eps), None)
        copy_end, outpoint = (last.pts_s, last.dts_s) if last is not None else (None, None)
        if end >= index.end_s - eps:
            # The end of the stream closes the last GOP like a keyframe would.
            copy_end, outpoint = index.end_s, None
        if first is None or copy_end is None or copy_end <= first.pts_s + eps:
            out.append([Piece(start, end, copy=False)])
            continue
        pieces = []
        if first.pts_s > start + eps:
            pieces.append(Piece(start, first.pts_s, copy=False))
        pieces.append(Piece(first.pts_s, copy_end, copy=True, outpoint_s=outpoint))
        if end > copy_end + eps:
            pieces.append(Piece(copy_end, end, copy=False))
        out.append(pieces)
    return out


def snap(t: float, frame_s: float) -> float:
    """The time of the first frame shown at or after `t`."""
    return math.ceil(t / frame_s - _EPS_FRAMES) * frame_s


def plan_smart_trim(
    req: TrimRequest,
    media: MediaInfo,
    index: StreamIndex,
    src: Path,
    out_dir: Path,
    ranges: list[Range],
    cpus: int = 1,
) -> Plan | None:
    """The two passes of a smart trim, or None when no whole GOP lies inside the ranges (nothing to copy).
    `cpus`: the cores the pieces' encoders share."""
    assert index.frame_s is not None
    per_range = cut_pieces(ranges, index)
    pieces = [piece for group in per_range for piece in group]
    copied_s = sum(p.length_s for p in pieces if p.copy)
    if copied_s <= 0:
        return None
    encoded_s = sum(p.length_s for p in pieces if not p.copy)
    duration_s = copied_s + encoded_s
    frame = index.frame_s
    first_s = per_range[0][0].start_s
    hevc = index.codec == "hevc"
    files: dict[Path, str] = {}

    # Pass 1: the poster (the output's first frame) from input 0, then one input and output per piece.
    encode = ["-ss", _ts(first_s), "-t", _ts(2 * frame), *input_args(src)]
    outputs: list[str] = []
    written: dict[Piece, Path] = {}
    encoded = [p for p in pieces if not p.copy]
    # The pieces encode side by side in one ffmpeg: the cores are shared out between their encoders
    # (x264's own frame threads on a one-second piece cost more than they gain when others run too).
    threads = max(1, cpus // len(encoded)) if encoded else None
    for n, piece in enumerate(encoded):
        path = out_dir / f"piece{n}.mp4"
        written[piece] = path
        # A quarter frame short of the next piece: its first frame is not this piece's last.
        encode += ["-ss", _ts(piece.start_s), "-t", _ts(piece.length_s - frame / 4), *input_args(src)]
        outputs += ["-map", f"{n + 1}:v:0", *piece_encode_args(index, req.quality, threads), str(path)]
    if hevc:
        # Each stretch of source GOPs copied to its own MP4, with the source's VPS/SPS/PPS in-band.
        for n, piece in enumerate(p for p in pieces if p.copy):
            listing, path = out_dir / f"copy{n}.ffconcat", out_dir / f"copy{n}.mp4"
            files[listing] = _listing([_copy_entry(src, index, piece)])
            written[piece] = path
            encode += _concat_input(listing)
            outputs += ["-map", f"{len(written)}:v:0", "-c:v", "copy", "-bsf:v", "hevc_mp4toannexb"]
            outputs += [*_hevc_mp4(index), str(path)]
    poster = out_dir / "poster.jpg"
    encode += [*outputs, *poster_args(poster)]

    # Pass 2: the concat list (pieces and source GOPs), then one seeked audio input per range.
    entries = [
        [f"file {_quote(written[piece])}", f"duration {_ts(piece.length_s)}"]
        if piece in written
        else _copy_entry(src, index, piece)
        for piece in pieces
    ]
    listing = out_dir / "pieces.ffconcat"
    files[listing] = _listing(entries)
    # auto_convert (the default, said here because H.264 rests on it): SPS/PPS in-band.
    join = _concat_input(listing)
    has_audio = media.audio is not None
    if has_audio:
        for group in per_range:
            start, end = group[0].start_s, group[-1].end_s
            join += ["-ss", _ts(start), "-t", _ts(end - start), *input_args(src)]
    join += ["-map", "0:v:0", "-c:v", "copy", "-video_track_timescale", str(index.time_base.denominator)]
    if hevc:
        join += ["-tag:v", "hev1"]
    # ffmpeg shifts an input by its start time, which the concat demuxer takes from the first file's
    # streams: a copied source GOP first brings the source's audio start (AAC priming) and delays the
    # video by it. Rebasing the video packets on the first (key)frame undoes that.
    join += ["-bsf:v", "setts=pts=PTS-STARTPTS:dts=DTS-STARTPTS"]
    if has_audio:
        if len(per_range) == 1:
            join += ["-map", "1:a:0"]
        else:
            pads = "".join(f"[{i + 1}:a:0]" for i in range(len(per_range)))
            join += ["-filter_complex", f"{pads}concat=n={len(per_range)}:v=0:a=1[a]", "-map", "[a]"]
        join += ["-c:a", "aac", "-b:a", AUDIO_BITRATE[req.quality]]
    out = out_dir / "output.mp4"
    join += container_flags("mp4", out)
    return Plan(
        join,
        out,
        poster,
        CONTENT_TYPES["mp4"],
        duration_s,
        files=files,
        passes=[encode],
        expect=Expected(
            video_s=duration_s,
            size=(index.width, index.height),
            video_codec=index.codec,
            frame_s=frame,
            video_frames=sum(round(p.length_s / frame) for p in pieces),
        ),
        render=render_report("smart", copied_s, encoded_s, None),
    )


def piece_encode_args(index: StreamIndex, quality: str, threads: int | None = None) -> list[str]:
    """Encoder settings of a re-encoded piece: the source's codec, profile, level (and HEVC tier), pixel
    format, colour and time base, so that the joined stream is one valid stream whose frames fall on the
    same ticks. `threads` caps an H.264 piece's encoder threads (None: x264's own choice)."""
    if index.codec == "hevc":
        args = ["-c:v", "libx265", "-preset", X265[quality][0], "-crf", X265[quality][1], "-pix_fmt", index.pix_fmt]
        args += ["-profile:v", X265_PROFILES[index.profile or ""]]
        # In-band VPS/SPS/PPS before the piece's IDR: the join switches parameter sets there.
        params = ["log-level=error", "repeat-headers=1"]
        if index.level:
            # general_level_idc is 30 times the level (123: 4.1).
            params += [f"level-idc={index.level // 30}.{index.level % 30 // 3}"]
            params += ["high-tier=1" if index.high_tier else "high-tier=0"]
        args += ["-x265-params", ":".join(params)]
    else:
        args = ["-c:v", "libx264", "-preset", X264[quality][0], "-crf", X264[quality][1], "-pix_fmt", index.pix_fmt]
        if threads is not None:
            args += ["-threads", str(threads)]
        args += ["-profile:v", X264_PROFILES[index.profile or ""]]
        if index.level:
            args += ["-level", f"{index.level // 10}.{index.level % 10}"]
    for option, value in index.color.items():
        args += [option, value]
    if index.codec == "hevc":
        return [*args, *_hevc_mp4(index)]
    args += ["-video_track_timescale", str(index.time_base.denominator)]
    return [*args, "-an", "-sn", "-dn", "-map_metadata", "-1", "-f", "mp4"]


def _hevc_mp4(index: StreamIndex) -> list[str]:
    """Muxer options of an HEVC stretch: `hev1` (parameter sets in-band), the source's time base."""
    return [
        "-tag:v", "hev1", "-video_track_timescale", str(index.time_base.denominator),
        "-an", "-sn", "-dn", "-map_metadata", "-1", "-f", "mp4",
    ]  # fmt: skip


def _copy_entry(src: Path, index: StreamIndex, piece: Piece) -> list[str]:
    """The concat entry that copies a stretch of source GOPs: from its keyframe to the DTS of the next."""
    entry = [f"file {_quote(src)}", f"inpoint {_ts(index.origin_s + piece.start_s)}"]
    if piece.outpoint_s is not None:
        entry.append(f"outpoint {_ts(index.origin_s + piece.outpoint_s)}")
    return [*entry, f"duration {_ts(piece.length_s)}"]


def _concat_input(listing: Path) -> list[str]:
    return [
        "-f", "concat", "-safe", "0", "-auto_convert", "1", "-protocol_whitelist", "file",
        "-format_whitelist", f"concat,{ALLOWED_DEMUXERS}", "-i", str(listing),
    ]  # fmt: skip


def _listing(entries: list[list[str]]) -> str:
    return "\n".join(["ffconcat version 1.0", *(line for entry in entries for line in entry)]) + "\n"


def _quote(path: Path) -> str:
    # ffconcat quoting: inside single quotes, a quote is written '\''.
    return "'" + str(path.absolute()).replace("'", "'\\''") + "'"


def _ts(seconds: float) -> str:
    return f"{seconds:.6f}"
