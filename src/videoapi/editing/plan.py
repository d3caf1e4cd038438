"""Pure planning: request + probed input -> one ffmpeg argument list. Nothing here runs ffmpeg."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import NoReturn

from videoapi.editing.schemas import HlsOptions, TranscodeRequest, TrimRequest
from videoapi.editing.smart import plan_smart_trim, render_report, smart_blocker
from videoapi.errors import InvalidRequest
from videoapi.media.encoding import (
    CODECS,
    CONTENT_TYPES,
    COPYABLE,
    OUTPUT_CODECS,
    Codec,
    audio_args,
    container_flags,
    encode_args,
    output_codec,
    output_codecs,
    poster_args,
    usable_cpus,
)
from videoapi.media.formats import BASE_LABEL, HLS_DIR, HLS_MASTER, gif_args, hls_args, hls_ladder
from videoapi.media.gops import StreamIndex
from videoapi.media.hardware import check_encoder, planned_video_args
from videoapi.media.plan import Expected, Plan
from videoapi.media.probe import MediaInfo
from videoapi.media.safety import input_args
from videoapi.settings import OutputSettings

RESOLUTION_SHORT_SIDE = {"480p": 480, "720p": 720, "1080p": 1080, "1440p": 1440, "2160p": 2160}
Range = tuple[float, float]
"""(start_s, end_s) of the input."""


def check_range(start_s: float, end_s: float, media: MediaInfo | None, *, field: str = "") -> None:
    """Raise a field-level 422 for a trim range that cannot work on this input.

    `field` prefixes the names in errors, e.g. "segments[2]." for one of several ranges.
    """
    if start_s >= end_s:
        raise InvalidRequest(
            f"{field}start_s must be before {field}end_s",
            code="invalid_range",
            errors=[{"field": f"{field}end_s", "message": f"end_s ({end_s}) must be greater than start_s ({start_s})"}],
        )
    if media is None:
        return
    if media.video is None or media.is_image:
        raise InvalidRequest("the input has no video to trim", code="input_not_video")
    if end_s > media.duration_s + 1e-3:
        raise InvalidRequest(
            f"{field}end_s ({end_s}) is past the end of the input ({media.duration_s:.3f} s)",
            code="input_out_of_range",
            errors=[{"field": f"{field}end_s", "message": f"the input lasts {media.duration_s:.3f} s"}],
        )


def trim_ranges(req: TrimRequest, media: MediaInfo | None, *, max_segments: int | None = None) -> list[Range]:
    """The validated keep-ranges of a trim, in output order; a field-level 422 for any that cannot work.

    `max_segments` is `editing.max_inputs`: each range opens the input once (see `plan_trim`).
    """
    single = req.start_s is not None or req.end_s is not None
    if single == (req.segments is not None):
        raise InvalidRequest(
            "give either start_s and end_s, or segments",
            errors=[{"field": "segments", "message": "exactly one of start_s/end_s or segments"}],
        )
    if req.segments is None:
        for name, value in (("start_s", req.start_s), ("end_s", req.end_s)):
            if value is None:
                raise InvalidRequest(f"{name} is required", errors=[{"field": name, "message": "required"}])
        assert req.start_s is not None and req.end_s is not None
        check_range(req.start_s, req.end_s, media)
        return [(req.start_s, req.end_s)]
    if max_segments is not None and len(req.segments) > max_segments:
        raise InvalidRequest(
            f"{len(req.segments)} segments; the limit is {max_segments} (editing.max_inputs)",
            code="limit_exceeded",
            errors=[{"field": "segments", "message": f"at most {max_segments} segments (editing.max_inputs)"}],
        )
    ranges: list[Range] = []
    for i, seg in enumerate(req.segments):
        if ranges and seg.start_s < ranges[-1][1]:
            raise InvalidRequest(
                f"segments[{i}] starts before segments[{i - 1}] ends: segments must be in order and not overlap",
                code="invalid_range",
                errors=[
                    {
                        "field": f"segments[{i}].start_s",
                        "message": f"must be at least {ranges[-1][1]} (the end of segments[{i - 1}])",
                    }
                ],
            )
        check_range(seg.start_s, seg.end_s, media, field=f"segments[{i}].")
        ranges.append((seg.start_s, seg.end_s))
    if len(ranges) > 1 and req.mode == "fast":
        # Joining stream copies would need the concat demuxer, which the input whitelist refuses.
        raise InvalidRequest(
            "a fast trim copies streams and keeps one range only; use mode `accurate` to join segments",
            code="fast_trim_unsupported",
            errors=[{"field": "mode", "message": "several segments need mode `accurate`"}],
        )
    return ranges


def plan_trim(
    req: TrimRequest,
    media: MediaInfo,
    src: Path,
    out_dir: Path,
    *,
    max_segments: int | None = None,
    index: StreamIndex | None = None,
) -> Plan:
    """A trim: stream copy (`fast`), smart rendering when the input's video fits the output (`accurate`,
    see `editing.smart`; `index` is the input's GOP index), else one full re-encode."""
    ranges = trim_ranges(req, media, max_segments=max_segments)
    if req.mode == "fast":
        return _plan_single(req, media, src, out_dir, ranges)
    reason = smart_blocker(req, media, index)
    if reason is None:
        assert index is not None
        smart = plan_smart_trim(req, media, index, src, out_dir, ranges, usable_cpus())
        if smart is not None:
            full = _plan_single(req, media, src, out_dir, ranges)
            full = dataclasses.replace(
                full, render=render_report("full", 0.0, full.duration_s, "smart rendering failed")
            )
            return dataclasses.replace(smart, fallback=full)
        reason = "no whole GOP lies inside the kept ranges"
        if index.open_keyframes:
            reason += (
                f" ({index.open_keyframes} of the input's keyframes open a GOP whose leading pictures need"
                " the one before; only closed GOPs are copied)"
            )
    plan = _plan_single(req, media, src, out_dir, ranges)
    return dataclasses.replace(plan, render=render_report("full", 0.0, plan.duration_s, reason))


