"""edit/subtitles: burn cues into the picture with libass, or add them as a soft track.

One ffmpeg pass either way. Burn-in renders an ASS script written by the plan (`Plan.files`), so
user text reaches libass as escaped event text, never as filtergraph syntax. A soft track is
mov_text in MP4 and WebVTT in WebM; the video and audio are stream-copied when the container can
hold them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from videoapi.assets.schemas import InputRef
from videoapi.editing.captions import (
    AssStyle,
    Cue,
    CueLimits,
    parse_segments,
    parse_srt,
    parse_vtt,
    to_ass,
    to_srt,
    to_webvtt,
    where,
)
from videoapi.editing.plan import even, normalise_filter
from videoapi.editing.schemas import Seconds
from videoapi.editing.source import Source
from videoapi.errors import InvalidRequest
from videoapi.media.colors import parse_color
from videoapi.media.encoding import (
    CONTENT_TYPES,
    COPYABLE,
    OUTPUT_CODECS,
    Format,
    Quality,
    container_flags,
    encode_args,
    poster_args,
)
from videoapi.media.filters import filter_quote, safe_margins
from videoapi.media.fonts import Font, catalog, needs_cjk, resolve_font
from videoapi.media.plan import Expected, Plan
from videoapi.media.probe import MediaInfo
from videoapi.media.safety import check_input_path, input_args
from videoapi.outputs.schemas import CommonOptions
from videoapi.settings import Settings

ALIGNMENT = {"bottom": 2, "middle": 5, "top": 8}
# The regional Noto CJK face for a soft-track language, so kanji use Japanese glyph shapes, etc.
CJK_FAMILY_BY_LANGUAGE = {
    "jpn": "Noto Sans CJK JP",
    "kor": "Noto Sans CJK KR",
    "chi": "Noto Sans CJK SC",
    "zho": "Noto Sans CJK SC",
}
NOMINAL_SIZE = (1280, 720)
"""Frame size the style is checked against when the input is a URL, not probed yet."""

SubtitleText = Annotated[str, Meta(max_length=5_000_000, description="the whole file, UTF-8 text")]
Language = Annotated[str, Meta(pattern=r"^[a-z]{3}$", description="ISO 639-2 code: eng, chi, jpn, kor, ...")]


class SubtitleStyle(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The look of burned-in subtitles (a soft track is styled by the player)."""

    font: str | None = None
    """An installed font family; default DejaVu Sans, or Noto Sans CJK for Chinese, Japanese, Korean."""
    size: Annotated[int, Meta(ge=6, le=500)] | None = None
    """Font size in pixels of the video; default 5.5% of the frame height."""
    color: str = "white"
    outline_color: str = "black"
    outline_width: Annotated[float, Meta(ge=0, le=50)] | None = None
    """Pixels; default size / 16, at least 1."""
    box_color: str | None = None
    """Draw a box of this colour (e.g. `#00000099`, translucent black) behind each cue."""
    position: Literal["bottom", "top", "middle"] = "bottom"
    margin: Annotated[int, Meta(ge=0, le=4000)] | None = None
    """Pixels between the text and the top or bottom edge; default 5% of the frame height."""


class SubtitleSegment(msgspec.Struct, forbid_unknown_fields=True):
    """One cue: shown from `start_s` until `end_s`; `\\n` in `text` breaks the line."""

    start_s: Seconds
    end_s: Seconds
    text: Annotated[str, Meta(max_length=100_000)]


class SubtitlesRequest(CommonOptions, forbid_unknown_fields=True, kw_only=True):
    """Burn subtitles into the picture (libass, styled) or add them as a soft track (mov_text in MP4,
    WebVTT in WebM). Give exactly one of `srt`, `vtt` or `segments`."""

    input: InputRef
    srt: SubtitleText | None = None
    vtt: SubtitleText | None = None
    segments: Annotated[list[SubtitleSegment], Meta(max_length=100_000)] | None = None
    mode: Literal["burn", "soft"] = "burn"
    style: SubtitleStyle = msgspec.field(default_factory=SubtitleStyle)
    language: Language = "und"
    """Language of the soft track; also picks the regional CJK font when burning."""
    format: Format = "mp4"
    quality: Quality = "medium"


