"""Background replacement: separate a video's subject from its background and put a colour, an
image, a video or the blurred input behind it, or keep only the subject with an alpha channel.

The subject comes from a chroma key (`matte.mode` `chroma`, the default: colorkey or chromakey, then
despill) or from a mask video the worker computed with a model (`person`, `object`; see
videoapi.vision.masks), scaled up and merged as alpha. Either way one ffmpeg pass applies it: the
background is fitted to the input's frame size and frame rate, the subject is overlaid on it (or
encoded with its alpha: VP9 yuva420p in WebM, ProRes 4444 in MOV), and the input's audio is copied
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
    AUDIO_BITRATE,
    CONTENT_TYPES,
    COPYABLE,
    OUTPUT_CODECS,
    POSTER_MAX_HEIGHT,
    Quality,
    container_flags,
    encode_args,
)
from videoapi.media.plan import Expected, Plan
from videoapi.media.probe import MediaInfo
from videoapi.media.safety import input_args
from videoapi.outputs.schemas import CommonOptions
from videoapi.settings import Settings
from videoapi.vision import pick_vision_model, require_vision_weights

Fit = Literal["cover", "contain", "stretch"]
BackgroundFormat = Literal["mp4", "webm", "mov"]
ALPHA_FORMATS = ("webm", "mov")
"""Containers of a `transparent` output: VP9 with alpha (WebM) or ProRes 4444 (MOV)."""
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


class ChromaMatte(ChromaKey, tag="chroma", tag_field="mode", forbid_unknown_fields=True, kw_only=True):
    """The subject is what is not the backdrop colour (the fields of `key`)."""


class PersonMatte(msgspec.Struct, tag="person", tag_field="mode", forbid_unknown_fields=True, kw_only=True):
    """The subject is the people in the picture, found by the server's matting model."""

    smoothing: Annotated[float, Meta(ge=0, le=0.95)] = 0.5
    """Weight of the previous frames in each frame's mask (an exponential moving average): higher is
    steadier edges, lower follows fast motion more closely."""


Point = Annotated[list[Annotated[float, Meta(ge=0)]], Meta(min_length=2, max_length=2)]
Box = Annotated[list[Annotated[float, Meta(ge=0)]], Meta(min_length=4, max_length=4)]


class ObjectMatte(msgspec.Struct, tag="object", tag_field="mode", forbid_unknown_fields=True, kw_only=True):
    """The subject is the object the prompt points at on one frame, tracked through the whole video by
    the server's segmentation model (SAM 2 class). At least one of `points` or `box`."""

    points: Annotated[list[Point], Meta(max_length=16)] = msgspec.field(default_factory=list)
    """Points [x, y] on the object, in the input's pixels."""
    box: Box | None = None
    """[x0, y0, x1, y1] around the object, in the input's pixels."""
    frame_s: Annotated[float, Meta(ge=0)] = 0.0
    """Time of the frame the prompt is on; the object is tracked forwards and backwards from it."""


Matte = ChromaMatte | PersonMatte | ObjectMatte