def _plan_single(req: TrimRequest, media: MediaInfo, src: Path, out_dir: Path, ranges: list[Range]) -> Plan:
    """Stream copy or one full re-encode of the ranges."""
    duration = sum(end - start for start, end in ranges)
    if len(ranges) > 1:
        return _plan_segments(req, media, src, out_dir, ranges, duration)
    start_s = ranges[0][0]
    head = ["-ss", _ts(start_s), *input_args(src), "-t", _ts(duration)]
    if req.mode == "fast":
        container = _copy_container(media)
        out = out_dir / f"output.{container}"
        args = [*head, "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-avoid_negative_ts", "make_zero"]
        args += container_flags(container, out)
        # Copied streams keep their codecs (and their coded size, which a rotated input does not display).
        assert media.video is not None
        expect = Expected(video_codec=media.video.codec, audio_codec=media.audio.codec if media.audio else None)
    else:
        container = req.format
        out = out_dir / f"output.{container}"
        args = [*head, "-map", "0:v:0", "-map", "0:a:0?"]
        if vf := normalise_filter(media):
            args += ["-vf", vf]
        codec = trim_codec(req, media)
        args += encode_args(container, req.quality, codec) + container_flags(container, out)
        expect = _encoded_expect(media, container, codec)
    poster = out_dir / "poster.jpg"
    return Plan([*args, *poster_args(poster)], out, poster, CONTENT_TYPES[container], duration, expect=expect)


def trim_codec(req: TrimRequest, media: MediaInfo) -> Codec | None:
    """The video codec a trim re-encodes to: HEVC for an HEVC input into MP4 (a trim keeps the codec, and
    smart rendering can then copy its GOPs), else None (the format's default: H.264, VP9 in WebM)."""
    return "hevc" if req.format == "mp4" and media.video is not None and media.video.codec == "hevc" else None