def parse_cues(req: SubtitlesRequest, settings: Settings) -> tuple[list[Cue], str]:
    """The request's cues and the field they came from; a 422 for anything malformed."""
    given = [name for name in ("srt", "vtt", "segments") if getattr(req, name) is not None]
    if len(given) != 1:
        field = given[1] if given else "srt"
        raise InvalidRequest(
            "give exactly one of srt, vtt or segments",
            code="invalid_subtitles",
            errors=[
                {
                    "field": field,
                    "message": f"exactly one of srt, vtt or segments is needed, got {', '.join(given) or 'none'}",
                }
            ],
        )
    limits = CueLimits(settings.editing.max_subtitle_cues, settings.editing.max_text_chars)
    if req.srt is not None:
        return parse_srt(req.srt, limits), "srt"
    if req.vtt is not None:
        return parse_vtt(req.vtt, limits), "vtt"
    assert req.segments is not None
    return parse_segments(req.segments, limits), "segments"


def subtitle_texts(req: SubtitlesRequest, settings: Settings) -> Iterator[tuple[str, str]]:
    """(field, text) of each cue as it will be drawn: tags removed, entities decoded ("nu<i></i>de"
    reads "nude"), so that moderation screens what viewers see, not the markup."""
    cues, field = parse_cues(req, settings)
    for cue in cues:
        yield where(cue, field, "text")[0], cue.text


def check_subtitles(req: SubtitlesRequest, settings: Settings) -> None:
    """What can be checked before a URL input is fetched: the cues and the style."""
    cues, _ = parse_cues(req, settings)
    if req.mode == "burn":
        subtitle_style(req.style, "\n".join(c.text for c in cues), req.language, *NOMINAL_SIZE, settings)


def plan_subtitles(req: SubtitlesRequest, sources: Sequence[Source], out_dir: Path, settings: Settings) -> Plan:
    src, media = sources[0].path, sources[0].media
    cues, field = parse_cues(req, settings)
    if media.video is None or media.is_image:
        raise InvalidRequest(
            "the input has no video to subtitle",
            code="input_not_video",
            errors=[{"field": "input", "message": "the input has no video to subtitle; give a video"}],
        )
    cues = fit_to_input(cues, media.duration_s, field)
    if req.mode == "burn":
        assert media.video is not None
        width, height = even(media.video.width), even(media.video.height)
        text = "\n".join(c.text for c in cues)
        ass = to_ass(cues, subtitle_style(req.style, text, req.language, width, height, settings), width, height)
        return plan_burn(ass, req.format, req.quality, media, src, out_dir, settings)
    return plan_soft(cues, req.language, req.format, req.quality, media, src, out_dir, settings)


def fit_to_input(cues: list[Cue], duration_s: float, field: str) -> list[Cue]:
    """Cues ending after the input are cut at its end (a soft track must not outlast the video);
    a cue that starts after the end is a mistake worth a 422."""
    fitted = []
    for cue in cues:
        if cue.start_s >= duration_s:
            f, prefix = where(cue, field, "start_s")
            raise InvalidRequest(
                f"a cue starts after the end of the input ({duration_s:.3f} s)",
                code="input_out_of_range",
                errors=[{"field": f, "message": f"{prefix}: starts at {cue.start_s:.3f} s; the input lasts "
                         f"{duration_s:.3f} s"}],
            )  # fmt: skip
        fitted.append(Cue(cue.start_s, min(cue.end_s, duration_s), cue.text, cue.number, cue.line))
    return fitted