class Replacement(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Exactly one of `color`, `image`, `video`, `blur` or `transparent`."""

    color: str | None = None
    image: InputRef | None = None
    video: InputRef | None = None
    """Looped when shorter than the input, cut when longer."""
    blur: Annotated[float, Meta(gt=0, le=200)] | None = None
    """Portrait mode: the input itself, blurred (Gaussian, this sigma in pixels), behind the subject."""
    transparent: bool = False
    """No background: the output keeps the subject with an alpha channel (`format` webm or mov)."""
    fit: Fit = "cover"
    """How an image or video is fitted to the input's frame: `cover` fills and crops, `contain`
    fits inside with black bars, `stretch` ignores the aspect ratio."""


class BackgroundRequest(CommonOptions, forbid_unknown_fields=True, kw_only=True):
    """Replace a video's background (a chroma-key backdrop, or found by a model around people or a
    prompted object) by a colour, an image, a video or the blurred input, or make it transparent."""

    input: InputRef
    matte: Matte | None = None
    """How the subject is separated; none: the chroma key of `key`."""
    key: ChromaKey = msgspec.field(default_factory=ChromaKey)
    """The chroma key when `matte` is not given (the older spelling of `matte` `chroma`)."""
    replacement: Replacement
    format: BackgroundFormat = "mp4"
    """mp4 (H.264) or webm (VP9); a transparent output: webm (VP9 with alpha) or mov (ProRes 4444)."""
    quality: Quality = "medium"


class MattedBackground(BackgroundRequest, forbid_unknown_fields=True, kw_only=True):
    """The request with the mask video the worker computed (never sent by a client)."""

    mask_path: str
    mask_frames: int


MASK_STAND_IN = "mask.y4m"
"""The mask video's name while planning at submission (the worker computes the real one)."""


def chroma_key(req: BackgroundRequest) -> ChromaKey | None:
    """The chroma key of the request, or None when a model finds the subject."""
    if req.matte is None:
        return req.key
    return req.matte if isinstance(req.matte, ChromaMatte) else None


def background_inputs(req: BackgroundRequest) -> list[InputRef]:
    """The input, then the replacement image or video if there is one."""
    bg = req.replacement.image or req.replacement.video
    return [req.input, bg] if bg is not None else [req.input]


def check_background(req: BackgroundRequest, settings: Settings) -> None:
    """Checks that need no probe: one replacement, valid colours, a prompt, the format, the model."""
    kind = _replacement_kind(req.replacement)
    key = chroma_key(req)
    if key is not None and key.color is not None:
        parse_color(key.color, "matte.color" if req.matte is not None else "key.color")
    if req.replacement.color is not None:
        parse_color(req.replacement.color, "replacement.color")
    if kind == "transparent" and req.format not in ALPHA_FORMATS:
        raise InvalidRequest(
            "a transparent output needs a format with alpha: webm (VP9) or mov (ProRes 4444)",
            code="unsupported_option",
            errors=[{"field": "format", "message": "webm or mov for replacement.transparent"}],
        )
    if req.format == "mov" and kind != "transparent":
        raise InvalidRequest(
            "mov (ProRes 4444) is the format of transparent outputs only",
            code="unsupported_option",
            errors=[{"field": "format", "message": "mp4 or webm unless replacement.transparent"}],
        )
    if isinstance(req.matte, ObjectMatte):
        if not req.matte.points and req.matte.box is None:
            raise InvalidRequest(
                "an object matte needs a prompt: points on the object or a box around it",
                errors=[{"field": "matte.points", "message": "give points or a box"}],
            )
        box = req.matte.box
        if box is not None and (box[2] <= box[0] or box[3] <= box[1]):
            raise InvalidRequest(
                "matte.box must be [x0, y0, x1, y1] with x1 > x0 and y1 > y0",
                errors=[{"field": "matte.box", "message": "x1 > x0 and y1 > y0"}],
            )
    if isinstance(req.matte, PersonMatte | ObjectMatte):
        model_kind = "matting" if isinstance(req.matte, PersonMatte) else "segmentation"
        require_vision_weights(settings, pick_vision_model(settings, model_kind, "matte.mode"), "matte.mode")


