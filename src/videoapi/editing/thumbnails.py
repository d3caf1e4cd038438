"""edit/thumbnails: still images from a video (a poster, a contact sheet, or frames at given times).

One ffmpeg pass makes every image, exact to the frame. Frames far apart are each seeked to (ten
frames of a two-hour film cost ten short decodes, not a decode of the film); frames close together
come from one decode pass (see `grab`).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Literal, NoReturn

from msgspec import Meta

from videoapi.assets.schemas import InputRef
from videoapi.editing.plan import even
from videoapi.editing.schemas import Dimension, Seconds
from videoapi.editing.source import Source
from videoapi.errors import InvalidRequest
from videoapi.media.filters import filter_quote
from videoapi.media.fonts import resolve_font
from videoapi.media.plan import Plan
from videoapi.media.safety import input_args
from videoapi.outputs.schemas import CommonOptions
from videoapi.settings import Settings

MAX_IMAGES = 100
MAX_GRID = 10
POSTER_CANDIDATES = 10
SEEK_SPACING_S = 10.0
"""Seek to each frame when the wanted frames are on average further apart than this: x264's default
keyframe interval is 250 frames (10 s at 25 fps), so a seek then decodes less than one decode pass."""
"""Frames, evenly spaced, among which the `thumbnail` filter picks the most representative."""
MAX_DECODERS = POSTER_CANDIDATES
"""Inputs (each a decoder holding its reference frames) one thumbnails pass opens at most."""
DEFAULT_GRID = 3
DEFAULT_TILE_WIDTH = 320
ImageFormat = Literal["jpeg", "png", "webp"]
IMAGE_TYPES: dict[str, tuple[str, str]] = {
    "jpeg": ("jpg", "image/jpeg"),
    "png": ("png", "image/png"),
    "webp": ("webp", "image/webp"),
}
# The options that belong to each mode; any other one given is a 422.
_OPTIONS = {
    "poster": {"time_s"},
    "frames": {"times_s", "count"},
    "contact_sheet": {"rows", "columns", "timestamps"},
}
ENCODERS: dict[str, list[str]] = {
    "jpeg": ["-c:v", "mjpeg", "-q:v", "3"],
    "png": ["-c:v", "png"],
    "webp": ["-c:v", "libwebp", "-quality", "85"],
}


class ThumbnailsRequest(CommonOptions, forbid_unknown_fields=True, kw_only=True):
    """Still images of a video: `poster` (one frame: the most representative one, or the frame at
    `time_s`), `contact_sheet` (`rows` x `columns` tiles evenly spaced over the video, optionally
    labelled with their time) or `frames` (one image per time in `times_s`, or `count` evenly
    spaced). The first image is the task's result; with several, `result.outputs` lists them all."""

    input: InputRef
    mode: Literal["poster", "contact_sheet", "frames"] = "poster"
    time_s: Seconds | None = None
    """poster: the frame shown at this time; default the most representative frame."""
    times_s: Annotated[list[Seconds], Meta(min_length=1, max_length=MAX_IMAGES)] | None = None
    """frames: one image per time, in this order."""
    count: Annotated[int, Meta(ge=1, le=MAX_IMAGES)] | None = None
    """frames: this many images, evenly spaced (the middle of equal parts of the video)."""
    rows: Annotated[int, Meta(ge=1, le=MAX_GRID)] | None = None
    """contact_sheet: default 3."""
    columns: Annotated[int, Meta(ge=1, le=MAX_GRID)] | None = None
    """contact_sheet: default 3."""
    timestamps: bool = False
    """contact_sheet: print each tile's time in its corner."""
    format: ImageFormat = "jpeg"
    width: Dimension | None = None
    """Width of each image (of each tile of a contact sheet); the height keeps the aspect ratio.
    Default: the video's width (320 for a tile)."""


def check_thumbnails(req: ThumbnailsRequest, settings: Settings) -> None:
    """The checks that need no probe: which options go with which mode."""
    allowed = _OPTIONS[req.mode]
    given = {
        "time_s": req.time_s is not None,
        "times_s": req.times_s is not None,
        "count": req.count is not None,
        "rows": req.rows is not None,
        "columns": req.columns is not None,
        "timestamps": req.timestamps,
    }
    for name, present in given.items():
        if present and name not in allowed:
            owner = next(mode for mode, names in _OPTIONS.items() if name in names)
            _invalid(name, f"`{name}` applies to mode {owner}, not {req.mode}")
    if req.mode == "frames" and (req.times_s is None) == (req.count is None):
        _invalid("times_s", "mode frames needs exactly one of times_s or count")
    if req.width is not None and req.width > settings.editing.max_output_width:
        _limit("width", f"width {req.width} is over {settings.editing.max_output_width} (editing.max_output_width)")