def _encoded_expect(media: MediaInfo, container: str, codec: str | None = None) -> Expected:
    """A re-encode of the input's frames: its displayed size made even, the container's (or `codec`'s) codecs."""
    assert media.video is not None
    video_codec, audio_codec = OUTPUT_CODECS[container]
    video_codec = codec or video_codec
    return Expected(
        size=(even(media.video.width), even(media.video.height)),
        video_codec=video_codec,
        audio_codec=audio_codec if media.audio is not None else None,
    )


def _plan_segments(
    req: TrimRequest, media: MediaInfo, src: Path, out_dir: Path, ranges: list[Range], duration_s: float
) -> Plan:
    """Several ranges in one pass: the input opened once per range, each seeked, joined by concat.

    Seeking each range (rather than one decode through split+trim or select filters) never decodes
    the gaps between ranges (three ranges of a 60 s 720p clip: 1.5 s against 1.8 s), at the cost of
    one demuxer and decoder per range (bounded by editing.max_inputs). Input seeking with a
    re-encode is frame-exact: ffmpeg decodes from the keyframe and drops what precedes the range.
    """
    args: list[str] = []
    for start_s, end_s in ranges:
        args += ["-ss", _ts(start_s), "-t", _ts(end_s - start_s), *input_args(src)]
    has_audio = media.audio is not None
    pads = "".join(f"[{i}:v:0]" + (f"[{i}:a:0]" if has_audio else "") for i in range(len(ranges)))
    vf = normalise_filter(media)
    joined = ("[joined]" if vf else "[v]") + ("[a]" if has_audio else "")
    graph = f"{pads}concat=n={len(ranges)}:v=1:a={int(has_audio)}{joined}" + (f";[joined]{vf}[v]" if vf else "")
    container = req.format
    out = out_dir / f"output.{container}"
    args += ["-filter_complex", graph, "-map", "[v]"] + (["-map", "[a]"] if has_audio else [])
    codec = trim_codec(req, media)
    args += encode_args(container, req.quality, codec) + container_flags(container, out)
    # The first frame of input 0 is the first frame of the output.
    poster = out_dir / "poster.jpg"
    expect = _encoded_expect(media, container, codec)
    return Plan([*args, *poster_args(poster)], out, poster, CONTENT_TYPES[container], duration_s, expect=expect)


def check_transcode(req: TranscodeRequest, limits: OutputSettings) -> str:
    """The checks a transcode can make without its input's probe (a 422 naming the field); its codec."""
    codec = output_codec(req.format, req.codec)
    if req.hls is not None and req.format != "hls":
        raise InvalidRequest(
            "hls options are for format `hls`",
            errors=[{"field": "hls", "message": "give format `hls`, or leave hls out"}],
        )
    if req.format == "hls" and (req.width or req.height or req.resolution):
        raise InvalidRequest(
            "an HLS output's sizes come from its ladder",
            errors=[{"field": "hls.ladder", "message": "give the sizes in hls.ladder, not width/height/resolution"}],
        )
    if req.format == "gif" and req.fps is not None and req.fps > limits.gif_max_fps:
        _gif_limit("fps", f"a GIF has at most {limits.gif_max_fps:g} fps", "gif_max_fps")
    check_encoder(req.encoder, None if req.format == "gif" else codec)
    return codec


