"""analyze/scenes: the shots of a video (PySceneDetect on downscaled frames), a thumbnail of each, and
with `split` each shot as a clip of its own, all made in one ffmpeg pass after the detection pass.

A clip that starts on a keyframe is a stream copy (no quality loss, no encode); any other starts
mid-GOP, where a copy would begin at the previous keyframe, so it is re-encoded from its exact first
frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any

from msgspec import Meta

from videoapi.assets.schemas import InputRef
from videoapi.editing.analysis import (
    DEFAULT_THRESHOLDS,
    Detector,
    analyse,
    analysis_timeout,
    check_threshold,
    keyframe_times,
    require_video,
)
from videoapi.editing.plan import even, normalise_filter
from videoapi.editing.schemas import Dimension
from videoapi.editing.source import Source
from videoapi.editing.thumbnails import ENCODERS, grab
from videoapi.errors import InvalidRequest
from videoapi.media.encoding import COPYABLE, container_flags, encode_args
from videoapi.media.plan import Plan
from videoapi.media.probe import MediaInfo
from videoapi.media.safety import input_args
from videoapi.outputs.schemas import CommonOptions
from videoapi.settings import Settings

MAX_SCENES = 100
"""Scenes one task reports (each is a thumbnail asset); more is a failed task naming the knobs."""
DEFAULT_THUMBNAIL_WIDTH = 320


class ScenesRequest(CommonOptions, forbid_unknown_fields=True, kw_only=True):
    """Shot boundaries of a video: `result.scenes` lists each shot (`start_s`, `end_s`, a thumbnail of
    its middle frame); with `split`, each shot is also a clip asset. The first thumbnail is the task's
    main output, and `result.outputs` lists every stored file."""

    input: InputRef
    detector: Detector = "content"
    """`content`: a cut is a jump in the mean HSV difference between frames; `adaptive`: a jump
    relative to the neighbouring frames (steadier on fast camera motion)."""
    threshold: Annotated[float, Meta(gt=0, le=255)] | None = None
    """Cut sensitivity, lower finds more: content 0 < t <= 255 (default 27), adaptive 0 < t <= 50 (default 3)."""
    min_scene_s: Annotated[float, Meta(ge=0, le=60)] = 0.5
    """Shortest scene; a cut closer than this to the previous one is ignored."""
    split: bool = False
    """Also store each scene as a clip (MP4)."""
    thumbnail_width: Dimension | None = None
    """Width of each thumbnail; default the video's width, at most 320."""


class DetectedScenes(ScenesRequest, forbid_unknown_fields=True, kw_only=True):
    """The request with what the worker's detection pass found (never sent by a client)."""

    cuts: list[int]
    frames: int
    keyframes_s: list[float]


@dataclass(frozen=True)
class Scene:
    start_frame: int
    end_frame: int
    """Exclusive."""
    start_s: float
    end_s: float
    copy: bool
    """The clip is a stream copy: the scene starts on a keyframe and the codecs fit MP4."""


def check_scenes(req: ScenesRequest, settings: Settings) -> None:
    check_threshold(req.detector, req.threshold)


def scenes_of(req: ScenesRequest, media: MediaInfo) -> list[Scene]:
    """The scenes of the input: from the detected cuts on the worker, one scene at submission."""
    assert media.video is not None
    fps = media.video.fps or 25.0
    if isinstance(req, DetectedScenes):
        frames, cuts, keyframes = req.frames, req.cuts, req.keyframes_s
    else:
        frames, cuts, keyframes = max(1, round(media.duration_s * fps)), [], [0.0]
    bounds = [0, *cuts, frames]
    audio = media.audio.codec if media.audio else None
    video_ok, audio_ok = COPYABLE["mp4"]
    copyable = media.video.codec in video_ok and (audio is None or audio in audio_ok)
    scenes = []
    for start, end in pairwise(bounds):
        start_s = start / fps
        on_keyframe = any(abs(k - start_s) < 0.5 / fps for k in keyframes)
        end_s = media.duration_s if end == frames else end / fps
        scenes.append(Scene(start, end, round(start_s, 6), round(min(end_s, media.duration_s), 6),
                            copyable and on_keyframe))  # fmt: skip
    return scenes


