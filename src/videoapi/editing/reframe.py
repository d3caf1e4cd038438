"""edit/reframe: crop a video to another aspect ratio around its subject, in one ffmpeg pass.

The worker first reads the video once, downscaled (`analysis.analyse`): shot cuts on every frame and
faces on a few frames a second. A virtual camera then follows the subject frame by frame: it stays
still while the subject is inside a dead zone around the centre of the crop, pans towards it no faster
than a bounded speed (so it never jitters nor whips), and jumps only at a cut, where the path starts
again. The crop offset of each frame goes to ffmpeg's `crop` through a `sendcmd` script (one
command where the offset changes), so the full-size frames are decoded, cropped and encoded by
ffmpeg alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from msgspec import Meta

from videoapi.assets.schemas import InputRef
from videoapi.editing.analysis import (
    Analysis,
    Box,
    SubjectDetector,
    analyse,
    analysis_timeout,
    person_boxes,
    require_video,
)
from videoapi.editing.plan import RESOLUTION_SHORT_SIDE
from videoapi.editing.source import Source
from videoapi.errors import InvalidRequest
from videoapi.media.encoding import CONTENT_TYPES, Format, Quality, container_flags, encode_args, poster_args
from videoapi.media.filters import filter_quote
from videoapi.media.plan import Expected, Plan
from videoapi.media.probe import MediaInfo
from videoapi.media.safety import input_args
from videoapi.outputs.schemas import CommonOptions
from videoapi.settings import Settings

Aspect = Literal["9:16", "1:1", "4:5", "16:9"]
Subject = Literal["auto", "face", "person", "center"]
Resolution = Literal["480p", "720p", "1080p", "1440p", "2160p"]
NO_SUBJECT = "no subject found: the crop stays at the centre"
SETTLE_FRACTION = 0.25
"""A moving camera stops once the subject is within this share of the dead zone from the crop's centre."""


class ReframeRequest(CommonOptions, forbid_unknown_fields=True, kw_only=True):
    """Crop a video to `aspect` around its subject: a virtual camera follows the biggest face with a
    dead zone and a bounded pan speed, and starts again at each cut. `subject` `center` crops the
    middle; when no subject is found the crop stays centred and `result.notes` says so."""

    input: InputRef
    aspect: Aspect = "9:16"
    subject: Subject = "auto"
    """`auto` and `face` follow the biggest frontal face; `person` follows the person the registry's
    `[defaults] matting` model sees (faces when that model is not installed, as `result.notes` says);
    `center` does no detection."""
    resolution: Resolution | None = None
    """Short side of the output (rounded so that the aspect stays exact); default the crop's own size."""
    smoothing: Annotated[float, Meta(ge=0, le=1)] = 0.5
    """0: a quick camera (pans up to the frame's width a second, small dead zone); 1: a calm one
    (a fifth of the width a second, wide dead zone)."""
    format: Format = "mp4"
    quality: Quality = "medium"


class TrackedReframe(ReframeRequest, forbid_unknown_fields=True, kw_only=True):
    """The request with the camera path the worker computed (never sent by a client)."""

    offsets: list[int]
    """Crop offset along the moving axis for each frame."""
    notes: list[str]
    camera: dict[str, Any]


@dataclass(frozen=True)
class Crop:
    width: int
    height: int
    axis: Literal["x", "y"]
    """The axis the crop window moves along."""
    span: int
    """Length of the input along that axis."""

    @property
    def extent(self) -> int:
        return self.width if self.axis == "x" else self.height


@dataclass(frozen=True)
class Camera:
    max_speed_px: float
    """Most the crop moves between two frames of one shot."""
    dead_zone_px: float
    """How far the subject may stray from the crop's centre before the camera moves."""
    gain: float
    """Share of the remaining distance covered per frame (under the speed bound)."""


def ratio(aspect: Aspect) -> tuple[int, int]:
    w, h = aspect.split(":")
    return int(w), int(h)


