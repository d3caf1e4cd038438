"""Classical video styles: one ffmpeg pass of filters, so a CPU-only install can restyle video.

Each style is a filter chain from planar RGB to planar RGB; `strength` below 1 mixes the styled
frames with the original. Nothing of the user's request reaches the filtergraph except numbers
we format ourselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from videoapi.errors import InvalidRequest
from videoapi.generation.kinds import KINDS
from videoapi.generation.plan import PRESET_SHORT_SIDE
from videoapi.generation.schemas import StyleTransferRequest
from videoapi.media.encoding import CONTENT_TYPES, OUTPUT_CODECS, POSTER_MAX_HEIGHT, container_flags, encode_args
from videoapi.media.plan import Expected, Plan
from videoapi.media.probe import MediaInfo
from videoapi.media.safety import input_args

_POSTERIZE = "lutrgb=r='trunc(val/48)*48+24':g='trunc(val/48)*48+24':b='trunc(val/48)*48+24'"

# name -> (description, filtergraph from [in] to [out]; both gbrp)
CLASSICAL_STYLES: dict[str, tuple[str, str]] = {
    "cartoon": (
        "flat posterised colours with dark outlines",
        "[in]split[c1][c2];"
        f"[c1]bilateral=sigmaS=6:sigmaR=0.2,bilateral=sigmaS=6:sigmaR=0.2,{_POSTERIZE},format=gbrp[flat];"
        "[c2]format=gray,gblur=sigma=1,edgedetect=low=0.08:high=0.2,negate,format=gbrp[lines];"
        "[flat][lines]blend=all_mode=multiply,format=gbrp[out]",
    ),
    "sketch": (
        "greyscale pencil sketch (colour dodge of the inverted blur)",
        "[in]format=gray,split[s1][s2];[s2]negate,gblur=sigma=5[blur];[blur][s1]blend=all_mode=dodge,format=gbrp[out]",
    ),
    "oil": (
        "oil-paint look: median-smoothed strokes, richer colour, crisp detail",
        "[in]median=radius=3,bilateral=sigmaS=5:sigmaR=0.25,eq=saturation=1.35:contrast=1.08,"
        "unsharp=5:5:0.8,format=gbrp[out]",
    ),
    "watercolor": (
        "watercolour look: soft washes, lighter and less contrasty",
        "[in]bilateral=sigmaS=10:sigmaR=0.3,median=radius=2,gblur=sigma=0.8,"
        "eq=saturation=1.15:brightness=0.05:contrast=0.88,format=gbrp[out]",
    ),
    "vintage": (
        "faded film: vintage curves, grain and vignette",
        "[in]curves=preset=vintage,noise=alls=10:allf=t,vignette=angle=PI/4,format=gbrp[out]",
    ),
    "noir": (
        "black-and-white film noir: high contrast and vignette",
        "[in]hue=s=0,eq=contrast=1.35:brightness=-0.03,vignette=angle=PI/4,format=gbrp[out]",
    ),
    "sepia": (
        "sepia-toned old photograph",
        "[in]colorchannelmixer=.393:.769:.189:0:.349:.686:.168:0:.272:.534:.131,format=gbrp[out]",
    ),
    "cinematic": (
        "teal-and-orange grade with a touch more contrast",
        "[in]colorbalance=rs=-0.08:bs=0.12:rh=0.1:gh=0.02:bh=-0.1,eq=contrast=1.1:saturation=1.15,format=gbrp[out]",
    ),
}


CLASSICAL_TASK_KIND = KINDS["style-transfer"].kind
CLASSICAL_PRICE = "classic"
"""The price sheet's `generation.per_second` entry of classical styles."""


def is_classical(style: str) -> bool:
    return style in CLASSICAL_STYLES


def check_classical(req: StyleTransferRequest) -> None:
    """Checks that need no probe of the input."""
    if req.model is not None:
        raise InvalidRequest(
            f"style {req.style!r} is a classical filter and uses no model; leave out `model`",
            code="unsupported_option",
            errors=[{"field": "model", "message": "classical styles run without a model"}],
        )
    for name in ("seed", "steps", "guidance_scale", "num_frames"):
        if getattr(req, name) is not None:
            raise InvalidRequest(
                f"`{name}` applies to diffusion styles only; {req.style!r} is a classical filter",
                code="unsupported_option",
                errors=[{"field": name, "message": "not used by classical styles"}],
            )