def plan_scenes(req: ScenesRequest, sources: Sequence[Source], out_dir: Path, settings: Settings) -> Plan:
    check_scenes(req, settings)
    src, media = sources[0].path, sources[0].media
    require_video(media, "find scenes in")
    assert media.video is not None
    scenes = scenes_of(req, media)
    if len(scenes) > MAX_SCENES or (req.split and len(scenes) > settings.editing.max_inputs):
        limit = min(MAX_SCENES, settings.editing.max_inputs) if req.split else MAX_SCENES
        raise InvalidRequest(
            f"the input has {len(scenes)} scenes; a task reports at most {limit}"
            + (" when it splits (editing.max_inputs)" if req.split else ""),
            code="limit_exceeded",
            errors=[{"field": "threshold", "message": "raise threshold or min_scene_s to find fewer scenes"}],
        )
    fps = media.video.fps or 25.0
    width = even(req.thumbnail_width or min(DEFAULT_THUMBNAIL_WIDTH, media.video.width))
    # The middle frame of each scene: past a dissolve into it, and never the last frame of the previous shot.
    times = [((s.start_frame + s.end_frame - 1) // 2) / fps for s in scenes]
    inputs, chains, heads = grab(src, times)
    chains += [f"{head},scale={width}:-2[o{i}]" for i, head in enumerate(heads)]
    args = [*inputs, "-filter_complex", ";".join(chains)]
    thumbs = [out_dir / f"scene-{i:03d}.jpg" for i in range(len(scenes))]
    for i, out in enumerate(thumbs):
        args += ["-map", f"[o{i}]", *ENCODERS["jpeg"], "-frames:v", "1", "-update", "1", "-f", "image2", str(out)]
    clips: list[Path] = []
    if req.split:
        first = inputs.count("-i")
        for i, scene in enumerate(scenes):
            clip = out_dir / f"scene-{i:03d}.mp4"
            args += _clip_args(src, media, scene, first + i, clip, fps)
            clips.append(clip)
    return Plan(
        args,
        thumbs[0],
        None,
        "image/jpeg",
        media.duration_s if req.split else 0.0,
        extra_outputs=[(t, "image/jpeg") for t in thumbs[1:]] + [(c, "video/mp4") for c in clips],
    )


def _clip_args(src: Path, media: MediaInfo, scene: Scene, index: int, out: Path, fps: float) -> list[str]:
    duration = scene.end_s - scene.start_s
    maps = ["-map", f"{index}:v:0", "-map", f"{index}:a:0?"]
    if scene.copy:
        # Seeking to a keyframe with stream copy starts exactly there.
        head = ["-ss", f"{scene.start_s:.6f}", "-t", f"{duration:.6f}", *input_args(src)]
        return [*head, *maps, "-c", "copy", "-avoid_negative_ts", "make_zero", *container_flags("mp4", out)]
    # A quarter frame early: the first kept frame is the scene's, whatever the rounding of its time.
    head = ["-ss", f"{max(0.0, scene.start_s - 0.25 / fps):.6f}", "-t", f"{duration:.6f}", *input_args(src)]
    vf = ["-vf", v] if (v := normalise_filter(media)) else []
    frames = ["-frames:v", str(scene.end_frame - scene.start_frame)]
    return [*head, *maps, *vf, *frames, *encode_args("mp4", "medium"), *container_flags("mp4", out)]


async def with_detected_scenes(
    req: ScenesRequest, sources: Sequence[Source], work_dir: Path, settings: Settings
) -> DetectedScenes:
    """The request with the input's cuts and keyframes (the worker's detection pass)."""
    src, media = sources[0].path, sources[0].media
    found = await analyse(
        src,
        media,
        detector=req.detector,
        threshold=req.threshold,
        min_scene_s=req.min_scene_s,
        timeout_s=analysis_timeout(media),
        max_pixels=settings.limits.max_pixels,
    )
    keyframes = keyframe_times(src) if req.split else [0.0]
    fields = {name: getattr(req, name) for name in req.__struct_fields__}
    return DetectedScenes(**fields, cuts=found.cuts, frames=found.frames, keyframes_s=keyframes)


def describe_scenes(req: ScenesRequest, sources: Sequence[Source], result: dict[str, Any]) -> None:
    """Add `scenes` (times, thumbnail and clip of each) to a stored result, from the outputs in plan order."""
    scenes = scenes_of(req, sources[0].media)
    outputs = result.get("outputs") or [result]
    listed = []
    for i, scene in enumerate(scenes):
        thumb = outputs[i]
        entry: dict[str, Any] = {
            "index": i,
            "start_s": scene.start_s,
            "end_s": scene.end_s,
            "start_frame": scene.start_frame,
            "end_frame": scene.end_frame,
            "thumbnail_asset_id": thumb["asset_id"],
            "thumbnail_key": thumb["storage_key"],
        }
        if req.split:
            clip = outputs[len(scenes) + i]
            entry |= {"clip_asset_id": clip["asset_id"], "clip_key": clip["storage_key"], "clip_copied": scene.copy}
        listed.append(entry)
    result["scenes"] = listed
    result["detector"] = {"name": req.detector, "threshold": _threshold(req)}


def _threshold(req: ScenesRequest) -> float:
    return req.threshold if req.threshold is not None else DEFAULT_THRESHOLDS[req.detector]