def plan_thumbnails(req: ThumbnailsRequest, sources: Sequence[Source], out_dir: Path, settings: Settings) -> Plan:
    check_thumbnails(req, settings)
    src, media = sources[0].path, sources[0].media
    if media.video is None or media.is_image:
        raise InvalidRequest(
            "the input has no video to take thumbnails from",
            code="input_not_video",
            errors=[{"field": "input", "message": "the input has no video to take thumbnails from; give a video"}],
        )
    ext, content_type = IMAGE_TYPES[req.format]
    fps = media.video.fps or 25.0
    # The last frame starts one frame before the end: a later time shows that frame.
    last_s = max(0.0, media.duration_s - 1 / fps)

    def at(t: float) -> float:
        return min(t, last_s)

    if req.mode == "contact_sheet":
        rows, columns = req.rows or DEFAULT_GRID, req.columns or DEFAULT_GRID
        times = evenly_spaced(rows * columns, media.duration_s)
        tile_w = even(req.width or min(DEFAULT_TILE_WIDTH, media.video.width))
        tile_h = max(2, even(round(tile_w * media.video.height / media.video.width)))
        _check_size(columns * tile_w, rows * tile_h, settings, width_field="columns", height_field="rows")
        inputs, chains, heads = grab(src, [at(t) for t in times])
        files: dict[Path, str] = {}
        font = resolve_font(None, extra_dir=settings.editing.fonts_dir) if req.timestamps else None
        for i, (head, t) in enumerate(zip(heads, times, strict=True)):
            chain = f"{head},scale={tile_w}:{tile_h},setsar=1"
            if font is not None:
                label = out_dir / f"label-{i:03d}.txt"
                files[label] = clock(t)
                chain += (
                    f",drawtext=fontfile={filter_quote(str(font.path))}:textfile={filter_quote(str(label))}"
                    f":expansion=none:fontsize={max(10, tile_h // 10)}:fontcolor=white:box=1"
                    ":boxcolor=0x000000@0.6:boxborderw=3:x=4:y=h-th-6"
                )
            chains.append(f"{chain}[t{i}]")
        if len(times) > 1:
            tiles = "".join(f"[t{i}]" for i in range(len(times)))
            chains.append(f"{tiles}xstack=inputs={len(times)}:grid={columns}x{rows}[o0]")
        else:
            chains[-1] = chains[-1].removesuffix("[t0]") + "[o0]"
        out = out_dir / f"contact-sheet.{ext}"
        return _plan(inputs, chains, [out], req.format, content_type, files)

    width = even(req.width or media.video.width)
    height = max(2, even(round(width * media.video.height / media.video.width)))
    _check_size(width, height, settings, width_field="width", height_field="width")
    scale = f"scale={width}:-2"
    if req.mode == "poster" and req.time_s is None:
        count = max(1, min(POSTER_CANDIDATES, int(media.duration_s * fps)))
        inputs, chains, heads = grab(src, [at(t) for t in evenly_spaced(count, media.duration_s)])
        chains += [f"{head}[c{i}]" for i, head in enumerate(heads)]
        candidates = "".join(f"[c{i}]" for i in range(count))
        chains.append(f"{candidates}concat=n={count}:v=1:a=0,thumbnail=n={count},{scale}[o0]")
        return _plan(inputs, chains, [out_dir / f"thumbnail.{ext}"], req.format, content_type)
    if req.mode == "poster":
        assert req.time_s is not None
        times, fields = [req.time_s], ["time_s"]
        outs = [out_dir / f"thumbnail.{ext}"]
    elif req.times_s is not None:
        times, fields = list(req.times_s), [f"times_s[{i}]" for i in range(len(req.times_s))]
        outs = [out_dir / f"frame-{i:03d}.{ext}" for i in range(len(times))]
    else:
        assert req.count is not None
        times, fields = evenly_spaced(req.count, media.duration_s), []
        outs = [out_dir / f"frame-{i:03d}.{ext}" for i in range(len(times))]
    for t, field in zip(times, fields, strict=False):
        if t > media.duration_s + 1e-3:
            raise InvalidRequest(
                f"{field} ({t:g} s) is past the end of the input ({media.duration_s:.3f} s)",
                code="input_out_of_range",
                errors=[
                    {"field": field, "message": f"{t:g} s is past the end; the input lasts {media.duration_s:.3f} s"}
                ],
            )
    inputs, chains, heads = grab(src, [at(t) for t in times])
    chains += [f"{head},{scale}[o{i}]" for i, head in enumerate(heads)]
    return _plan(inputs, chains, outs, req.format, content_type)