def subtitle_style(
    style: SubtitleStyle, text: str, language: str, width: int, height: int, settings: Settings
) -> AssStyle:
    """The ASS style of `style` for a frame of width x height; the font is picked for `text` (CJK) and
    `language` (ISO 639-2, the regional CJK face)."""
    font = pick_font(style.font, text, language, settings)
    size = style.size or max(8, round(height * 0.055))
    safe_x, safe_y = safe_margins(width, height)
    margin = style.margin if style.margin is not None else safe_y
    return AssStyle(
        font_family=font.family,
        font_size=size,
        color=parse_color(style.color, "style.color"),
        outline_color=parse_color(style.outline_color, "style.outline_color"),
        outline_width=style.outline_width if style.outline_width is not None else max(1.0, round(size / 16, 1)),
        box_color=parse_color(style.box_color, "style.box_color") if style.box_color is not None else None,
        box_padding=max(2, round(size * 0.25)),
        alignment=ALIGNMENT[style.position],
        margin_v=margin,
        margin_h=safe_x,
    )


def pick_font(family: str | None, text: str, language: str, settings: Settings) -> Font:
    extra = settings.editing.fonts_dir
    regional = CJK_FAMILY_BY_LANGUAGE.get(language)
    if family is None and regional and needs_cjk(text) and regional.lower() in catalog(extra):
        family = regional
    return resolve_font(family, text, field="style.font", extra_dir=extra)


def plan_burn(
    ass: str, container: Format, quality: Quality, media: MediaInfo, src: Path, out_dir: Path, settings: Settings
) -> Plan:
    """One pass rendering the ASS script `ass` onto the video with libass (re-encoded once, audio copied
    when the container holds it)."""
    assert media.video is not None
    _check_output_limits(media, settings)
    script = out_dir / "subtitles.ass"
    # libass finds the resolved font through its own fontconfig: the static ffmpeg build reads the
    # system's /etc/fonts/fonts.conf (and falls back to /usr/share/fonts without it), the same
    # configuration `fc-list` reads for `resolve_font`; tests/editing/test_subtitles.py checks
    # that libass opens exactly the file resolve_font picked. `fontsdir` is only for the extra
    # directory, which that fontconfig does not know: libass reads every file of a fontsdir into
    # memory on each run (~0.3 s and ~200 MB for the Noto CJK directory), too much to pay for
    # the system fonts it already finds.
    renderer = f"subtitles=filename={filter_quote(str(script))}:wrap_unicode=1"
    if settings.editing.fonts_dir:
        renderer += f":fontsdir={filter_quote(settings.editing.fonts_dir)}"
    filters = [f for f in (_even_filter(media), "format=yuv420p", renderer) if f]
    video_args, _ = _split_encode(container, quality)
    out = out_dir / f"output.{container}"
    args = [*input_args(src), "-map", "0:v:0", "-map", "0:a:0?", "-vf", ",".join(filters), *video_args]
    args += _audio_args(container, quality, media) + container_flags(container, out)
    poster = out_dir / "poster.jpg"
    return Plan(
        [*args, *poster_args(poster)],
        out,
        poster,
        CONTENT_TYPES[container],
        media.duration_s,
        files={script: ass},
        expect=Expected(
            size=(even(media.video.width), even(media.video.height)), video_codec=OUTPUT_CODECS[container][0]
        ),
    )


def plan_soft(
    cues: Sequence[Cue],
    language: str,
    container: Format,
    quality: Quality,
    media: MediaInfo,
    src: Path,
    out_dir: Path,
    settings: Settings,
) -> Plan:
    """One pass adding `cues` as a soft track (mov_text in MP4, WebVTT in WebM); with no cues, the input's
    streams only. Video and audio are stream-copied when the container holds their codecs."""
    assert media.video is not None
    if not cues:
        return _plan_copy(container, quality, media, src, out_dir, settings)
    if container == "mp4":
        track, demuxer, codec, text = out_dir / "subtitles.srt", "srt", "mov_text", to_srt(cues)
    else:
        # The WebVTT cue text is copied into WebM as written, so its escaping is what players read.
        track, demuxer, codec, text = out_dir / "subtitles.vtt", "webvtt", "copy", to_webvtt(cues)
    check_input_path(track)
    args = [*input_args(src), "-f", demuxer, "-protocol_whitelist", "file", "-format_whitelist", demuxer]
    args += ["-i", str(track), "-map", "0:v:0", "-map", "0:a:0?", "-map", "1:s:0"]
    video_args, expect = _video_copy_args(container, quality, media, settings)
    args += video_args
    args += _audio_args(container, quality, media)
    args += ["-c:s", codec, "-metadata:s:s:0", f"language={language}", "-disposition:s:0", "default"]
    out = out_dir / f"output.{container}"
    args += container_flags(container, out)
    poster = out_dir / "poster.jpg"
    return Plan(
        [*args, *poster_args(poster)],
        out,
        poster,
        CONTENT_TYPES[container],
        media.duration_s,
        files={track: text},
        expect=expect,
    )


