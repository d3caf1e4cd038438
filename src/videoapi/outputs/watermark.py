"""Visible watermarks: a text or a logo drawn on every output, in the same ffmpeg pass.

A request may ask for one (`watermark`), an owner may have a default one, and trial owners always
get the operator's trial watermark (`watermark.trial_text`). The planners stay unaware of it:
`apply_watermark` rewrites a finished plan, appending the overlay to the filter that makes the main
output's video (its `-vf` chain, or the `-filter_complex` label it maps), or adding one where the
video was mapped straight from the input. A stream-copied video is re-encoded, since nothing can be
drawn on copied packets. User text reaches ffmpeg through a file (`drawtext textfile=`), as elsewhere.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta

from videoapi.assets.schemas import InputRef
from videoapi.errors import InvalidRequest
from videoapi.media.colors import parse_color
from videoapi.media.encoding import encode_args
from videoapi.media.filters import ANCHORS, Anchor, escape_value, num
from videoapi.media.fonts import resolve_font
from videoapi.media.safety import container_options


class VisibleWatermark(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A text or a logo over the whole output."""

    text: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    image: InputRef | None = None
    """A logo (PNG with transparency works best); give `text` or `image`."""
    position: Anchor = "bottom-right"
    opacity: Annotated[float, Meta(ge=0.05, le=1.0)] = 0.6
    margin: Annotated[float, Meta(ge=0.0, le=0.2)] = 0.03
    """Distance from the frame's edges, as a fraction of its short side."""
    size: Annotated[float, Meta(gt=0.0, le=0.5)] | None = None
    """Text height as a fraction of the frame's height (0.05), or logo width as a fraction of its width (0.15)."""
    font: Annotated[str, Meta(max_length=100)] | None = None
    color: Annotated[str, Meta(max_length=32)] = "white"


def check_watermark(wm: VisibleWatermark, field: str = "watermark", fonts_dir: str | None = None) -> None:
    if (wm.text is None) == (wm.image is None):
        raise InvalidRequest(
            "a watermark is a `text` or an `image`",
            errors=[{"field": field, "message": "give exactly one of text or image"}],
        )
    if wm.text is not None:
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in wm.text):
            raise InvalidRequest(
                "watermark text has control characters",
                errors=[{"field": f"{field}.text", "message": "control characters are not allowed"}],
            )
        resolve_font(wm.font, wm.text, field=f"{field}.font", extra_dir=fonts_dir)
    parse_color(wm.color, f"{field}.color")


def apply_watermark(
    plan_args: list[str], output: Path, files: dict[Path, str], wm: VisibleWatermark, logo: Path | None,
    fonts_dir: str | None = None, previous: tuple[Path, ...] = (),
) -> tuple[list[str], dict[Path, str]]:  # fmt: skip
    """The plan's ffmpeg arguments and files with `wm` drawn on the main output's video."""
    files = dict(files)
    fragment = _fragment(wm, logo, output.parent, files, fonts_dir)
    args = list(plan_args)
    end = args.index(str(output))
    start = _output_options_start(args, end, tuple(str(p) for p in previous))
    opts = args[start:end]
    container = "webm" if output.suffix == ".webm" else "mp4"
    opts = _without_video_copy(opts, container)
    if "-vf" in opts:
        i = opts.index("-vf")
        opts[i + 1] = f"[in]{opts[i + 1]}[wm_base];{fragment('wm_base', 'out')}"
    elif (label := _mapped_label(opts)) is not None:
        graph_i = _graph_index(args[:start])
        new_label = f"{label}_wm"
        if args[graph_i] == "-/filter_complex":
            path = Path(args[graph_i + 1])
            files[path] = files[path] + ";" + fragment(label, new_label)
        else:
            args[graph_i + 1] = args[graph_i + 1] + ";" + fragment(label, new_label)
        opts[opts.index(f"[{label}]")] = f"[{new_label}]"
    else:
        opts = ["-vf", fragment("in", "out"), *opts]
    return [*args[:start], *opts, *args[end:]], files


def _fragment(wm: VisibleWatermark, logo: Path | None, work: Path, files: dict[Path, str], fonts_dir: str | None):  # type: ignore[no-untyped-def]
    ax, ay = ANCHORS[wm.position]
    margin = f"min(W,H)*{num(wm.margin)}"

    def place(free_x: str, free_y: str) -> tuple[str, str]:
        return (f"{num(ax)}*({free_x}-2*{margin})+{margin}", f"{num(ay)}*({free_y}-2*{margin})+{margin}")

    if wm.text is not None:
        text_file = work / "watermark.txt"
        files[text_file] = wm.text
        font = resolve_font(wm.font, wm.text, extra_dir=fonts_dir)
        x, y = place("W-tw", "H-th")
        color = parse_color(wm.color)
        opts = [
            f"fontfile={escape_value(str(font.path))}",
            f"textfile={escape_value(str(text_file))}",
            "expansion=none",
            f"fontsize={escape_value(f'h*{num(wm.size or 0.05)}')}",
            f"fontcolor=0x{color.hex}@{num(wm.opacity * color.a / 255)}",
            f"shadowcolor=0x000000@{num(wm.opacity * 0.5)}",
            "shadowx=2",
            "shadowy=2",
            f"x={escape_value(x.replace('W', 'w').replace('H', 'h').replace('tw', 'text_w').replace('th', 'text_h'))}",
            f"y={escape_value(y.replace('W', 'w').replace('H', 'h').replace('tw', 'text_w').replace('th', 'text_h'))}",
        ]
        return lambda src, dst: f"[{src}]drawtext={':'.join(opts)}[{dst}]"
    assert logo is not None
    x, y = place("main_w-overlay_w", "main_h-overlay_h")
    x = x.replace("W", "main_w").replace("H", "main_h")
    y = y.replace("W", "main_w").replace("H", "main_h")
    size = num(wm.size or 0.15)

    # `movie=` opens its file with a demuxer of its own: it gets the same whitelists as every ffmpeg input.
    whitelists = ":".join(f"{name}={value}" for name, value in container_options().items())

    def logo_fragment(src: str, dst: str) -> str:
        # Labels are named after `dst`, so that several outputs of one graph can each get a logo.
        return (
            f"movie=filename={escape_value(str(logo))}:format_opts={escape_value(whitelists)},format=rgba,"
            f"colorchannelmixer=aa={num(wm.opacity)}[{dst}_logo];"
            f"[{src}]split[{dst}_main][{dst}_ref];"
            f"[{dst}_logo][{dst}_ref]scale=w=rw*{size}:h=-2[{dst}_scaled];"
            f"[{dst}_main][{dst}_scaled]overlay=x={escape_value(x)}:y={escape_value(y)}:format=auto,"
            f"format=yuv420p[{dst}]"
        )

    return logo_fragment