def grab(src: Path, times: list[float]) -> tuple[list[str], list[str], list[str]]:
    """How to get the first frame at or after each time: (input args, graph chains, one chain head per time).

    Far-apart frames (a long video) are each their own input opened with `-ss`: ffmpeg seeks to
    the keyframe before the time and decodes only from there. Past `MAX_DECODERS` frames, runs of
    nearby times share an input (see `seek_groups`). Close frames come from one decode
    of the video up to the last of them, split into one branch per time, since seeking would decode
    the same keyframe intervals again for every frame.
    """
    if max(times) > SEEK_SPACING_S * len(times):
        inputs: list[str] = []
        chains: list[str] = []
        heads = [""] * len(times)
        for k, group in enumerate(seek_groups(times, MAX_DECODERS)):
            start = times[group[0]]
            # One decoder thread per input: each decodes a few frames, and the inputs run in parallel.
            inputs += ["-threads", "1", "-ss", f"{start:.6f}", *input_args(src)]
            if len(group) == 1:
                heads[group[0]] = f"[{k}:v:0]trim=end_frame=1,setpts=PTS-STARTPTS"
                continue
            # After `-ss`, the input's timestamps start at 0 at `start`.
            chains.append(f"[{k}:v:0]split={len(group)}" + "".join(f"[g{k}_{j}]" for j in range(len(group))))
            for j, index in enumerate(group):
                heads[index] = f"[g{k}_{j}]trim=start={times[index] - start:.6f},trim=end_frame=1,setpts=PTS-STARTPTS"
        return inputs, chains, heads
    chains = [f"[0:v:0]split={len(times)}" + "".join(f"[s{i}]" for i in range(len(times)))]
    heads = [f"[s{i}]trim=start={t:.6f},trim=end_frame=1,setpts=PTS-STARTPTS" for i, t in enumerate(times)]
    return input_args(src), chains, heads


def seek_groups(times: list[float], max_groups: int) -> list[list[int]]:
    """Indices of `times` in at most `max_groups` runs of consecutive times, cut at the widest gaps.

    Each run is one input: a seek to its first time, then one decode up to its last, so that the
    number of decoders open at once stays bounded however many frames are asked for. Cutting at
    the widest gaps decodes the least video in total.
    """
    order = sorted(range(len(times)), key=lambda i: times[i])
    share = len(order) / max_groups

    def rank(n: int) -> tuple[float, float]:
        # Widest gaps first (the least decoding in all); among equal gaps, the cuts nearest equal shares.
        return (-round(times[order[n]] - times[order[n - 1]], 6), abs(n / share - round(n / share)))

    cuts = sorted(sorted(range(1, len(order)), key=rank)[: max_groups - 1])
    bounds = [0, *cuts, len(order)]
    return [order[a:b] for a, b in pairwise(bounds)]


def evenly_spaced(count: int, duration_s: float) -> list[float]:
    """The middle of each of `count` equal parts of the video: never the black first frame, never past the end."""
    return [duration_s * (i + 0.5) / count for i in range(count)]


def clock(seconds: float) -> str:
    """A label for a time: `M:SS.s` under an hour, `H:MM:SS` beyond."""
    if seconds >= 3600:
        whole = int(seconds)
        return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}"


def _plan(
    inputs: list[str],
    chains: list[str],
    outs: list[Path],
    image_format: str,
    content_type: str,
    files: dict[Path, str] | None = None,
) -> Plan:
    args = [*inputs, "-filter_complex", ";".join(chains)]
    for i, out in enumerate(outs):
        args += ["-map", f"[o{i}]", *ENCODERS[image_format], "-frames:v", "1", "-update", "1", "-f", "image2", str(out)]
    return Plan(
        args,
        outs[0],
        None,
        content_type,
        0.0,
        files=files or {},
        extra_outputs=[(out, content_type) for out in outs[1:]],
    )


def _check_size(width: int, height: int, settings: Settings, *, width_field: str, height_field: str) -> None:
    limits = settings.editing
    if width > limits.max_output_width:
        _limit(width_field, f"the image would be {width} px wide; the limit is {limits.max_output_width} "
               "(editing.max_output_width)")  # fmt: skip
    if height > limits.max_output_height:
        _limit(height_field, f"the image would be {height} px high; the limit is {limits.max_output_height} "
               "(editing.max_output_height)")  # fmt: skip
    if width * height > limits.max_output_pixels:
        _limit(width_field, f"the image would have {width * height} pixels; the limit is {limits.max_output_pixels} "
               "(editing.max_output_pixels)")  # fmt: skip


def _invalid(field: str, message: str) -> NoReturn:
    raise InvalidRequest(message, code="invalid_request", errors=[{"field": field, "message": message}])


def _limit(field: str, message: str) -> NoReturn:
    raise InvalidRequest(message, code="limit_exceeded", errors=[{"field": field, "message": message}])