def crop_for(media: MediaInfo, aspect: Aspect) -> Crop:
    """The biggest window of exactly `aspect` (both sides even) that fits the input."""
    assert media.video is not None
    p, q = ratio(aspect)
    width, height = media.video.width, media.video.height
    # Sides p*k and q*k with k even are even and exactly p:q.
    k = min(width // p, height // q) // 2 * 2
    if k < 2:
        raise InvalidRequest(
            f"the input ({width}x{height}) is too small to crop to {aspect}",
            code="invalid_request",
            errors=[{"field": "aspect", "message": f"the input is too small for {aspect}"}],
        )
    cw, ch = p * k, q * k
    if width * q >= height * p:
        return Crop(cw, ch, "x", width)
    return Crop(cw, ch, "y", height)


def output_size(req: ReframeRequest, crop: Crop) -> tuple[int, int]:
    if req.resolution is None:
        return crop.width, crop.height
    p, q = ratio(req.aspect)
    k = max(2, round(RESOLUTION_SHORT_SIDE[req.resolution] / min(p, q) / 2) * 2)
    return p * k, q * k


def camera_for(smoothing: float, crop: Crop, fps: float) -> Camera:
    speed_per_s = crop.span * (1.0 - 0.8 * smoothing)
    return Camera(
        max_speed_px=speed_per_s / fps,
        dead_zone_px=crop.extent * (0.03 + 0.12 * smoothing),
        gain=min(1.0, (0.3 - 0.22 * smoothing) * 30.0 / fps),
    )


def camera_path(
    frames: int, targets: dict[int, float | None], cuts: Sequence[int], crop: Crop, camera: Camera
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Centre of the crop along its axis for each frame, and the shots (first, end) with no subject.

    `targets` maps sampled frames to the subject's centre (pixels along the axis; None: sampled, none
    seen). Within a shot the camera moves at most `camera.max_speed_px` a frame; a shot starts with the
    camera on its subject (or at the centre when the shot has none).
    """
    low, high = crop.extent / 2, crop.span - crop.extent / 2
    centre = crop.span / 2
    path = np.full(frames, centre, dtype=np.float64)
    empty: list[tuple[int, int]] = []
    bounds = [0, *[c for c in cuts if 0 < c < frames], frames]
    for first, end in pairwise(bounds):
        seen = sorted((n, t) for n, t in targets.items() if first <= n < end and t is not None)
        if not seen:
            empty.append((first, end))
            continue
        # Between samples the subject is taken to move in a straight line; before the first and after the
        # last it is where it was seen.
        target = np.interp(np.arange(first, end), [n for n, _ in seen], [t for _, t in seen])
        cam = float(np.clip(target[0], low, high))
        path[first] = cam
        moving = False
        for i in range(1, end - first):
            error = float(np.clip(target[i], low, high)) - cam
            # Hysteresis: start when the subject leaves the dead zone, stop once it is nearly centred,
            # so that a subject fidgeting inside the zone never moves the camera.
            if moving and abs(error) <= camera.dead_zone_px * SETTLE_FRACTION:
                moving = False
            elif not moving and abs(error) > camera.dead_zone_px:
                moving = True
            if moving:
                cam += float(np.clip(error * camera.gain, -camera.max_speed_px, camera.max_speed_px))
            path[first + i] = cam
    return path, empty


def track(
    req: ReframeRequest, media: MediaInfo, found: Analysis, detector: str = "faces", notes: Sequence[str] = ()
) -> TrackedReframe:
    """The request with the camera path through `found` (the worker's analysis, made by `detector`)."""
    assert media.video is not None
    fps = media.video.fps or 25.0
    crop = crop_for(media, req.aspect)
    camera = camera_for(req.smoothing, crop, fps)
    targets: dict[int, float | None] = {}
    for n, boxes in found.faces.items():
        if boxes:
            targets[n] = (boxes[0].cx if crop.axis == "x" else boxes[0].cy) * crop.span
        else:
            targets[n] = None
    frames = max(found.frames, 1)
    path, empty = camera_path(frames, targets, found.cuts, crop, camera)
    notes = list(notes)
    if req.subject != "center" and len(empty) == len(found.cuts) + 1:
        notes.append(NO_SUBJECT)
    elif req.subject != "center":
        notes += [
            f"no subject found from {a / fps:.2f} s to {b / fps:.2f} s: the crop stays at the centre there"
            for a, b in empty
        ]
    offsets = [round(c - crop.extent / 2) for c in path]
    fields = {name: getattr(req, name) for name in req.__struct_fields__}
    info = {
        "axis": crop.axis,
        "crop": [crop.width, crop.height],
        "max_speed_px_per_frame": round(camera.max_speed_px, 3),
        "dead_zone_px": round(camera.dead_zone_px, 3),
        "shots": len(found.cuts) + 1,
        "cuts_s": [round(c / fps, 6) for c in found.cuts],
        "detector": detector,
        "samples": len(found.faces),
        "samples_with_subject": sum(1 for t in targets.values() if t is not None),
    }
    return TrackedReframe(**fields, offsets=offsets, notes=notes, camera=info)


def sendcmd_script(offsets: Sequence[int], axis: str, fps: float) -> str:
    """One `crop` command where the offset changes, half a frame before the frame it is for."""
    lines = []
    previous = None
    for n, offset in enumerate(offsets):
        if offset != previous:
            lines.append(f"{max(0.0, (n - 0.5) / fps):.6f} crop@rf {axis} {offset};")
            previous = offset
    return "\n".join(lines) + "\n"


def plan_reframe(req: ReframeRequest, sources: Sequence[Source], out_dir: Path, settings: Settings) -> Plan:
    src, media = sources[0].path, sources[0].media
    require_video(media, "reframe")
    assert media.video is not None
    fps = media.video.fps or 25.0
    crop = crop_for(media, req.aspect)
    width, height = output_size(req, crop)
    limits = settings.editing
    if (
        width > limits.max_output_width
        or height > limits.max_output_height
        or width * height > limits.max_output_pixels
    ):
        message = f"the output would be {width}x{height}, over the output limits (editing.max_output_*)"
        raise InvalidRequest(message, code="limit_exceeded", errors=[{"field": "resolution", "message": message}])
    centre = (crop.span - crop.extent) // 2
    x0, y0 = (centre, (media.video.height - crop.height) // 2) if crop.axis == "x" else (
        (media.video.width - crop.width) // 2, centre)  # fmt: skip
    files: dict[Path, str] = {}
    chain = ["setpts=PTS-STARTPTS"]
    if isinstance(req, TrackedReframe) and len(set(req.offsets)) > 1:
        script = out_dir / "camera.cmd"
        files[script] = sendcmd_script(req.offsets, crop.axis, fps)
        chain.append(f"sendcmd=f={filter_quote(str(script))}")
        first = req.offsets[0]
        x0, y0 = (first, y0) if crop.axis == "x" else (x0, first)
    chain.append(f"crop@rf=w={crop.width}:h={crop.height}:x={x0}:y={y0}")
    if (width, height) != (crop.width, crop.height):
        chain.append(f"scale={width}:{height}:flags=lanczos")
    chain += ["setsar=1", "format=yuv420p"]
    out = out_dir / f"output.{req.format}"
    args = [*input_args(src), "-map", "0:v:0", "-map", "0:a:0?", "-vf", ",".join(chain)]
    args += encode_args(req.format, req.quality) + container_flags(req.format, out)
    poster = out_dir / "poster.jpg"
    expect = Expected(video_s=media.duration_s, size=(width, height), frame_s=max(0.04, 1.5 / fps))
    return Plan(
        [*args, *poster_args(poster)], out, poster, CONTENT_TYPES[req.format], media.duration_s, files=files,
        expect=expect,
    )  # fmt: skip


async def with_camera_path(
    req: ReframeRequest, sources: Sequence[Source], work_dir: Path, settings: Settings
) -> ReframeRequest:
    """The request with the camera path (the worker's analysis pass); `center` needs none."""
    if req.subject == "center":
        return req
    src, media = sources[0].path, sources[0].media
    require_video(media, "reframe")
    subjects, detector, notes = None, "faces", []
    if req.subject == "person":
        subjects, detector, missing = person_detector(settings)
        notes += [missing] if missing else []
    found = await analyse(
        src,
        media,
        faces=True,
        subjects=subjects,
        timeout_s=analysis_timeout(media),
        max_pixels=settings.limits.max_pixels,
    )
    return track(req, media, found, detector, notes)


def person_detector(settings: Settings) -> tuple[SubjectDetector | None, str, str | None]:
    """(detector, its name, a note) for `subject: person`: the registry's `[defaults] matting` model on
    each sampled frame, or none (faces then) with a note saying why and how to install it."""
    from videoapi.vision import pick_vision_model, vision_install_hint, vision_weights

    try:
        spec = pick_vision_model(settings, "matting", "subject")
    except InvalidRequest:
        return (
            None,
            "faces",
            "subject person: this server has no person model ([defaults] matting); faces were followed",
        )
    folder = vision_weights(settings, spec)
    if folder is None:
        hint = vision_install_hint(spec)
        note = f"subject person: the person model {spec.name} is not installed ({hint}); faces were followed"
        return None, "faces", note
    from videoapi.vision.masks import PersonMatter, load_model, model_device

    device = model_device(spec, settings)
    matter = PersonMatter(load_model(spec, folder, device), spec, folder, device)

    def people(frame: np.ndarray) -> list[Box]:
        return person_boxes(matter([np.ascontiguousarray(frame[:, :, ::-1])])[0])  # the model reads RGB

    return people, f"person model {spec.name}", None


def describe_reframe(req: ReframeRequest, sources: Sequence[Source], result: dict[str, Any]) -> None:
    """Add `notes` (no subject, centred) and `camera` (the path's bounds and what was seen) to the result."""
    if isinstance(req, TrackedReframe):
        result["notes"] = list(req.notes)
        result["camera"] = dict(req.camera)
    else:
        result["notes"] = []
