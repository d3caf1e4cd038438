"""One downscaled decode of a video that finds its shot boundaries (PySceneDetect) and, when asked,
the faces on sampled frames: what `analyze/scenes` and `edit/reframe` read from an input.

ffmpeg decodes and scales (threaded C); Python sees only small frames, one at a time, so a long
video costs time, never memory. The face detector is scikit-image's LBP cascade (its XML ships in
the wheel): OpenCV 5 wheels no longer carry `CascadeClassifier` nor its Haar files.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import av
import cv2
import numpy as np

from videoapi.errors import InvalidRequest
from videoapi.media.ffmpeg import stream_frames
from videoapi.media.probe import MediaInfo
from videoapi.media.safety import input_args

Detector = Literal["content", "adaptive"]
DEFAULT_THRESHOLDS: dict[str, float] = {"content": 27.0, "adaptive": 3.0}
"""PySceneDetect's defaults: mean HSV change (0..255) for `content`, the ratio to the rolling average for `adaptive`."""
MAX_THRESHOLDS: dict[str, float] = {"content": 255.0, "adaptive": 50.0}
SCENE_WIDTH = 256
"""Width of the frames the cut detector reads: cuts survive downscaling, and PySceneDetect's own
auto-downscale aims at about this width."""
FACE_WIDTH = 320
"""Width of the frames faces are looked for on (a face under about 1/8 of the height is not followed)."""
FACE_SAMPLES_PER_S = 2.0
"""Frames a second the face detector sees; the camera path interpolates between them."""
MIN_FACE_FRACTION = 1 / 7
"""Smallest face, as a fraction of the frame height, the detector looks for (smaller ones cost time and
are rarely the subject)."""
MAX_FACE_FRACTION = 0.6
"""Biggest face looked for: each scale costs a scan of the frame, and a closer face overflows any crop."""


@dataclass(frozen=True)
class Box:
    """A detection in fractions of the frame (0..1): centre and size."""

    cx: float
    cy: float
    w: float
    h: float


@dataclass
class Analysis:
    """What one pass over the frames found."""

    frames: int = 0
    cuts: list[int] = field(default_factory=list)
    """Indices of the frames that start a new shot (never 0), ascending."""
    faces: dict[int, list[Box]] = field(default_factory=dict)
    """Sampled frame index -> the subjects on it, biggest first: faces, or people when a person model
    is the detector (empty list: sampled, none found)."""


SubjectDetector = Callable[[np.ndarray], list[Box]]
"""Subjects on one sampled frame (BGR, `FACE_WIDTH` wide), biggest first, in fractions of the frame."""


def person_boxes(probability: np.ndarray, threshold: float = 0.5, min_fraction: float = 0.005) -> list[Box]:
    """The person of a person-probability map (0..1 per pixel) as one box: the centroid of the pixels
    above `threshold` and their extent; none when they cover less than `min_fraction` of the frame."""
    mask = probability > threshold
    if mask.mean() < min_fraction:
        return []
    height, width = mask.shape
    ys, xs = np.nonzero(mask)
    return [
        Box(
            cx=float(xs.mean() + 0.5) / width,
            cy=float(ys.mean() + 0.5) / height,
            w=float(xs.max() - xs.min() + 1) / width,
            h=float(ys.max() - ys.min() + 1) / height,
        )
    ]


def check_threshold(detector: Detector, threshold: float | None) -> None:
    """A 422 naming `threshold` when it is outside what `detector` understands."""
    if threshold is None:
        return
    top = MAX_THRESHOLDS[detector]
    if not 0 < threshold <= top:
        raise InvalidRequest(
            f"threshold {threshold:g} is out of range for the {detector} detector (0 < threshold <= {top:g})",
            code="invalid_request",
            errors=[{"field": "threshold", "message": f"must be in (0, {top:g}] for detector {detector}"}],
        )


def require_video(media: MediaInfo, what: str) -> None:
    if media.video is None or media.is_image:
        raise InvalidRequest(
            f"the input has no video to {what}",
            code="input_not_video",
            errors=[{"field": "input", "message": f"the input has no video to {what}; give a video"}],
        )


def analysis_timeout(media: MediaInfo) -> float:
    """Seconds the analysis pass may take: a downscaled decode runs faster than real time even on a busy
    machine, so this only stops a pathological input (the task's own time limit still applies)."""
    return 60.0 + 2.0 * media.duration_s


def frame_size(media: MediaInfo, width: int) -> tuple[int, int]:
    """The even (width, height) a frame is scaled to for analysis, keeping the aspect ratio."""
    assert media.video is not None
    w = min(width, media.video.width) // 2 * 2
    h = max(2, round(w * media.video.height / media.video.width / 2) * 2)
    return max(2, w), h


def make_detector(detector: Detector, threshold: float | None, min_scene_frames: int) -> Any:
    from scenedetect import AdaptiveDetector, ContentDetector  # imports OpenCV: only on the worker

    value = DEFAULT_THRESHOLDS[detector] if threshold is None else threshold
    if detector == "adaptive":
        return AdaptiveDetector(adaptive_threshold=value, min_scene_len=min_scene_frames)
    return ContentDetector(threshold=value, min_scene_len=min_scene_frames)