def plan_transcode(
    req: TranscodeRequest, media: MediaInfo, src: Path, out_dir: Path, limits: OutputSettings | None = None
) -> Plan:
    """A re-encode to `req.format` with `req.codec`; GIF and HLS are one pass through a filter graph."""
    if media.video is None or media.is_image:
        raise InvalidRequest("the input has no video to transcode", code="input_not_video")
    limits = limits or OutputSettings()
    codec = check_transcode(req, limits)
    if req.format == "gif":
        return _plan_gif(req, media, src, out_dir, limits)
    if req.format == "hls":
        return _plan_hls(req, media, src, out_dir, limits, codec)
    out = out_dir / f"output.{req.format}"
    filters = [f for f in (_scale_filter(req, media), f"fps={req.fps:g}" if req.fps else None) if f]
    filters += ["setsar=1", "format=yuv420p"]
    head, video, upload = planned_video_args(req.encoder, codec, req.quality)
    args = [
        *head,
        *input_args(src),
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-vf",
        ",".join([*filters, *filter(None, [upload])]),
    ]
    if req.encoder in ("auto", "software"):
        args += encode_args(req.format, req.quality, codec)
    else:
        args += [*video, *audio_args(req.format, req.quality)]
    args += container_flags(req.format, out)
    poster = out_dir / "poster.jpg"
    video_codec, audio_codec = output_codecs(req.format, codec)
    expect = Expected(
        size=transcode_size(req, media),
        video_codec=video_codec,
        audio_codec=audio_codec if media.audio is not None else None,
        pix_fmt=CODECS[codec].pix_fmt,
    )
    return Plan([*args, *poster_args(poster)], out, poster, CONTENT_TYPES[req.format], media.duration_s, expect=expect)


def _plan_gif(req: TranscodeRequest, media: MediaInfo, src: Path, out_dir: Path, limits: OutputSettings) -> Plan:
    """An animated GIF within `outputs.gif_max_*` (each a 422 naming the field): palette and frames in one pass."""
    assert media.video is not None
    width, height = transcode_size(req, media)
    size_field = "resolution" if req.resolution else "width" if (req.width or req.height) else "input"
    if width > limits.gif_max_width or height > limits.gif_max_height:
        _gif_limit(
            size_field,
            f"a GIF is at most {limits.gif_max_width}x{limits.gif_max_height}; this one would be {width}x{height}",
            "gif_max_width",
        )
    if media.duration_s > limits.gif_max_duration_s + 1e-3:
        _gif_limit(
            "input", f"a GIF lasts at most {limits.gif_max_duration_s:g} s; the input lasts {media.duration_s:.3f} s",
            "gif_max_duration_s",
        )  # fmt: skip
    fps = req.fps or min(media.video.fps or limits.gif_max_fps, limits.gif_max_fps)
    filters = [f for f in (_scale_filter(req, media), f"fps={fps:g}") if f]
    out = out_dir / "output.gif"
    args = [*input_args(src), *gif_args("0:v:0", [*filters, "setsar=1"], req.quality, out)]
    expect = Expected(size=(width, height), video_codec="gif", frame_s=1 / fps)
    return Plan(args, out, None, CONTENT_TYPES["gif"], media.duration_s, expect=expect, watermark_label=BASE_LABEL)


def _gif_limit(field: str, detail: str, setting: str) -> NoReturn:
    raise InvalidRequest(
        f"{detail} (setting outputs.{setting})",
        code="limit_exceeded",
        errors=[{"field": field, "message": f"{detail} (outputs.{setting})"}],
    )