def check_prompt(matte: ObjectMatte, media: MediaInfo) -> int:
    """The prompt's frame index; 422 naming the field for a point, box or time outside the input."""
    assert media.video is not None
    width, height = media.video.width, media.video.height
    for i, (x, y) in enumerate(matte.points):
        if x >= width or y >= height:
            raise InvalidRequest(
                f"matte.points[{i}] ({x:g}, {y:g}) is outside the {width}x{height} frame",
                errors=[{"field": f"matte.points[{i}]", "message": f"x < {width} and y < {height}"}],
            )
    if matte.box is not None and (matte.box[2] > width or matte.box[3] > height):
        raise InvalidRequest(
            f"matte.box reaches outside the {width}x{height} frame",
            errors=[{"field": "matte.box", "message": f"x1 <= {width} and y1 <= {height}"}],
        )
    fps = media.video.fps or DEFAULT_FPS
    frames = max(1, round(media.duration_s * fps))
    frame = int(matte.frame_s * fps + 1e-6)
    if frame >= frames:
        raise InvalidRequest(
            f"matte.frame_s {matte.frame_s:g} is past the end of the input ({media.duration_s:g} s)",
            errors=[{"field": "matte.frame_s", "message": f"below {media.duration_s:g}"}],
        )
    return frame


def plan_background(req: BackgroundRequest, sources: Sequence[Source], out_dir: Path, settings: Settings) -> Plan:
    check_background(req, settings)
    media = sources[0].media
    if media.video is None or media.is_image:
        raise InvalidRequest(
            "the input has no video to key",
            code="input_not_video",
            errors=[{"field": "input", "message": "a video is needed (an image or audio-only file was given)"}],
        )
    if isinstance(req.matte, ObjectMatte):
        check_prompt(req.matte, media)
    width, height = even(media.video.width), even(media.video.height)
    _check_limits(width, height, media.duration_s, settings)
    fps = media.video.fps or DEFAULT_FPS
    kind = _replacement_kind(req.replacement)

    args = input_args(sources[0].path)
    if kind in ("image", "video"):
        bg_source = sources[1]
        _check_replacement_media(kind, bg_source.media)
        if kind == "video":
            # Looped as often as needed and cut at the input's length by the demuxer itself.
            args += ["-stream_loop", "-1", "-t", f"{media.duration_s:.6f}", *input_args(bg_source.path)]
        else:
            args += input_args(bg_source.path)
    key = chroma_key(req)
    if key is not None:
        fg = f"[src]{_key_chain(key, media, width, height)}[fg]"
    else:
        # The mask video: one gray frame per input frame at a reduced size, scaled up to the frame.
        mask_path = Path(req.mask_path) if isinstance(req, MattedBackground) else out_dir.parent / MASK_STAND_IN
        mask_input = len(sources)
        args += input_args(mask_path)
        fg = (
            f"[{mask_input}:v:0]setpts=PTS-STARTPTS,scale={width}:{height}:flags=bicubic,format=gray[mask];"
            f"[src]{_size_chain(media, width, height)},format=rgba[cut];[cut][mask]alphamerge[fg]"
        )
    if kind == "blur":
        src = "[0:v:0]setpts=PTS-STARTPTS,split=2[src][blur_in]"
        bg = f"[blur_in]{_size_chain(media, width, height)},gblur=sigma={req.replacement.blur:g}"
    else:
        src = "[0:v:0]setpts=PTS-STARTPTS[src]"
        bg = _background(req.replacement, kind, width, height, fps)
    poster_scale = f"scale=-2:'min(ih,{POSTER_MAX_HEIGHT})':force_divisible_by=2"
    if kind == "transparent":
        alpha_fmt = "yuva420p" if req.format == "webm" else "yuva444p10le"
        parts = [src, fg, f"[fg]format={alpha_fmt},split=2[v][p]"]
    else:
        # The input decides the length: the background is endless or as long as the input.
        parts = [
            src,
            fg,
            f"{bg},format=yuv420p[bg]",
            "[bg][fg]overlay=shortest=1:eof_action=endall,format=yuv420p,split=2[v][p]",
        ]
    graph = ";".join([*parts, f"[p]{poster_scale},format=yuv420p[poster]"])
    out = out_dir / f"output.{req.format}"
    poster = out_dir / "poster.jpg"
    encode = _encode_args(req.format, req.quality, transparent=kind == "transparent")
    video_encode = encode[: encode.index("-c:a")]
    args += ["-filter_complex", graph, "-map", "[v]", "-map", "0:a:0?", *video_encode]
    args += _audio_args(req.format, media, encode)
    args += _container_flags(req.format, out)
    args += ["-map", "[poster]", "-frames:v", "1", "-q:v", "4", "-f", "image2", "-update", "1", str(poster)]
    codec = "prores" if req.format == "mov" else OUTPUT_CODECS[req.format][0]
    expect = Expected(size=(width, height), video_codec=codec)
    content_type = MOV_CONTENT_TYPE if req.format == "mov" else CONTENT_TYPES[req.format]
    return Plan(args, out, poster, content_type, media.duration_s, expect=expect)