def _output_options_start(args: list[str], end: int, previous_outputs: tuple[str, ...] = ()) -> int:
    """Index where an output's options begin: after the last `-i INPUT` or earlier output path."""
    start = 0
    i = 0
    while i < end:
        if args[i] == "-i":
            start = i + 2
            i += 2
            continue
        if args[i] in previous_outputs:
            start = i + 1
        i += 1
    # Graphs given before the output belong to the global options; skip past them.
    for flag in ("-filter_complex", "-/filter_complex", "-filter_complex_script"):
        if flag in args[start:end]:
            start = args.index(flag, start) + 2
    return start


def _graph_index(head: list[str]) -> int:
    for i in range(len(head) - 1, -1, -1):
        if head[i] in ("-filter_complex", "-/filter_complex"):
            return i
    raise ValueError("a mapped filter label without a filter graph")


def _mapped_label(opts: list[str]) -> str | None:
    """The filter label of the output's video: its first `-map` (planners map the video first), when
    that is a `[label]`; None when the video comes straight from an input (`-map 0:v:0`)."""
    for i, opt in enumerate(opts[:-1]):
        if opt == "-map":
            target = opts[i + 1]
            return target[1:-1] if target.startswith("[") else None
    return None


def _without_video_copy(opts: list[str], container: str) -> list[str]:
    encode = encode_args(container, "medium")  # type: ignore[arg-type]
    video = encode[: encode.index("-c:a")]
    out = list(opts)
    for i, opt in enumerate(opts[:-1]):
        if opts[i + 1] != "copy":
            continue
        if opt in ("-c:v", "-vcodec", "-codec:v"):
            return [*out[:i], *video, *out[i + 2 :]]
        if opt in ("-c", "-codec"):
            return [*out[: i + 2], *video, *out[i + 2 :]]
    return out


def replace_plan(plan, wm: VisibleWatermark, logo: Path | None, fonts_dir: str | None = None):  # type: ignore[no-untyped-def]
    """A copy of an editing `Plan` with the watermark on every output (video, or each image)."""
    if plan.watermark_label is not None:
        return _watermark_at_label(plan, wm, logo, fonts_dir)
    args, files = plan.args, plan.files
    outputs = [plan.output, *(path for path, _ in plan.extra_outputs)]
    for n, output in enumerate(outputs):
        args, files = apply_watermark(args, output, files, wm, logo, fonts_dir, tuple(outputs[:n]))
    return dataclasses.replace(plan, args=args, files=files)


def _watermark_at_label(plan, wm: VisibleWatermark, logo: Path | None, fonts_dir: str | None):  # type: ignore[no-untyped-def]
    """The watermark drawn once where the plan's graph says (`Plan.watermark_label`), before its split."""
    label = plan.watermark_label
    i = plan.args.index("-filter_complex")
    marker = f"[{label}];[{label}]"
    assert marker in plan.args[i + 1], "a watermark label the graph does not have"
    files = dict(plan.files)
    # Its text file goes beside the poster, never inside an HLS folder that is stored whole.
    work = plan.poster.parent if plan.poster is not None else plan.output.parent
    fragment = _fragment(wm, logo, work, files, fonts_dir)(label, f"{label}_wm")
    graph = plan.args[i + 1].replace(marker, f"[{label}];{fragment};[{label}_wm]")
    return dataclasses.replace(plan, args=[*plan.args[: i + 1], graph, *plan.args[i + 2 :]], files=files)


def effective_watermark(
    requested: VisibleWatermark | None, trial: bool, default: dict | None, trial_text: str, trial_position: str,
    trial_opacity: float,
) -> VisibleWatermark | None:  # fmt: skip
    """What goes on the output: the trial mark for trial owners (whatever they ask), else the request's
    watermark, else the owner's default one."""
    if trial:
        return VisibleWatermark(text=trial_text, position=trial_position, opacity=trial_opacity)  # type: ignore[arg-type]
    if requested is not None:
        return requested
    return msgspec.convert(default, VisibleWatermark) if default else None


def vf_for_frames(
    wm: VisibleWatermark, logo: Path | None, work: Path, fonts_dir: str | None = None
) -> tuple[str, dict[Path, str]]:
    """A `-vf` graph drawing `wm`, for encoders fed raw frames (generation), and the files it reads."""
    files: dict[Path, str] = {}
    return _fragment(wm, logo, work, files, fonts_dir)("in", "out"), files
