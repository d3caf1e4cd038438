"""Background replacement: key a colour out of a video and put a colour, image or video behind it.

One ffmpeg pass: the background is fitted to the input's frame size and frame rate, the keyed
input (chromakey or colorkey, then despill) is overlaid on it, and the input's audio is copied
when the output container can hold it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from videoapi.assets.schemas import InputRef
from videoapi.editing.plan import even
from videoapi.editing.source import Source
from videoapi.errors import InvalidRequest
from videoapi.media.colors import Color, parse_color
from videoapi.media.encoding import (
    CONTENT_TYPES,
    COPYABLE,
    OUTPUT_CODECS,
    POSTER_MAX_HEIGHT,
    Format,
    Quality,
    container_flags,
    encode_args,
)
from videoapi.media.plan import Expected, Plan
from videoapi.media.probe import MediaInfo
from videoapi.media.safety import input_args
from videoapi.outputs.schemas import CommonOptions
from videoapi.settings import Settings

Fit = Literal["cover", "contain", "stretch"]
DEFAULT_KEY_COLOR = "#00ff00"
"""Key colour when none is given and the borders are neither green nor blue (and at submission)."""
DEFAULT_FPS = 25.0
"""Frame rate of the output when the input's container does not say."""


class Spill(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Spill suppression (ffmpeg `despill`): removes the key colour's cast from the subject's edges."""

    type: Literal["auto", "green", "blue"] = "auto"
    """Which cast to remove; `auto` follows the key colour (none when it is neither green nor blue)."""
    mix: Annotated[float, Meta(ge=0, le=1)] = 0.5
    """How the limit for the spill channel is mixed from the other two (0: all red, 1: all the third)."""
    expand: Annotated[float, Meta(ge=0, le=1)] = 0.0
    """How much more to remove: 0 keeps neutral colours, 1 removes the most."""


class ChromaKey(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    color: str | None = None
    """The backdrop colour to make transparent; not given: estimated from the input's frame borders
    (a green or blue there), else #00ff00."""
    similarity: Annotated[float, Meta(ge=0.01, le=1)] = 0.2
    """How close to `color` a pixel must be to be keyed out (0.01: only the exact colour)."""
    blend: Annotated[float, Meta(ge=0, le=1)] = 0.05
    """Soft edge: pixels just past `similarity` become partly transparent over this range."""
    yuv: bool = False
    """Compare colours by chroma only (YUV, ffmpeg `chromakey`), which tolerates uneven lighting of the
    backdrop but runs about 3x slower; the default compares RGB colours (ffmpeg `colorkey`)."""
    spill: Spill | None = msgspec.field(default_factory=Spill)
    """Spill suppression; null turns it off."""


class Replacement(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Exactly one of `color`, `image` or `video`."""

    color: str | None = None
    image: InputRef | None = None
    video: InputRef | None = None
    """Looped when shorter than the input, cut when longer."""
    fit: Fit = "cover"
    """How an image or video is fitted to the input's frame: `cover` fills and crops, `contain`
    fits inside with black bars, `stretch` ignores the aspect ratio."""


class BackgroundRequest(CommonOptions, forbid_unknown_fields=True, kw_only=True):
    """Replace a video's chroma-key backdrop by a colour, an image or another video."""

    input: InputRef
    key: ChromaKey = msgspec.field(default_factory=ChromaKey)
    replacement: Replacement
    format: Format = "mp4"
    quality: Quality = "medium"


def background_inputs(req: BackgroundRequest) -> list[InputRef]:
    """The input, then the replacement image or video if there is one."""
    bg = req.replacement.image or req.replacement.video
    return [req.input, bg] if bg is not None else [req.input]


def check_background(req: BackgroundRequest, settings: Settings) -> None:
    """Checks that need no probe: one replacement, valid colours."""
    _replacement_kind(req.replacement)
    if req.key.color is not None:
        parse_color(req.key.color, "key.color")
    if req.replacement.color is not None:
        parse_color(req.replacement.color, "replacement.color")


def plan_background(req: BackgroundRequest, sources: Sequence[Source], out_dir: Path, settings: Settings) -> Plan:
    check_background(req, settings)
    media = sources[0].media
    if media.video is None or media.is_image:
        raise InvalidRequest(
            "the input has no video to key",
            code="input_not_video",
            errors=[{"field": "input", "message": "a video is needed (an image or audio-only file was given)"}],
        )
    width, height = even(media.video.width), even(media.video.height)
    _check_limits(width, height, media.duration_s, settings)
    fps = media.video.fps or DEFAULT_FPS
    kind = _replacement_kind(req.replacement)

    args = input_args(sources[0].path)
    if kind == "color":
        color = parse_color(req.replacement.color or "", "replacement.color")
        # A lavfi source inside the graph, not an input: nothing is read from a file.
        bg = f"color=c=0x{color.hex}:s={width}x{height}:r={fps:g}"
    else:
        bg_source = sources[1]
        _check_replacement_media(kind, bg_source.media)
        if kind == "video":
            # Looped as often as needed and cut at the input's length by the demuxer itself.
            args += ["-stream_loop", "-1", "-t", f"{media.duration_s:.6f}", *input_args(bg_source.path)]
            bg = f"[1:v:0]{_fit(req.replacement.fit, width, height)},fps={fps:g},setpts=PTS-STARTPTS"
        else:
            # One decoded frame, fitted once, then repeated at the input's frame rate.
            args += input_args(bg_source.path)
            fit = _fit(req.replacement.fit, width, height)
            bg = f"[1:v:0]{fit},loop=loop=-1:size=1,fps={fps:g},setpts=N/({fps:g}*TB)"

    fg = _key_chain(req.key, media, width, height)
    poster_scale = f"scale=-2:'min(ih,{POSTER_MAX_HEIGHT})':force_divisible_by=2"
    graph = ";".join(
        (
            f"{bg},format=yuv420p[bg]",
            f"[0:v:0]{fg}[fg]",
            # The input decides the length: the background is endless or as long as the input.
            "[bg][fg]overlay=shortest=1:eof_action=endall,format=yuv420p,split=2[v][p]",
            f"[p]{poster_scale}[poster]",
        )
    )
    out = out_dir / f"output.{req.format}"
    poster = out_dir / "poster.jpg"
    encode = encode_args(req.format, req.quality)
    video_encode = encode[: encode.index("-c:a")]
    args += ["-filter_complex", graph, "-map", "[v]", "-map", "0:a:0?", *video_encode]
    args += _audio_args(req.format, media, encode)
    args += container_flags(req.format, out)
    args += ["-map", "[poster]", "-frames:v", "1", "-q:v", "4", "-f", "image2", "-update", "1", str(poster)]
    expect = Expected(size=(width, height), video_codec=OUTPUT_CODECS[req.format][0])
    return Plan(args, out, poster, CONTENT_TYPES[req.format], media.duration_s, expect=expect)


def _replacement_kind(rep: Replacement) -> Literal["color", "image", "video"]:
    given = [name for name in ("color", "image", "video") if getattr(rep, name) is not None]
    if len(given) != 1:
        raise InvalidRequest(
            "replacement needs exactly one of color, image or video",
            errors=[
                {
                    "field": "replacement",
                    "message": f"exactly one of color, image, video (given: {', '.join(given) or 'none'})",
                }
            ],
        )
    return given[0]  # type: ignore[return-value]


def _check_replacement_media(kind: Literal["image", "video"], media: MediaInfo) -> None:
    field = f"replacement.{kind}"
    if media.video is None:
        raise InvalidRequest(
            f"{field} has no picture (audio only)",
            code="input_not_video",
            errors=[{"field": field, "message": "no video stream"}],
        )
    if kind == "image" and not media.is_image:
        raise InvalidRequest(
            f"{field} is a video; give it as replacement.video",
            code="input_not_image",
            errors=[{"field": field, "message": "a still image is needed here"}],
        )
    if kind == "video" and media.is_image:
        raise InvalidRequest(
            f"{field} is a still image; give it as replacement.image",
            code="input_not_video",
            errors=[{"field": field, "message": "a video is needed here"}],
        )


def _key_chain(key: ChromaKey, media: MediaInfo, width: int, height: int) -> str:
    """Filters from the decoded input to the keyed foreground with alpha."""
    assert media.video is not None
    color = parse_color(key.color or DEFAULT_KEY_COLOR, "key.color")
    parts = ["setpts=PTS-STARTPTS"]
    if (media.video.width, media.video.height) != (width, height):
        parts.append(f"scale={width}:{height}")
    parts.append("setsar=1")
    options = f"color=0x{color.hex}:similarity={key.similarity:g}:blend={key.blend:g}"
    if key.yuv:
        # 4:4:4 so that the key is decided per pixel, not per 2x2 block of chroma.
        parts += ["format=yuva444p", f"chromakey={options}"]
    else:
        parts += ["format=rgba", f"colorkey={options}"]
    spill = _spill_type(key.spill, color)
    if key.spill is not None and spill is not None:
        # After the key (it would otherwise grey the backdrop itself); despill works on packed RGB and
        # lowers the spill channel towards the mix of the other two.
        parts += [
            *(["format=rgba"] if key.yuv else []),
            f"despill=type={spill}:mix={key.spill.mix:g}:expand={key.spill.expand:g}",
        ]
    return ",".join(parts)


def _spill_type(spill: Spill | None, color: Color) -> str | None:
    if spill is None:
        return None
    if spill.type != "auto":
        return spill.type
    if color.g > max(color.r, color.b):
        return "green"
    if color.b > max(color.r, color.g):
        return "blue"
    return None


def _fit(fit: Fit, width: int, height: int) -> str:
    if fit == "cover":
        return f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height},setsar=1"
    if fit == "contain":
        return (
            f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1"
        )
    return f"scale={width}:{height},setsar=1"


def _audio_args(container: Format, media: MediaInfo, encode: list[str]) -> list[str]:
    """Copy the input's audio when the container can hold its codec, else encode it."""
    if media.audio is not None and media.audio.codec in COPYABLE[container][1]:
        return ["-c:a", "copy"]
    return encode[encode.index("-c:a") :]


def _check_limits(width: int, height: int, duration_s: float, settings: Settings) -> None:
    limits = settings.editing
    for name, value, limit in (
        ("editing.max_output_width", width, limits.max_output_width),
        ("editing.max_output_height", height, limits.max_output_height),
        ("editing.max_output_pixels", width * height, limits.max_output_pixels),
        ("editing.max_output_pixel_seconds", width * height * duration_s, limits.max_output_pixel_seconds),
    ):
        if value > limit:
            raise InvalidRequest(
                f"the output would exceed {name} ({value:g} > {limit:g}): the output has the input's size and length",
                code="limit_exceeded",
                errors=[{"field": "input", "message": f"over {name} = {limit:g}"}],
            )