MOV_CONTENT_TYPE = "video/quicktime"


def _background(rep: Replacement, kind: str, width: int, height: int, fps: float) -> str:
    """The filter chain (without its output label) of a colour, image or video background."""
    if kind == "color":
        color = parse_color(rep.color or "", "replacement.color")
        # A lavfi source inside the graph, not an input: nothing is read from a file.
        return f"color=c=0x{color.hex}:s={width}x{height}:r={fps:g}"
    if kind == "video":
        return f"[1:v:0]{_fit(rep.fit, width, height)},fps={fps:g},setpts=PTS-STARTPTS"
    # One decoded frame, fitted once, then repeated at the input's frame rate.
    return f"[1:v:0]{_fit(rep.fit, width, height)},loop=loop=-1:size=1,fps={fps:g},setpts=N/({fps:g}*TB)"


def _encode_args(container: BackgroundFormat, quality: Quality, *, transparent: bool) -> list[str]:
    """The shared encoder ladder; with alpha: VP9 yuva420p or ProRes 4444 (10-bit, 16-bit alpha)."""
    if container == "mov":
        return [
            "-c:v", "prores_ks", "-profile:v", "4444", "-pix_fmt", "yuva444p10le", "-alpha_bits", "16",
            "-c:a", "aac", "-b:a", AUDIO_BITRATE[quality],
        ]  # fmt: skip
    encode = encode_args(container, quality)
    if transparent:
        # libvpx-vp9 encodes alpha as a second stream in the WebM blocks (alpha_mode=1) from yuva420p;
        # alt-ref frames are off because libvpx cannot use them with alpha.
        at = encode.index("-pix_fmt")
        encode = [*encode[:at], "-pix_fmt", "yuva420p", "-auto-alt-ref", "0", *encode[at + 2 :]]
    return encode


def _container_flags(container: BackgroundFormat, out: Path) -> list[str]:
    if container == "mov":
        return ["-movflags", "+faststart", "-f", "mov", "-map_metadata", "-1", str(out)]
    return container_flags(container, out)


def _size_chain(media: MediaInfo, width: int, height: int) -> str:
    assert media.video is not None
    scale = f"scale={width}:{height}," if (media.video.width, media.video.height) != (width, height) else ""
    return f"{scale}setsar=1"


ReplacementKind = Literal["color", "image", "video", "blur", "transparent"]


def _replacement_kind(rep: Replacement) -> ReplacementKind:
    given = [name for name in ("color", "image", "video", "blur") if getattr(rep, name) is not None]
    if rep.transparent:
        given.append("transparent")
    if len(given) != 1:
        raise InvalidRequest(
            "replacement needs exactly one of color, image, video, blur or transparent",
            errors=[
                {
                    "field": "replacement",
                    "message": "exactly one of color, image, video, blur, transparent "
                    f"(given: {', '.join(given) or 'none'})",
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
    parts = [_size_chain(media, width, height)]
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


def _audio_args(container: BackgroundFormat, media: MediaInfo, encode: list[str]) -> list[str]:
    """Copy the input's audio when the container can hold its codec, else encode it."""
    copyable = COPYABLE["mp4"][1] if container == "mov" else COPYABLE[container][1]
    if media.audio is not None and media.audio.codec in copyable:
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