def _plan_hls(
    req: TranscodeRequest, media: MediaInfo, src: Path, out_dir: Path, limits: OutputSettings, codec: str
) -> Plan:
    """Every rendition of the ladder from one decode (split), HLS VOD playlists and a master playlist."""
    assert media.video is not None
    options = req.hls or HlsOptions()
    width, height = even(media.video.width), even(media.video.height)
    rungs = hls_ladder([int(r.removesuffix("p")) for r in options.ladder], width, height, _even_rescale)
    filters = [f for f in (normalise_filter(media), f"fps={req.fps:g}" if req.fps else None) if f]
    filters += ["setsar=1", "format=yuv420p"]
    folder = out_dir / HLS_DIR
    audio = "0:a:0" if media.audio is not None else None
    head, video, upload = planned_video_args(req.encoder, codec, req.quality)
    args = [*head, *input_args(src)]
    args += hls_args(
        "0:v:0", filters, rungs, video=video, upload=upload, quality=req.quality, audio=audio,
        segments=options.segments, segment_s=limits.hls_segment_s, out_dir=folder,
    )  # fmt: skip
    poster = out_dir / "poster.jpg"
    video_codec = output_codecs("hls", codec)[0]
    # The input's container length may exceed its video's by an audio frame or a B-frame delay.
    frame_s = max(1 / (req.fps or media.video.fps or 25.0), 0.1)
    renditions = tuple(
        (r.playlist, Expected(size=(r.width, r.height), video_codec=video_codec, pix_fmt=CODECS[codec].pix_fmt,
                              audio_codec="aac" if audio else None, video_s=media.duration_s, frame_s=frame_s))
        for r in rungs
    )  # fmt: skip
    expect = Expected(renditions=renditions)
    return Plan(
        [*args, *poster_args(poster)], folder / HLS_MASTER, poster, CONTENT_TYPES["hls"], media.duration_s,
        expect=expect, watermark_label=BASE_LABEL,
    )  # fmt: skip


def transcode_size(req: TranscodeRequest, media: MediaInfo) -> tuple[int, int]:
    """The frame `_scale_filter` makes (ffmpeg's `-2` keeps the aspect, rounded to an even number)."""
    assert media.video is not None
    iw, ih = media.video.width, media.video.height
    if req.width and req.height:
        return even(req.width), even(req.height)
    if req.width:
        return even(req.width), _even_rescale(even(req.width), ih, iw)
    if req.height:
        return _even_rescale(even(req.height), iw, ih), even(req.height)
    if req.resolution:
        short = RESOLUTION_SHORT_SIDE[req.resolution]
        return (short, _even_rescale(short, ih, iw)) if ih > iw else (_even_rescale(short, iw, ih), short)
    return even(iw), even(ih)


def _even_rescale(side: int, num: int, den: int) -> int:
    """side * num / den to the nearest multiple of 2 (ffmpeg's av_rescale, rounding half away from zero)."""
    return max(2, int(side * num / (den * 2) + 0.5) * 2)


def _scale_filter(req: TranscodeRequest, media: MediaInfo) -> str | None:
    if req.width and req.height:
        w, h = even(req.width), even(req.height)
        return (
            f"scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2"
        )
    if req.width:
        return f"scale={even(req.width)}:-2"
    if req.height:
        return f"scale=-2:{even(req.height)}"
    if req.resolution:
        short = RESOLUTION_SHORT_SIDE[req.resolution]
        assert media.video is not None
        portrait = media.video.height > media.video.width
        return f"scale={short}:-2" if portrait else f"scale=-2:{short}"
    return normalise_filter(media)


def normalise_filter(media: MediaInfo) -> str | None:
    """Only what the encoder needs: even dimensions and 8-bit 4:2:0 (a no-op costs a frame copy)."""
    assert media.video is not None
    parts = []
    if media.video.width % 2 or media.video.height % 2:
        parts.append("scale=trunc(iw/2)*2:trunc(ih/2)*2")
    if media.video.pix_fmt not in ("yuv420p", "yuvj420p"):
        parts.append("format=yuv420p")
    return ",".join(parts) or None


def _copy_container(media: MediaInfo) -> str:
    assert media.video is not None
    audio = media.audio.codec if media.audio else None
    # Keep the input's container family when it can hold the streams.
    order = ("webm", "mp4") if "webm" in media.format_name.split(",") else ("mp4", "webm")
    for container in order:
        video_ok, audio_ok = COPYABLE[container]
        if media.video.codec in video_ok and (audio is None or audio in audio_ok):
            return container
    raise InvalidRequest(
        f"a fast trim copies the streams, and {media.video.codec}/{audio} fits neither MP4 nor WebM; "
        "use mode `accurate`",
        code="fast_trim_unsupported",
    )


def even(n: int) -> int:
    return n - n % 2


def _ts(seconds: float) -> str:
    return f"{seconds:.6f}"