def plan_classical(req: StyleTransferRequest, media: MediaInfo, src: Path, out_dir: Path) -> Plan:
    """One ffmpeg pass: normalise, style, mix with the original by `strength`, encode, poster."""
    check_classical(req)
    if media.video is None or media.is_image:
        raise InvalidRequest("the input has no video to restyle", code="input_not_video")
    strength = 1.0 if req.strength is None else req.strength
    duration = media.duration_s if req.duration_s is None else min(req.duration_s, media.duration_s)
    prep = [_scale(req, media.video.width, media.video.height)]
    if req.fps is not None:
        prep.append(f"fps={req.fps:g}")
    prep += ["setsar=1", "format=gbrp"]
    style = CLASSICAL_STYLES[req.style][1].replace("[out]", "[styled]")
    head = f"[0:v:0]{','.join(prep)}"
    if strength >= 1.0:
        graph = f"{head}[in];{style};[styled]format=yuv420p"
    else:
        mix = f"blend=all_mode=normal:all_opacity={strength:.4f}"
        graph = f"{head},split[in][orig];{style};[styled][orig]{mix},format=yuv420p"
    # The poster is a second output of the same graph: the first styled frame.
    graph += f",split[v][pv];[pv]scale=-2:'min(ih,{POSTER_MAX_HEIGHT})':force_divisible_by=2[p]"
    out = out_dir / f"output.{req.format}"
    args = [*input_args(src)]
    if req.duration_s is not None:
        args += ["-t", f"{duration:.6f}"]
    args += ["-filter_complex", graph, "-map", "[v]", "-map", "0:a:0?"]
    args += encode_args(req.format, req.quality) + container_flags(req.format, out)
    poster = out_dir / "poster.jpg"
    args += ["-map", "[p]", "-frames:v", "1", "-q:v", "4", "-f", "image2", "-update", "1", str(poster)]
    size = classical_output_size(req, media.video.width, media.video.height)
    expect = Expected(size=size, video_codec=OUTPUT_CODECS[req.format][0])
    return Plan(args, out, poster, CONTENT_TYPES[req.format], duration, expect=expect)


def priced_model(kind: str, params: dict[str, Any]) -> str | None:
    """The model a task is priced as: `classic` for a classical style (it runs no model), else its model."""
    if kind == CLASSICAL_TASK_KIND and is_classical(str(params.get("style") or "")):
        return CLASSICAL_PRICE
    return params.get("model")


def classical_output_size(req: StyleTransferRequest, width: int, height: int) -> tuple[int, int]:
    """The frame `plan_classical` makes from a `width` x `height` input (what `_scale` asks ffmpeg for)."""

    def even(value: float) -> int:
        return max(2, int(value) - int(value) % 2)

    if req.width is not None or req.height is not None:
        w = even(req.width) if req.width else None
        h = even(req.height) if req.height else None
        if w is None:
            w = even(round(width * h / height / 2) * 2)  # type: ignore[operator]
        if h is None:
            h = even(round(height * w / width / 2) * 2)
        return w, h
    if req.resolution is not None:
        short = PRESET_SHORT_SIDE[req.resolution]
        if width >= height:
            return even(round(width * short / height / 2) * 2), short
        return short, even(round(height * short / width / 2) * 2)
    return even(width), even(height)


def _scale(req: StyleTransferRequest, width: int, height: int) -> str:
    if req.width is not None or req.height is not None:
        w = req.width - req.width % 2 if req.width else -2
        h = req.height - req.height % 2 if req.height else -2
        return f"scale={w}:{h}"
    if req.resolution is not None:
        short = PRESET_SHORT_SIDE[req.resolution]
        return f"scale=-2:{short}" if width >= height else f"scale={short}:-2"
    return "scale=trunc(iw/2)*2:trunc(ih/2)*2"