def _plan_copy(
    container: Format, quality: Quality, media: MediaInfo, src: Path, out_dir: Path, settings: Settings
) -> Plan:
    """The input's video and audio in `container`, stream-copied when it holds their codecs."""
    assert media.video is not None
    video_args, expect = _video_copy_args(container, quality, media, settings)
    args = [*input_args(src), "-map", "0:v:0", "-map", "0:a:0?", *video_args]
    out = out_dir / f"output.{container}"
    args += _audio_args(container, quality, media) + container_flags(container, out)
    poster = out_dir / "poster.jpg"
    return Plan([*args, *poster_args(poster)], out, poster, CONTENT_TYPES[container], media.duration_s, expect=expect)


def _video_copy_args(
    container: Format, quality: Quality, media: MediaInfo, settings: Settings
) -> tuple[list[str], Expected]:
    """Copy the video when the container can hold its codec, else re-encode it (within the output limits)."""
    assert media.video is not None
    if media.video.codec in COPYABLE[container][0]:
        return ["-c:v", "copy"], Expected(video_codec=media.video.codec)
    _check_output_limits(media, settings)
    vf = normalise_filter(media)
    args = [*(["-vf", vf] if vf else []), *_split_encode(container, quality)[0]]
    size = (even(media.video.width), even(media.video.height))
    return args, Expected(size=size, video_codec=OUTPUT_CODECS[container][0])


def _split_encode(container: Format, quality: Quality) -> tuple[list[str], list[str]]:
    args = encode_args(container, quality)
    i = args.index("-c:a")
    return args[:i], args[i:]


def _audio_args(container: Format, quality: Quality, media: MediaInfo) -> list[str]:
    """Copy the audio when the container can hold its codec (no generation loss, no time spent)."""
    if media.audio is None:
        return []
    if media.audio.codec in COPYABLE[container][1]:
        return ["-c:a", "copy"]
    return _split_encode(container, quality)[1]


def _even_filter(media: MediaInfo) -> str | None:
    assert media.video is not None
    if media.video.width % 2 or media.video.height % 2:
        return "scale=trunc(iw/2)*2:trunc(ih/2)*2"
    return None


def _check_output_limits(media: MediaInfo, settings: Settings) -> None:
    """A re-encoded output has the input's size and duration: hold it to the edit output limits."""
    assert media.video is not None
    limits = settings.editing
    w, h, duration = media.video.width, media.video.height, media.duration_s
    problems = [
        (duration > limits.max_timeline_s, f"{duration:.1f} s is longer than {limits.max_timeline_s:g} s",
         "editing.max_timeline_s"),
        (w > limits.max_output_width, f"width {w} is over {limits.max_output_width}", "editing.max_output_width"),
        (h > limits.max_output_height, f"height {h} is over {limits.max_output_height}", "editing.max_output_height"),
        (w * h > limits.max_output_pixels, f"{w}x{h} is over {limits.max_output_pixels} pixels",
         "editing.max_output_pixels"),
        (w * h * duration > limits.max_output_pixel_seconds,
         f"{w}x{h} for {duration:.1f} s is over {limits.max_output_pixel_seconds:g} pixel-seconds",
         "editing.max_output_pixel_seconds"),
    ]  # fmt: skip
    for over, message, setting in problems:
        if over:
            raise InvalidRequest(
                f"the output would be too large: {message} ({setting})",
                code="limit_exceeded",
                errors=[{"field": "input", "message": f"{message} ({setting})"}],
            )