@cache
def _face_cascade() -> Any:
    from skimage.data import lbp_frontal_face_cascade_filename
    from skimage.feature import Cascade

    return Cascade(lbp_frontal_face_cascade_filename())


def detect_faces(gray: np.ndarray) -> list[Box]:
    """Frontal faces on a small grayscale frame, biggest first, as fractions of the frame."""
    h, w = gray.shape
    smallest = max(16, int(h * MIN_FACE_FRACTION))
    biggest = max(smallest, int(h * MAX_FACE_FRACTION))
    found = _face_cascade().detect_multi_scale(
        img=gray, scale_factor=1.25, step_ratio=1, min_size=(smallest, smallest), max_size=(biggest, biggest)
    )
    boxes = [Box((d["c"] + d["width"] / 2) / w, (d["r"] + d["height"] / 2) / h, d["width"] / w, d["height"] / h)
             for d in found]  # fmt: skip
    return _merge(sorted(boxes, key=lambda b: -b.w * b.h))


def _merge(boxes: list[Box]) -> list[Box]:
    """Drop detections whose centre lies inside a bigger one (the cascade reports a face at several scales)."""
    kept: list[Box] = []
    for box in boxes:
        if not any(abs(box.cx - k.cx) < k.w / 2 and abs(box.cy - k.cy) < k.h / 2 for k in kept):
            kept.append(box)
    return kept


async def analyse(
    src: Path,
    media: MediaInfo,
    *,
    detector: Detector = "content",
    threshold: float | None = None,
    min_scene_s: float = 0.5,
    faces: bool = False,
    subjects: SubjectDetector | None = None,
    samples_per_s: float = FACE_SAMPLES_PER_S,
    timeout_s: float,
    max_pixels: int | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Analysis:
    """Decode `src` once, downscaled, and run the cut detector on every frame (and, on `samples_per_s`
    frames a second, the face detector when `faces`, or `subjects` when given)."""
    require_video(media, "analyse")
    assert media.video is not None
    fps = media.video.fps or 25.0
    sampled = faces or subjects is not None
    width, height = frame_size(media, FACE_WIDTH if sampled else SCENE_WIDTH)
    # Every decoded frame, none dropped nor duplicated, so that index n is the input's frame n.
    # Skipping the deblocking filter speeds the decode by a third; its artefacts vanish in the downscale.
    args = ["-an", "-sn", "-dn", "-threads", "0", "-skip_loop_filter", "all", *input_args(src), "-map", "0:v:0"]
    args += ["-vf", f"scale={width}:{height}:flags=area", "-fps_mode", "passthrough"]
    args += ["-pix_fmt", "bgr24", "-f", "rawvideo", "pipe:1"]
    cut_detector = make_detector(detector, threshold, max(1, round(min_scene_s * fps)))
    step = max(1, round(fps / samples_per_s))
    expected = max(1, round(media.duration_s * fps))
    result = Analysis()
    batch: list[np.ndarray] = []

    def consume(frames: list[np.ndarray], first: int) -> None:
        from scenedetect import FrameTimecode

        for k, frame in enumerate(frames):
            n = first + k
            # Faces need the bigger frame; cuts do not, and the detector costs per pixel.
            small = (
                frame
                if width <= SCENE_WIDTH
                else cv2.resize(frame, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
            )
            result.cuts += [c.frame_num for c in cut_detector.process_frame(FrameTimecode(n, fps), small)]
            if sampled and n % step == 0:
                if subjects is not None:
                    result.faces[n] = subjects(frame)
                else:
                    gray = np.ascontiguousarray(frame[:, :, 1])  # green: close to luma, and no conversion
                    result.faces[n] = detect_faces(gray)

    # Frames go to a worker thread in batches: the event loop (heartbeat, cancel) stays free.
    async for raw in stream_frames(args, width * height * 3, timeout_s=timeout_s, max_pixels=max_pixels):
        batch.append(np.frombuffer(raw, np.uint8).reshape(height, width, 3))
        if len(batch) == 16:
            await asyncio.to_thread(consume, batch, result.frames)
            result.frames += len(batch)
            batch = []
            if on_progress is not None:
                on_progress(min(result.frames / expected, 1.0))
    if batch:
        await asyncio.to_thread(consume, batch, result.frames)
        result.frames += len(batch)
    if result.frames:
        from scenedetect import FrameTimecode

        result.cuts += [c.frame_num for c in cut_detector.post_process(FrameTimecode(result.frames - 1, fps))]
    result.cuts = sorted({c for c in result.cuts if 0 < c < result.frames})
    return result


def keyframe_times(src: Path) -> list[float]:
    """Presentation times of the video's keyframes, read from the packets (nothing is decoded)."""
    times: list[float] = []
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        start = stream.start_time or 0
        for packet in container.demux(stream):
            if packet.is_keyframe and packet.pts is not None and packet.time_base is not None:
                times.append(float((packet.pts - start) * packet.time_base))
    return sorted(times)
